"""A long random session: every request gets exactly one reply and the double never breaks."""
from __future__ import annotations

import asyncio
import random
from collections import Counter

from tests.double.driver import Driver
from tests.lean_double import BASIC_SCENARIO

TEXTS = [
    "theorem swap (p q : Prop) : p ∧ q → q ∧ p := by\n  intro h\n  constructor\n  · exact h.2\n  · exact h.1\n",
    "theorem t (n : Nat) : n + 0 = n := by\n  simp\n\ntheorem u (n : Nat) : 0 + n = n := by\n  induction n\n",
    "import Foo\n\ntheorem c (a b : Nat) : a + b = b + a := by\n  exact?\n",
    "example : 2 + 2 = 4 := by decide\n-- 𝔽 comment\ntheorem s (n : Nat) : n + 0 = n := sorry\n",
]


async def test_random_session_answers_every_request_exactly_once():
    """Random opens, edits, closes, requests and cancellations with shuffled replies: one reply each."""
    rng = random.Random(20261123)
    d = await Driver.start("--elab-delay-ms", "15", "--per-decl-delay-ms", "3", "--shuffle-replies", "--seed", "5",
                           "--refresh-requests", "1", scenario=BASIC_SCENARIO)
    await d.initialize({"lean": {"rpcWireFormat": "v1"}})
    uris = [f"file:///r/{i}.lean" for i in range(3)]
    versions: dict[str, int] = {}
    sent: list[int | str] = []
    for step in range(160):
        await asyncio.sleep(rng.random() * 0.02)
        uri = rng.choice(uris)
        op = rng.random()
        if uri not in versions or op < 0.08:
            if uri in versions:
                await d.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
            versions[uri] = 1
            await d.open(uri, rng.choice(TEXTS))
        elif op < 0.3:
            versions[uri] += 1
            if rng.random() < 0.5:
                change = {"text": rng.choice(TEXTS)}
            else:
                a, b = rng.randrange(8), rng.randrange(8)
                change = {"range": {"start": {"line": min(a, b), "character": rng.randrange(30)},
                                    "end": {"line": max(a, b), "character": rng.randrange(30)}},
                          "text": rng.choice(["", "x", "  simp\n", "· ", "\n", "𝔽", "import Bar\n"])}
            await d.change(uri, versions[uri], [change])
        elif op < 0.45 and sent:
            await d.notify("$/cancelRequest", {"id": rng.choice(sent)})
        else:
            def at(uri: str = uri) -> dict:
                return {"textDocument": {"uri": uri}, "position": {"line": rng.randrange(8), "character": rng.randrange(40)}}
            whole = {"start": {"line": 0, "character": 0}, "end": {"line": 9, "character": 0}}
            method, params = rng.choice([
                ("$/lean/plainGoal", at()),
                ("$/lean/plainTermGoal", at()),
                ("textDocument/waitForDiagnostics", {"uri": uri, "version": versions[uri]}),
                ("textDocument/hover", at()),
                ("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": whole, "context": {"diagnostics": []}}),
                ("$/lean/rpc/connect", {"uri": uri}),
                ("textDocument/documentSymbol", {"textDocument": {"uri": uri}}),
            ])
            sent.append(await d.send_request(method, params, id_=100_000 + step if rng.random() < 0.5 else f"s{step}"))
    for uri in list(versions):
        await d.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert await d.shutdown(timeout=20) == 0
    replies = Counter(m["id"] for m in d.messages if "id" in m and ("result" in m or "error" in m))
    assert all(replies[rid] == 1 for rid in sent), [rid for rid in sent if replies[rid] != 1]
    codes = Counter(m["error"]["code"] for m in d.messages if "error" in m)
    results = sum(1 for m in d.messages if "result" in m and m.get("id") in sent)
    assert codes[-32800] >= 1 and results >= len(sent) // 3  # the mix really exercised both paths
    assert not d.undecodable
    assert "handler failed" not in await d.stderr_text()
