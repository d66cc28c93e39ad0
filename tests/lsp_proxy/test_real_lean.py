"""The proxy in front of a real ``lake serve`` on a tiny Lake project (needs a Lean toolchain).

Skipped automatically (tests/conftest.py) where ``lake`` is not on PATH.
"""
from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.lsp_proxy.client import Client

pytestmark = [pytest.mark.lean, pytest.mark.slow]

TEXT = "theorem foo (n : Nat) : n + 0 = n := by\n  sorry\n"
LEAN_TIMEOUT = 120


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    root.mkdir()
    (root / "lakefile.toml").write_text('name = "tiny"\ndefaultTargets = ["Tiny"]\n\n[[lean_lib]]\nname = "Tiny"\n')
    (root / "Tiny.lean").write_text(TEXT)
    return root


def uri_of(project: Path) -> str:
    return (project / "Tiny.lean").as_uri()


def proxy(project: Path, log: Path) -> list[str]:
    # No `--`: the proxy finds the lakefile and runs `lake serve` in the project root.
    return [sys.executable, "-m", "lsp_proxy", "--log-file", str(log), "--log-level", "DEBUG", "--cwd", str(project)]


def did_open(uri: str, text: str = TEXT) -> dict:
    return {"method": "textDocument/didOpen",
            "params": {"textDocument": {"uri": uri, "languageId": "lean4", "version": 1, "text": text}}}


def wait(id_: object, uri: str, version: int) -> dict:
    return {"id": id_, "method": "textDocument/waitForDiagnostics", "params": {"uri": uri, "version": version}}


def goal(id_: object, uri: str) -> dict:
    return {"id": id_, "method": "$/lean/plainGoal",
            "params": {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}}}


def diagnostics_in(messages: list[dict], uri: str) -> list[dict]:
    pubs = [m for m in messages if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri]
    return pubs[-1]["params"]["diagnostics"] if pubs else []


async def start(project: Path, log: Path) -> Client:
    client = await Client.start(proxy(project, log), cwd=project)
    reply = await client.handshake({"lean": {"silentDiagnosticSupport": True}})
    assert reply["result"]["serverInfo"]["name"] == "Lean 4 Server"
    return client


async def test_open_edit_goal_and_diagnostics(project, tmp_path):
    """Diagnostics, goals and edits flow through the proxy to and from real Lean."""
    uri = uri_of(project)
    client = await start(project, tmp_path / "p.log")
    client.send(did_open(uri))
    client.send(wait(1, uri, 1))
    _, before = await client.reply_to(1, LEAN_TIMEOUT)
    assert any("sorry" in d["message"] for d in diagnostics_in(before, uri))
    client.send(goal(2, uri))
    reply, _ = await client.reply_to(2, LEAN_TIMEOUT)
    assert reply["result"]["goals"] == ["n : Nat\n⊢ n + 0 = n"]
    client.send({"method": "textDocument/didChange", "params": {"textDocument": {"uri": uri, "version": 2},
                 "contentChanges": [{"range": {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 7}},
                                     "text": "simp"}]}})
    client.send(wait(3, uri, 2))
    _, before = await client.reply_to(3, LEAN_TIMEOUT)
    assert not [d for d in diagnostics_in(before, uri) if d.get("severity") in (1, 2)]
    assert await client.shutdown(LEAN_TIMEOUT) == 0
    assert await client.stderr() == b""


async def replies_of(argv: list[str], project: Path) -> list[bytes]:
    uri = uri_of(project)
    client = await Client.start(argv, cwd=project)
    await client.handshake()
    client.send(did_open(uri))
    client.send(wait(1, uri, 1))
    await client.reply_to(1, LEAN_TIMEOUT)
    out = []
    for request in ([goal(10, uri), {"id": 11, "method": "textDocument/hover", "params": {
            "textDocument": {"uri": uri}, "position": {"line": 0, "character": 9}}}, goal("s", uri)]):
        client.send(request)
        await client.reply_to(request["id"], LEAN_TIMEOUT)
        out.append(client.raw[-1])
    assert await client.shutdown(LEAN_TIMEOUT) == 0
    return out


async def test_replies_byte_identical_to_direct(project, tmp_path):
    """Lean's replies (numeric and string ids, Unicode payloads) arrive through the proxy byte for byte."""
    import shutil

    direct = await replies_of([shutil.which("lake") or "lake", "serve"], project)
    proxied = await replies_of(proxy(project, tmp_path / "p.log"), project)
    assert proxied == direct


async def test_lean_killed_restarts_and_reopens(project, tmp_path):
    """Killing Lean mid-session: the proxy restarts it, re-opens the document, goals work again."""
    uri = uri_of(project)
    log = tmp_path / "p.log"
    client = await start(project, log)
    client.send(did_open(uri))
    client.send(wait(1, uri, 1))
    await client.reply_to(1, LEAN_TIMEOUT)
    (pid,) = map(int, re.findall(r"started Lean server pid (\d+)", log.read_text()))
    os.killpg(pid, signal.SIGKILL)
    client.send(goal(2, uri))
    first, _ = await client.reply_to(2, LEAN_TIMEOUT)
    if "error" in first:  # the request reached the dying server
        client.send(goal(3, uri))
        first, _ = await client.reply_to(3, LEAN_TIMEOUT)
    assert first["result"]["goals"] == ["n : Nat\n⊢ n + 0 = n"]
    assert len(re.findall(r"started Lean server pid", log.read_text())) == 2
    assert await client.shutdown(LEAN_TIMEOUT) == 0


async def test_cancel_gets_exactly_one_reply(project, tmp_path):
    """A cancelled request gets exactly one reply (result or -32800) through the proxy."""
    uri = uri_of(project)
    client = await start(project, tmp_path / "p.log")
    client.send(did_open(uri))
    client.send({"id": 5, "method": "textDocument/documentSymbol", "params": {"textDocument": {"uri": uri}}})
    client.send({"method": "$/cancelRequest", "params": {"id": 5}})
    reply, _ = await client.reply_to(5, LEAN_TIMEOUT)
    assert "result" in reply or reply["error"]["code"] == -32800
    client.send(wait(6, uri, 1))
    _, between = await client.reply_to(6, LEAN_TIMEOUT)
    assert not [m for m in between if m.get("id") == 5]
    assert await client.shutdown(LEAN_TIMEOUT) == 0


async def test_lean_does_not_outlive_the_proxy(project, tmp_path):
    """SIGTERM to the proxy takes down lake serve and the lean --server it started."""
    log = tmp_path / "p.log"
    client = await start(project, log)
    (pid,) = map(int, re.findall(r"started Lean server pid (\d+)", log.read_text()))
    client.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(client.proc.wait(), 30)
    for _ in range(100):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("processes of the Lean server's group are still alive")
