"""Lean-facing defects found with real Lean 4.35 (prelude files), each pinned by a test that
drives the real ``lean --server`` (tests/conftest.py's ``real_lean`` fixture; skipped where it
was not built) through the bare proxy or the headless LeanClient."""
from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import pytest

from lsp_proxy.headless import start_lean
from tests.lsp_proxy.client import Client, proxy_argv

pytestmark = [pytest.mark.real_lean]

TIMEOUT = 60
OK_TEXT = "prelude\ninductive T where | a\ndef x : T := T.a\n"
BAD_TEXT = "prelude\ninductive T where | a\ndef x : T := y\ndef z : T := w\n"


def did_open(uri: str, text: str, version: int = 1) -> dict:
    return {"method": "textDocument/didOpen",
            "params": {"textDocument": {"uri": uri, "languageId": "lean4", "version": version, "text": text}}}


def wait(id_: object, uri: str, version: int = 1) -> dict:
    return {"id": id_, "method": "textDocument/waitForDiagnostics", "params": {"uri": uri, "version": version}}


def started(log: Path) -> list[int]:
    return [int(p) for p in re.findall(r"started Lean server pid (\d+)", log.read_text())]


async def proxied(real_lean: Path, folder: Path, log: Path, capabilities: dict | None = None) -> Client:
    client = await Client.start(proxy_argv(log, str(real_lean), "--server"), cwd=folder)
    reply = await client.handshake(capabilities or {})
    assert reply["result"]["serverInfo"]["name"] == "Lean 4 Server"
    return client


async def test_rpc_session_id_is_kept_as_lean_gives_it_and_kept_alive(real_lean, tmp_path):
    """rpc_call works against real Lean (its sessionId is a string) and the keep-alive holds the
    session past Lean's 30 s expiry without killing the watchdog."""
    uri = (tmp_path / "A.lean").as_uri()
    client = await start_lean([str(real_lean), "--server"], tmp_path)
    try:
        client.rpc_keepalive_period = 4.0
        await client.open(uri, BAD_TEXT, private=False)
        await client.wait_until_done(uri, 1, timeout=TIMEOUT)
        result = await client.rpc_call(uri, 0, 0, "Lean.Widget.getInteractiveDiagnostics", {}, timeout=TIMEOUT)
        assert len(result) == 2
        session = client.rpc_session_id(uri)
        assert isinstance(session, str)
        await asyncio.sleep(36)  # longer than Lean's RPC session timeout (30 s)
        assert client.connection.returncode is None
        again = await client.rpc_call(uri, 0, 0, "Lean.Widget.getInteractiveDiagnostics", {}, timeout=TIMEOUT)
        assert again == result
        assert client.rpc_session_id(uri) == session  # no -32900 reconnect was needed
    finally:
        assert await client.connection.shutdown(timeout=TIMEOUT) == 0


async def test_wait_until_done_then_diagnostics_sees_the_final_publish(real_lean, tmp_path):
    """Real Lean sends processing: [] before the version's final publishDiagnostics: after
    wait_until_done the final list is there (not the early empty one)."""
    uri = (tmp_path / "A.lean").as_uri()
    client = await start_lean([str(real_lean), "--server"], tmp_path)
    try:
        await client.open(uri, BAD_TEXT, private=False)
        await client.wait_until_done(uri, 1, timeout=TIMEOUT)
        assert sorted(d.message for d in client.diagnostics(uri)) == ["Unknown identifier `w`",
                                                                     "Unknown identifier `y`"]
        version = await client.change(uri, OK_TEXT + "def q : T := nope\n")
        await client.wait_until_done(uri, version, timeout=TIMEOUT)
        assert [d.message for d in client.diagnostics(uri)] == ["Unknown identifier `nope`"]
        assert client.diagnostics_arrived(uri, version)
    finally:
        await client.connection.shutdown(timeout=TIMEOUT)


async def test_editor_error_reply_with_non_string_message_does_not_kill_lean(real_lean, tmp_path):
    """An editor error reply whose message is an object would make Lean's watchdog exit: the
    proxy repairs it, and the same Lean process keeps serving."""
    log = tmp_path / "p.log"
    uri = (tmp_path / "A.lean").as_uri()
    client = await proxied(real_lean, tmp_path, log)
    request, _ = await client.until(lambda m: m.get("method") == "client/registerCapability", TIMEOUT)
    client.send({"id": request["id"], "error": {"code": -32603, "message": {"not": "a string"}}})
    client.send(did_open(uri, BAD_TEXT))
    client.send(wait(1, uri))
    reply, _ = await client.reply_to(1, TIMEOUT)
    assert "result" in reply
    assert len(started(log)) == 1, "Lean was restarted: the bad reply killed it"
    assert await client.shutdown(TIMEOUT) == 0


