"""End to end through ``python -m lsp_proxy -- python -m tests.lean_double ...`` (the Lean test double)."""
from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest

from tests.lsp_proxy.client import REPO, Client, proxy_argv

if not (REPO / "tests" / "lean_double" / "__main__.py").exists():
    pytest.skip("the Lean test double is not available", allow_module_level=True)

SCENARIO = str(REPO / "tests" / "lean_double" / "scenarios" / "basic.json")
URI = "file:///w/A.lean"
TEXT = "theorem foo (n : Nat) : n + 0 = n := by\n  sorry\n"


def double(*flags: str) -> list[str]:
    return [sys.executable, "-m", "tests.lean_double", "--scenario", SCENARIO, "--elab-delay-ms", "0", *flags]


def did_open(text: str = TEXT, version: int = 1) -> dict:
    return {"method": "textDocument/didOpen",
            "params": {"textDocument": {"uri": URI, "languageId": "lean4", "version": version, "text": text}}}


def did_change(version: int, text: str) -> dict:
    return {"method": "textDocument/didChange",
            "params": {"textDocument": {"uri": URI, "version": version}, "contentChanges": [{"text": text}]}}


def wait_diags(id_: int, version: int) -> dict:
    return {"id": id_, "method": "textDocument/waitForDiagnostics", "params": {"uri": URI, "version": version}}


def plain_goal(id_: int, line: int, character: int) -> dict:
    return {"id": id_, "method": "$/lean/plainGoal",
            "params": {"textDocument": {"uri": URI}, "position": {"line": line, "character": character}}}


async def test_open_edit_goal_and_diagnostics(tmp_path):
    """Through the proxy: diagnostics for each version, goals at a sorry, edits take effect."""
    client = await Client.start(proxy_argv(tmp_path / "p.log", *double()))
    init = await client.handshake()
    assert init["result"]["serverInfo"]["name"] == "Lean 4 Server"
    client.send(did_open())
    client.send(wait_diags(1, 1))
    _, before = await client.reply_to(1)
    diags = [m for m in before if m.get("method") == "textDocument/publishDiagnostics"]
    assert "sorry" in diags[-1]["params"]["diagnostics"][0]["message"]
    client.send(plain_goal(2, 1, 2))
    goal, _ = await client.reply_to(2)
    assert goal["result"]["goals"] == ["n : Nat\n⊢ n + 0 = n"]
    client.send(did_change(2, TEXT.replace("sorry", "simp")))
    client.send(wait_diags(3, 2))
    _, before = await client.reply_to(3)
    latest = [m for m in before if m.get("method") == "textDocument/publishDiagnostics"][-1]
    assert latest["params"]["version"] == 2 and latest["params"]["diagnostics"] == []
    assert await client.shutdown() == 0
    assert await client.stderr() == b""


async def scripted_session(argv: list[str]) -> list[bytes]:
    client = await Client.start(argv)
    await client.handshake()
    await client.until(lambda m: m.get("id") == "register_lean_watcher")
    client.send(did_open())
    client.send(wait_diags(1, 1))
    await client.reply_to(1)
    for version in range(2, 8):
        body = TEXT if version % 2 else TEXT.replace("sorry", "omega")
        client.send(did_change(version, body))
        client.send(wait_diags(10 + version, version))
        await client.reply_to(10 + version)
        client.send(plain_goal(20 + version, 1, 2))
        await client.reply_to(20 + version)
    client.send({"id": 99, "method": "textDocument/hover",
                 "params": {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 9}}})
    await client.reply_to(99)
    assert await client.shutdown() == 0
    return client.raw


async def test_payloads_and_ids_identical_to_direct(tmp_path):
    """The same session directly and through the proxy yields the same message bodies, byte for byte."""
    direct = await scripted_session(double())
    proxied = await scripted_session(proxy_argv(tmp_path / "p.log", *double()))
    assert len(direct) > 30
    assert sorted(proxied) == sorted(direct)
    replies = lambda raw: [b for b in raw if b'"method"' not in b]  # noqa: E731
    assert replies(proxied) == replies(direct)


