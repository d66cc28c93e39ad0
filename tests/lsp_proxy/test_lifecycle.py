"""Process lifecycle at the edges (issue 11/12): the editor's read end closing, EOF before
``initialize``, SIGKILL of the proxy with a server that has children of its own (a forking
stand-in and real ``lean --server`` with its ``lean --worker``), and a server command that
cannot be started at all."""
from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.lsp_proxy.client import TINY, Client, proxy_argv

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups and /proc: Linux")


def started(log: Path) -> list[int]:
    return [int(p) for p in re.findall(r"started Lean server pid (\d+)", log.read_text())]


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants (Lean's workers run in sessions of their own, so
    process groups do not find them)."""
    root = psutil.Process(pid)
    return [p.pid for p in [root, *root.children(recursive=True)] if p.status() != psutil.STATUS_ZOMBIE]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def all_dead(pids: list[int], timeout: float = 10) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if not any(alive(pid) for pid in pids):
            return True
        await asyncio.sleep(0.1)
    return False


@linux_only
async def test_editor_closing_its_read_end_stops_lean_and_the_proxy(tmp_path):
    """EPIPE on stdout: the proxy notices (even with nothing to write), stops Lean and exits."""
    log = tmp_path / "p.log"
    client = await Client.start(proxy_argv(log, *TINY))
    await client.handshake()
    client.send({"id": 1, "method": "test/echo", "params": {}})
    await client.reply_to(1)
    (server,) = started(log)
    client.proc._transport.get_pipe_transport(1).close()  # type: ignore[attr-defined]
    await asyncio.wait_for(client.proc.wait(), 15)
    assert await all_dead([server])
    assert "EPIPE" in log.read_text()


def test_eof_on_stdin_before_initialize_ends_the_process(tmp_path):
    """`serve < /dev/null`: EOF before initialize ends the proxy (and its server)."""
    log = tmp_path / "p.log"
    done = subprocess.run(proxy_argv(log, *TINY), stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode in (0, 1)
    assert done.stdout == b"" and done.stderr == b""
    assert "the editor closed the connection" in log.read_text()


FORKING_SERVER = [sys.executable, "-c",
                  "import os, subprocess, sys\n"
                  "subprocess.Popen(['sleep', '600'])\n"  # a grandchild of the proxy, without PDEATHSIG
                  "os.execv(sys.executable, [sys.executable, '-m', 'tests.lsp_proxy.tiny_server'])\n"]


@linux_only
async def test_sigkill_of_the_proxy_takes_a_forking_servers_children_along(tmp_path):
    """SIGKILL of the proxy: the server's own children (the proxy's grandchildren) die too."""
    log = tmp_path / "p.log"
    client = await Client.start(proxy_argv(log, *FORKING_SERVER))
    await client.handshake()
    (server,) = started(log)
    members = tree(server)
    assert len(members) >= 2, members  # the server and its `sleep` (and the subreaper on Linux)
    client.proc.kill()
    await client.proc.wait()
    assert await all_dead(members), [m for m in members if alive(m)]


@linux_only
@pytest.mark.real_lean
async def test_sigkill_of_the_proxy_takes_real_lean_workers_along(real_lean, tmp_path):
    """Real `lean --server` spawns `lean --worker` per file: SIGKILL of the proxy kills them all."""
    log = tmp_path / "p.log"
    uri = (tmp_path / "A.lean").as_uri()
    client = await Client.start(proxy_argv(log, str(real_lean), "--server"), cwd=tmp_path)
    await client.handshake()
    client.send({"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "lean4", "version": 1, "text": "prelude\ninductive T where | a\n"}}})
    client.send({"id": 1, "method": "textDocument/waitForDiagnostics", "params": {"uri": uri, "version": 1}})
    await client.reply_to(1, 60)
    (server,) = started(log)
    members = tree(server)
    workers = [pid for pid in members if "--worker" in " ".join(psutil.Process(pid).cmdline())]
    assert workers, members
    client.proc.kill()
    await client.proc.wait()
    assert await all_dead(members), [m for m in members if alive(m)]


@pytest.mark.parametrize("kind", ["missing", "not-executable"])
async def test_server_command_that_cannot_start_is_one_message_not_a_restart_loop(tmp_path, kind):
    """`serve -- lake serve --` with no `lake` (or a non-executable one): the editor gets an
    initialize result, ONE window/showMessage with the cause and the fix, errors for requests,
    and a clean shutdown; nothing is started again and again."""
    log = tmp_path / "p.log"
    if kind == "missing":
        program = "no-such-lake-for-lean-companion"
    else:
        path = tmp_path / "lake"
        path.write_text("#!/bin/sh\n")
        path.chmod(0o644)
        program = str(path)
    client = await Client.start(proxy_argv(log, program, "serve", "--"))
    reply = await client.handshake()
    assert "result" in reply
    shown, _ = await client.until(lambda m: m.get("method") == "window/showMessage")
    assert shown["params"]["type"] == 1
    assert "elan" in shown["params"]["message"] and ("not found" in shown["params"]["message"]
                                                      or "not executable" in shown["params"]["message"])
    client.send({"id": 2, "method": "textDocument/hover", "params": {
        "textDocument": {"uri": "file:///x.lean"}, "position": {"line": 0, "character": 0}}})
    error, between = await client.reply_to(2)
    assert error["error"]["code"] == -32801
    assert not [m for m in between if m.get("method") == "window/showMessage"]
    assert await client.shutdown() == 0
    text = log.read_text()
    assert text.count("could not start Lean's server") == 1
    assert "started Lean server" not in text
