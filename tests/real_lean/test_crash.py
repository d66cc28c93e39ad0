"""Crashes with real Lean: a killed ``lean --worker`` (Lean's own recovery, which the proxies must
pass through unchanged) and a killed ``lean --server`` (the proxy restarts it)."""
from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from tests.lsp_client import LspClient, answer_null
from tests.real_lean.processes import lean_processes
from tests.real_lean.session import FILE_A, LEAN_CAPABILITIES, TIMEOUT, bare_proxy, isolated_env, serve, write_project

pytestmark = [pytest.mark.real_lean, pytest.mark.timeout(300)]

HOVER_AT = {"line": 13, "character": 8}  # `id_tt` in `#check id_tt`


def argv_for(kind: str, folder: Path, lean: Path) -> list[str]:
    server = [str(lean), "--server"]
    return server if kind == "direct" else (bare_proxy if kind == "bare" else serve)(folder, server)


async def opened(kind: str, folder: Path, lean: Path) -> tuple[LspClient, str]:
    root = write_project(folder / "proj")
    client = await LspClient.start(argv_for(kind, folder, lean), cwd=root, env=isolated_env(folder),
                                   answer=answer_null)
    await client.handshake(LEAN_CAPABILITIES, root_uri=root.as_uri(), timeout=TIMEOUT)
    uri = (root / "A.lean").as_uri()
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "lean4", "version": 1,
                                                            "text": FILE_A}})
    assert (await client.request("textDocument/waitForDiagnostics", {"uri": uri, "version": 1},
                                 timeout=TIMEOUT))["result"] == {}
    return client, uri


async def wait_for_processes(pid: int, role: str, timeout: float = 30.0) -> list[int]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        found = lean_processes(pid, role)
        if found:
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no lean --{role} below {pid}")


async def worker_crash(kind: str, folder: Path, lean: Path) -> list[bytes]:
    """Kill the file's worker while a request waits on it; returns the editor-visible answers."""
    client, uri = await opened(kind, folder, lean)
    try:
        pending = client.send_request("textDocument/waitForDiagnostics", {"uri": uri, "version": 2})
        await client.drain()
        workers = await wait_for_processes(client.proc.pid, "worker")
        await asyncio.sleep(0.3)
        os.kill(workers[0], signal.SIGKILL)
        crashed = await client.reply(pending, timeout=TIMEOUT)
        progress = await client.wait_for(lambda m: m.get("method") == "$/lean/fileProgress"
                                         and any(p.get("kind") == 2 for p in m["params"]["processing"]),
                                         timeout=TIMEOUT)
        hover = client.send_request("textDocument/hover", {"textDocument": {"uri": uri}, "position": HOVER_AT})
        await client.drain()
        await asyncio.sleep(1.5)
        assert not [m for m in client.messages if m.get("id") == hover], "Lean answers only after the next didChange"
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                                 "contentChanges": [{"text": FILE_A + "\n"}]})
        answered = await client.reply(hover, timeout=TIMEOUT)
        done = await client.request("textDocument/waitForDiagnostics", {"uri": uri, "version": 2}, timeout=TIMEOUT)
        assert done["result"] == {}
        assert await client.shutdown(TIMEOUT) == 0
        bodies = [client.bodies[client.messages.index(m)] for m in (crashed, progress, answered)]
        return bodies
    finally:
        await client.kill()


async def test_killed_worker_passes_through_unchanged(real_lean: Path, tmp_path: Path) -> None:
    """Real Lean answers the waiting request -32902, reports the file with ``fileProgress`` kind 2
    and restarts the worker only at the next ``didChange`` (then answers the held request). The
    bare proxy and ``serve`` show the editor exactly the same messages."""
    direct = await worker_crash("direct", tmp_path / "direct", real_lean)
    crashed = json.loads(direct[0])
    assert crashed["error"]["code"] == -32902 and "crashed" in crashed["error"]["message"]
    assert json.loads(direct[2])["result"]["contents"]["value"].startswith("```lean\nid_tt : ")
    for kind in ("bare", "serve"):
        proxied = await worker_crash(kind, tmp_path / kind, real_lean)
        assert [b.replace(f"/{kind}/".encode(), b"/direct/") for b in proxied] == direct, kind


@pytest.mark.parametrize("kind", ["bare", "serve"])
async def test_killed_server_is_restarted_with_documents_reopened(real_lean: Path, tmp_path: Path, kind: str) -> None:
    """The proxy restarts a killed ``lean --server``, replays ``initialize`` and reopens the
    documents: hover and diagnostics of the open file work again, the editor session survives."""
    client, uri = await opened(kind, tmp_path, real_lean)
    try:
        first = await wait_for_processes(client.proc.pid, "server")
        seen = len(client.messages)
        os.kill(first[0], signal.SIGKILL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while loop.time() < deadline:
            again = [p for p in lean_processes(client.proc.pid, "server") if p not in first]
            if again:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the proxy did not start a new lean --server")
        # the reopened document is elaborated again: a fresh publish for version 1
        await client.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                              and m["params"]["uri"] == uri and m["params"]["diagnostics"], timeout=TIMEOUT, start=seen)
        reply = await client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": HOVER_AT},
                                     timeout=TIMEOUT)
        assert reply["result"]["contents"]["value"].startswith("```lean\nid_tt : ")
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                                 "contentChanges": [{"text": FILE_A.replace("#check fals\n", "")}]})
        assert (await client.request("textDocument/waitForDiagnostics", {"uri": uri, "version": 2},
                                     timeout=TIMEOUT))["result"] == {}
        last = client.notifications("textDocument/publishDiagnostics", uri)[-1]
        assert last["version"] == 2 and last["diagnostics"]
        assert not [d for d in last["diagnostics"] if d.get("code") == "lean.unknownIdentifier"]  # `fals` is gone
        assert await client.shutdown(TIMEOUT) == 0
    finally:
        await client.kill()