async def test_server_crash_restarts_and_reopens(tmp_path):
    """The double exits (137) mid-session: the in-flight request gets an error, Lean is restarted
    and re-initialised, the document is re-opened at its latest version, goals work again."""
    log = tmp_path / "p.log"
    client = await Client.start(proxy_argv(log, *double("--crash-after", "7")))
    await client.handshake()  # messages 1, 2
    client.send(did_open())  # 3
    client.send(wait_diags(1, 1))  # 4
    await client.reply_to(1)
    client.send(plain_goal(2, 1, 2))  # 5
    await client.reply_to(2)
    client.send(did_change(2, TEXT.replace("foo", "bar")))  # 6
    client.send({"id": 3, "method": "textDocument/hover",  # 7: the double crashes
                 "params": {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 9}}})
    reply, _ = await client.reply_to(3)
    assert reply["error"]["code"] == -32801
    client.send(wait_diags(4, 2))
    _, before = await client.reply_to(4)
    assert all(m.get("id") != "register_lean_watcher" for m in before)
    client.send(plain_goal(5, 1, 2))
    goal, _ = await client.reply_to(5)
    assert goal["result"]["goals"] == ["n : Nat\n⊢ n + 0 = n"]
    assert len(re.findall(r"started Lean server pid", log.read_text())) == 2
    assert client.proc.stdin is not None
    client.proc.stdin.close()
    await asyncio.wait_for(client.proc.wait(), 10)
    assert await client.stderr() == b""


async def test_silent_server_is_stopped_and_restarted(tmp_path):
    """A server that closes its stdout but keeps running is stopped and replaced."""
    log = tmp_path / "p.log"
    client = await Client.start(proxy_argv(log, *double("--silent-eof-after", "6", "--silent-eof-mode", "hang")))
    await client.handshake()  # messages 1, 2
    client.send(did_open())  # 3
    client.send(wait_diags(1, 1))  # 4
    await client.reply_to(1)
    client.send(plain_goal(2, 1, 2))  # 5
    await client.reply_to(2)
    client.send(plain_goal(3, 1, 2))  # 6: the double closes stdout and hangs
    reply, _ = await client.reply_to(3, timeout=15)
    assert reply["error"]["code"] == -32801
    # The replacement gets initialize, initialized, didOpen, the watcher reply, then this (5th):
    client.send(plain_goal(4, 1, 2))
    goal, _ = await client.reply_to(4, timeout=15)
    assert goal["result"]["goals"] == ["n : Nat\n⊢ n + 0 = n"]
    assert "closed its output but is still running" in log.read_text()
    assert client.proc.stdin is not None
    client.proc.stdin.close()
    await asyncio.wait_for(client.proc.wait(), 10)


async def test_garbage_from_server_is_skipped(tmp_path):
    """Non-LSP bytes on the server's stdout are skipped; replies keep flowing."""
    log = tmp_path / "p.log"
    client = await Client.start(proxy_argv(log, *double("--garbage-after", "3")))
    await client.handshake()
    client.send(did_open())
    client.send(wait_diags(1, 1))
    await client.reply_to(1)
    client.send(plain_goal(2, 1, 2))
    assert (await client.reply_to(2))[0]["result"]["goals"]
    assert await client.shutdown() == 0
    assert "skipped" in log.read_text()


async def test_shuffled_replies_matched_by_id(tmp_path):
    """With replies in random order, every request gets exactly its own reply."""
    client = await Client.start(proxy_argv(tmp_path / "p.log", *double("--shuffle-replies", "--seed", "7")))
    await client.handshake()
    client.send(did_open())
    client.send(wait_diags(1, 1))
    await client.reply_to(1)
    for i in range(40):
        client.send(plain_goal(100 + i, 1, 2) if i % 2 else {
            "id": 100 + i, "method": "textDocument/hover",
            "params": {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 9}}})
    got = {}
    while len(got) < 40:
        msg = await client.message()
        if "method" not in msg:
            assert msg["id"] not in got
            got[msg["id"]] = msg
    order = list(got)
    assert order != sorted(order)
    for id_, msg in got.items():
        assert ("goals" in msg["result"]) == bool((id_ - 100) % 2)
    assert await client.shutdown() == 0


async def test_huge_diagnostics_pass_intact(tmp_path):
    """A multi-megabyte publishDiagnostics crosses the proxy unchanged."""
    client = await Client.start(proxy_argv(tmp_path / "p.log", *double("--huge-diagnostic-bytes", "3000000")))
    direct = await Client.start(double("--huge-diagnostic-bytes", "3000000"))
    bodies = []
    for c in (client, direct):
        await c.handshake()
        c.send(did_open())
        c.send(wait_diags(1, 1))
        _, before = await c.reply_to(1, timeout=30)
        big = [json.dumps(m, sort_keys=True) for m in before if m.get("method") == "textDocument/publishDiagnostics"]
        assert max(len(b) for b in big) > 3_000_000
        bodies.append(big)
        assert await c.shutdown() == 0
    assert bodies[0] == bodies[1]