async def test_refresh_requests_answered_for_editors_without_support(real_lean, tmp_path):
    """Lean asks for inlayHint/semanticTokens refreshes every ~0.5 s while elaborating; an
    editor that did not declare refreshSupport never sees them (the proxy answers null)."""
    log = tmp_path / "p.log"
    uri = (tmp_path / "A.lean").as_uri()
    client = await proxied(real_lean, tmp_path, log)
    client.send(did_open(uri, OK_TEXT))
    client.send(wait(1, uri))
    await client.reply_to(1, TIMEOUT)
    await asyncio.sleep(3)
    client.send(wait(2, uri))
    _, between = await client.reply_to(2, TIMEOUT)
    seen = [m for m in between if str(m.get("method", "")).endswith("/refresh")]
    assert seen == []
    assert len(started(log)) == 1
    assert await client.shutdown(TIMEOUT) == 0


async def collect_server_requests(client: Client, seconds: float) -> list[object]:
    """Answer Lean's server->client requests for ``seconds``; returns their ids."""
    ids: list[object] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            message = await client.message(left)
        except asyncio.TimeoutError:
            break
        if "method" in message and "id" in message:
            ids.append(message["id"])
            client.send({"id": message["id"], "result": None})
    return ids


async def test_server_request_ids_are_never_reused_after_a_restart(real_lean, tmp_path):
    """A restarted Lean numbers its requests from 0 again; the editor never sees an id twice,
    and its replies still reach the new server (which keeps running)."""
    log = tmp_path / "p.log"
    uri = (tmp_path / "A.lean").as_uri()
    refresh = {"workspace": {"inlayHint": {"refreshSupport": True}, "semanticTokens": {"refreshSupport": True}}}
    client = await proxied(real_lean, tmp_path, log, refresh)
    client.send(did_open(uri, OK_TEXT))
    first = await collect_server_requests(client, 3)
    assert len(first) >= 3
    (pid,) = started(log)
    os.killpg(pid, signal.SIGKILL)
    second = await collect_server_requests(client, 5)
    assert len(started(log)) == 2
    assert len(second) >= 3
    everything = [repr(i) for i in first + second]
    assert len(set(everything)) == len(everything), everything
    client.send(wait(1, uri))
    reply, _ = await client.reply_to(1, TIMEOUT)
    assert "result" in reply
    assert len(started(log)) == 2
    assert await client.shutdown(TIMEOUT) == 0


def accumulate(publishes: list[dict]) -> list[str]:
    """The diagnostics a client ends with, applying isIncremental (append) semantics."""
    current: list[str] = []
    for params in publishes:
        messages = [d["message"] for d in params["diagnostics"]]
        current = current + messages if params.get("isIncremental") else messages
    return sorted(current)


async def publishes_of(client: Client, uri: str) -> list[dict]:
    client.send(did_open(uri, BAD_TEXT))
    client.send(wait(1, uri))
    _, before = await client.reply_to(1, TIMEOUT)
    return [m["params"] for m in before if m.get("method") == "textDocument/publishDiagnostics"]


async def test_incremental_diagnostics_pass_through_per_client(real_lean, tmp_path):
    """A client declaring lean.incrementalDiagnosticSupport gets Lean's isIncremental publishes
    unchanged through the proxy; one that does not gets full lists. Both end with the same set."""
    uri = (tmp_path / "A.lean").as_uri()
    caps = {"lean": {"incrementalDiagnosticSupport": True}}
    direct = await Client.start([str(real_lean), "--server"], cwd=tmp_path)
    await direct.handshake(caps)
    direct_publishes = await publishes_of(direct, uri)
    assert await direct.shutdown(TIMEOUT) == 0
    with_support = await proxied(real_lean, tmp_path, tmp_path / "a.log", caps)
    incremental = await publishes_of(with_support, uri)
    assert await with_support.shutdown(TIMEOUT) == 0
    without = await proxied(real_lean, tmp_path, tmp_path / "b.log")
    full = await publishes_of(without, uri)
    assert await without.shutdown(TIMEOUT) == 0
    assert any("isIncremental" in p for p in direct_publishes)
    assert [("isIncremental" in p) for p in incremental] == [("isIncremental" in p) for p in direct_publishes]
    assert not any(p.get("isIncremental") for p in full)
    expected = ["Unknown identifier `w`", "Unknown identifier `y`"]
    assert accumulate(direct_publishes) == accumulate(incremental) == accumulate(full) == expected
