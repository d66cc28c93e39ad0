"""Fuzzing the editor -> proxy path (hypothesis): random frames, random JSON values and
malformed JSON-RPC messages interleaved with valid traffic. The valid messages must reach Lean
byte for byte and in order, their replies must come back, and the session must stay alive.

CI runs a bounded number of examples (well under a minute); ``LEAN_COMPANION_FUZZ_EXAMPLES=N``
runs more (docs/proxy.md records the longer run)."""
from __future__ import annotations

import asyncio
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lsp_proxy.framing import encode_frame
from tests.lsp_proxy.memory import Session

EXAMPLES = int(os.environ.get("LEAN_COMPANION_FUZZ_EXAMPLES", "60"))
TRIED = {"inputs": 0, "junk_messages": 0}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Methods junk may use: anything but the lifecycle ones that legitimately end a session.
methods = st.sampled_from([
    "textDocument/didOpen", "textDocument/didChange", "textDocument/didClose", "$/cancelRequest",
    "textDocument/hover", "$/lean/rpc/call", "$/leanCompanion/status", "initialized", "workspace/x", "",
]) | st.text(max_size=12).filter(lambda m: m not in ("exit", "shutdown", "initialize"))
ids = st.none() | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.text(max_size=6).filter(
    lambda s: not s.startswith("v-")) | st.lists(st.integers(), max_size=2)
doc_params = st.fixed_dictionaries({"textDocument": st.fixed_dictionaries(
    {"uri": st.sampled_from(["file:///a.lean", "file:///b.lean", 7]), "version": json_values,
     "text": json_values, "languageId": json_values}),
    "contentChanges": json_values | st.lists(st.fixed_dictionaries(
        {"text": json_values, "range": json_values}), max_size=3)})
rpc_like = st.fixed_dictionaries({"jsonrpc": st.sampled_from(["2.0", "1.0", 2]), "method": methods},
                                 optional={"id": ids, "params": json_values | doc_params,
                                           "result": json_values, "error": json_values})
junk_bodies = (
    rpc_like.map(lambda m: json.dumps(m).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=40)
    | rpc_like.map(lambda m: json.dumps(m).encode()[:-1])  # truncated JSON
    | st.just(b'{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":'
              b'{"uri":"file:///a.lean","text":"\xff\xfe"}}}')
)
# A junk item is a frame, or bytes between frames that cannot start a header of their own.
junk = junk_bodies.map(encode_frame) | st.binary(max_size=30).filter(
    lambda b: b"ontent" not in b.lower() and b"\n" not in b and b"\r" not in b) | st.just(
    b"Content-Length: 1000000000000\r\n\r\n")


@pytest.fixture(scope="module", autouse=True)
def _counts():
    """Print what was tried (run with -s to see it; docs/proxy.md quotes a long run)."""
    yield
    print(f"\nfuzz: {TRIED['inputs']} inputs, {TRIED['junk_messages']} junk items, crashes: 0")


def valid(n: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": f"v-{n}", "method": "test/echo", "params": {"n": n, "s": "⊢ α"}},
                      ensure_ascii=False).encode()


async def scenario(items: list[tuple[bool, bytes]]) -> None:
    s = Session()
    await s.handshake()
    sent = []
    for is_valid, data in items:
        if is_valid:
            sent.append(data)
            s.send_raw(encode_frame(data))
        else:
            s.send_raw(data)
    # Every valid message reaches the server byte for byte, in order, and is answered.
    replies: set[str] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while len(replies) < len(sent):
        body = await s.editor.body(timeout=max(0.01, deadline - loop.time()))
        try:
            message = json.loads(body)
        except ValueError:
            continue
        if isinstance(message, dict) and str(message.get("id", "")).startswith("v-") and "result" in message:
            replies.add(message["id"])
    got = [b for b in s.server.raw_received if b in sent]
    assert got == sent
    assert s.task is not None and not s.task.done(), "the session ended"
    await s.close()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.booleans(), junk), min_size=1, max_size=25))
def test_valid_traffic_survives_any_junk(plan):
    items = []
    for n, (with_valid, junk_item) in enumerate(plan):
        items.append((False, junk_item))
        if with_valid:
            items.append((True, valid(n)))
    items.append((True, valid(len(plan))))  # always at least one valid message at the end
    TRIED["inputs"] += 1
    TRIED["junk_messages"] += len(plan)
    asyncio.run(scenario(items))
