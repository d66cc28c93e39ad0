"""The proxy's fallback side channel (docs/editor-protocol.md §6, lsp_proxy/side_channel.py).

In-process tests drive :class:`SideChannel` over a real Unix socket with hooks registered on a
:class:`HookRegistry`; process tests run ``lean-companion serve`` (or the CLI with a test
``install``) in front of the Lean double and check the status file, the socket, cleanup on exit
and SIGTERM, and that misbehaving socket clients never disturb the editor's session.
"""
from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lsp_proxy.errors import INVALID_PARAMS, ResponseError
from lsp_proxy.framing import FrameReader, encode_frame
from lsp_proxy.hooks import DROP, Direction, HookRegistry
from lsp_proxy.side_channel import (
    MAX_SOCKET_PATH,
    SideChannel,
    private_dir,
    remove_stale_files,
    socket_candidates,
)
from tests.lean_double import double_command
from tests.lean_double.msglog import read_log
from tests.lsp_proxy.client import REPO, Client

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the POSIX socket path is what is tested here")

HELLO = "$/leanCompanion/hello"


def frame(message: dict) -> bytes:
    return encode_frame(json.dumps({"jsonrpc": "2.0", **message}).encode())


class SocketClient:
    """A side-channel client: raw writes, framed reads."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.frames = FrameReader(reader)
        self.writer = writer

    @classmethod
    async def connect(cls, path: str) -> SocketClient:
        reader, writer = await asyncio.open_unix_connection(path)
        return cls(reader, writer)

    async def send(self, message: dict) -> None:
        self.writer.write(frame(message))
        await self.writer.drain()

    async def receive(self, timeout: float = 10) -> dict | None:
        """The next message, or None when the proxy closed the connection."""
        body = await asyncio.wait_for(self.frames.read_frame(), timeout)
        return None if body is None else json.loads(body)

    async def hello(self, token: str) -> dict:
        await self.send({"id": 0, "method": HELLO, "params": {"token": token, "client": "test"}})
        reply = await self.receive()
        assert reply is not None and reply["id"] == 0
        return reply

    async def replies(self, count: int, timeout: float = 10) -> dict[Any, dict]:
        out: dict[Any, dict] = {}
        while len(out) < count:
            message = await self.receive(timeout)
            assert message is not None, f"connection closed with {out}"
            out[message["id"]] = message
        return out

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
def places(tmp_path, monkeypatch) -> Path:
    """Runtime folder and socket folder under tmp_path (XDG_RUNTIME_DIR is short enough)."""
    monkeypatch.setenv("LEAN_COMPANION_RUNTIME_DIR", str(tmp_path / "runtime"))
    run = Path("/tmp") / f"lcsc-{os.getpid()}-{tmp_path.name[-12:]}"
    run.mkdir(mode=0o700, exist_ok=True)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    yield tmp_path / "runtime"
    for child in run.rglob("*"):
        if not child.is_dir():
            child.unlink()
    for folder in sorted(run.rglob("*"), reverse=True):
        folder.rmdir()
    run.rmdir()


def registry(log: list) -> HookRegistry:
    """Hooks like a feature would register them, recording what ran."""
    hooks = HookRegistry()

    async def echo(params: Any) -> Any:
        return {"echo": params}

    async def picky(params: Any) -> Any:
        raise ResponseError(INVALID_PARAMS, "textDocument is missing")

    async def broken(params: Any) -> Any:
        raise RuntimeError("boom")

    async def slow(params: Any) -> Any:
        log.append(("slow started", params))
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            log.append(("slow cancelled", params))
            raise

    async def only_uri(params: Any) -> Any:
        return "claimed"

    hooks.intercept_request("$/leanCompanion/echo", echo)
    hooks.intercept_request("$/leanCompanion/picky", picky)
    hooks.intercept_request("$/leanCompanion/broken", broken)
    hooks.intercept_request("$/leanCompanion/slow", slow)
    hooks.intercept_request("$/leanCompanion/when", only_uri, when=lambda p: isinstance(p, dict) and "uri" in p)
    hooks.observe("$/leanCompanion/configure", lambda m, p: log.append((m, p)), direction=Direction.FROM_EDITOR)

    def cancel(params: Any) -> Any:
        log.append(("cancel", params))
        return DROP

    hooks.transform_notification("$/leanCompanion/cancel", cancel, direction=Direction.FROM_EDITOR)
    return hooks


# ------------------------------------------------------------------------ in-process


async def test_status_file_fields_modes_and_cleanup(places, tmp_path):
    """start() writes <pid>.json atomically (0600, folder 0700) with every §6 field, the socket
    (0600, folder 0700) listens at $XDG_RUNTIME_DIR/lean-companion/<pid>.sock; close() removes both."""
    channel = SideChannel(registry([]), root=tmp_path, log_file=tmp_path / "proxy.log", version="9.9")
    await channel.start()
    status = places / f"{os.getpid()}.json"
    info = json.loads(status.read_text())
    assert set(info) == {"version", "pid", "root", "socket", "token", "logFile", "companionVersion", "startedAt"}
    assert info["version"] == 1 and info["pid"] == os.getpid() and info["root"] == str(tmp_path.resolve())
    assert re.fullmatch(r"[0-9a-f]{32}", info["token"]) and info["logFile"] == str(tmp_path / "proxy.log")
    assert info["companionVersion"] == "9.9" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["startedAt"])
    sock = Path(info["socket"]["path"])
    assert sock == Path(os.environ["XDG_RUNTIME_DIR"]) / "lean-companion" / f"{os.getpid()}.sock"
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    assert stat.S_IMODE(os.stat(status).st_mode) == 0o600 and stat.S_IMODE(os.stat(places).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600 and stat.S_IMODE(os.stat(sock.parent).st_mode) == 0o700
    assert not list(places.glob("*.tmp"))
    await channel.close()
    assert not status.exists() and not sock.exists()  # noqa: ASYNC240 - a quick check in a test


async def test_requests_and_notifications_reach_registered_hooks(places, tmp_path):
    """After the hello, $/leanCompanion/* requests are answered by whichever interceptor claims
    them (ResponseError codes kept, crashes -32603, unclaimed -32601, Lean methods -32601),
    notifications run the editor-direction hooks, and $/cancelRequest cancels with -32800."""
    log: list = []
    channel = SideChannel(registry(log), root=tmp_path, log_file=None, version="9.9")
    await channel.start()
    try:
        client = await SocketClient.connect(channel.address["path"])
        hello = await client.hello(channel.token)
        assert hello["result"] == {"version": "9.9", "protocolVersion": 1}
        await client.send({"id": 1, "method": "$/leanCompanion/echo", "params": {"x": [1, "é"]}})
        await client.send({"id": 2, "method": "$/leanCompanion/picky", "params": {}})
        await client.send({"id": 3, "method": "$/leanCompanion/broken", "params": {}})
        await client.send({"id": 4, "method": "$/leanCompanion/nothing", "params": {}})
        await client.send({"id": 5, "method": "textDocument/hover", "params": {}})
        await client.send({"id": 6, "method": "$/leanCompanion/when", "params": {"uri": "u"}})
        await client.send({"id": 7, "method": "$/leanCompanion/when", "params": {}})
        await client.send({"id": "s", "method": "$/leanCompanion/slow", "params": {"n": 1}})
        await client.send({"method": "$/leanCompanion/configure", "params": {"settings": {"suggest": {}}}})
        await client.send({"method": "$/leanCompanion/cancel", "params": {"requestToken": "t1"}})
        replies = await client.replies(7)
        assert replies[1]["result"] == {"echo": {"x": [1, "é"]}}
        assert replies[2]["error"] == {"code": -32602, "message": "textDocument is missing"}
        assert replies[3]["error"]["code"] == -32603 and "boom" in replies[3]["error"]["message"]
        assert replies[4]["error"]["code"] == -32601 and replies[5]["error"]["code"] == -32601
        assert replies[6]["result"] == "claimed" and replies[7]["error"]["code"] == -32601
        await client.send({"method": "$/cancelRequest", "params": {"id": "s"}})
        cancelled = await client.receive()
        assert cancelled == {"jsonrpc": "2.0", "id": "s", "error": {"code": -32800, "message": ""}}
        assert ("slow cancelled", {"n": 1}) in log
        assert ("$/leanCompanion/configure", {"settings": {"suggest": {}}}) in log
        assert ("cancel", {"requestToken": "t1"}) in log
        client.close()
    finally:
        await channel.close()


async def test_bad_first_messages_close_the_connection(places, tmp_path):
    """A wrong token, a missing token, a notification hello, another method first, or garbage:
    the connection is closed without an answer; a right hello afterwards still works."""
    channel = SideChannel(registry([]), root=tmp_path, log_file=None)
    await channel.start()
    path = channel.address["path"]
    firsts = [
        frame({"id": 1, "method": HELLO, "params": {"token": "0" * 32}}),
        frame({"id": 1, "method": HELLO, "params": {}}),
        frame({"method": HELLO, "params": {"token": channel.token}}),
        frame({"id": 1, "method": "$/leanCompanion/echo", "params": {"token": channel.token}}),
        b"Content-Length: 5\r\n\r\n{nope",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\x00" * 70000,
    ]
    try:
        for first in firsts:
            client = await SocketClient.connect(path)
            client.writer.write(first)
            await client.writer.drain()
            assert await client.receive() is None, first[:60]
            client.close()
        client = await SocketClient.connect(path)
        assert (await client.hello(channel.token))["result"]["protocolVersion"] == 1
        client.close()
    finally:
        await channel.close()


async def test_garbage_after_hello_is_answered_and_the_connection_lives(places, tmp_path):
    """After the hello, invalid JSON gets -32700 (id null), a non-object -32600, a bad id
    -32600, frames without a length are skipped; the next good request is answered."""
    channel = SideChannel(registry([]), root=tmp_path, log_file=None)
    await channel.start()
    try:
        client = await SocketClient.connect(channel.address["path"])
        await client.hello(channel.token)
        client.writer.write(b"Content-Length: 4\r\n\r\n{{{{")
        client.writer.write(b"Content-Length: 3\r\n\r\n[1]")
        client.writer.write(frame({"id": {"a": 1}, "method": "$/leanCompanion/echo"}))
        client.writer.write(b"X-Junk: 1\r\n\r\n")
        client.writer.write(frame({"id": 9, "method": "$/leanCompanion/echo", "params": {}}))
        await client.writer.drain()
        got = [await client.receive() for _ in range(4)]
        assert [m["error"]["code"] for m in got[:3]] == [-32700, -32600, -32600]
        assert [m["id"] for m in got[:3]] == [None, None, None]
        assert got[3] == {"jsonrpc": "2.0", "id": 9, "result": {"echo": {}}}
        client.close()
    finally:
        await channel.close()


async def test_disconnect_mid_request_cancels_it(places, tmp_path):
    """A client that hangs up while its request runs: the handler is cancelled, others unaffected."""
    log: list = []
    channel = SideChannel(registry(log), root=tmp_path, log_file=None)
    await channel.start()
    try:
        client = await SocketClient.connect(channel.address["path"])
        await client.hello(channel.token)
        await client.send({"id": 1, "method": "$/leanCompanion/slow", "params": {"n": 2}})
        for _ in range(250):
            if ("slow started", {"n": 2}) in log:
                break
            await asyncio.sleep(0.02)
        client.writer.transport.abort()
        for _ in range(250):
            if ("slow cancelled", {"n": 2}) in log:
                break
            await asyncio.sleep(0.02)
        assert ("slow cancelled", {"n": 2}) in log
        other = await SocketClient.connect(channel.address["path"])
        await other.hello(channel.token)
        await other.send({"id": 1, "method": "$/leanCompanion/echo", "params": {}})
        assert (await other.receive())["result"] == {"echo": {}}
        other.close()
    finally:
        await channel.close()


def test_socket_path_falls_back_when_too_long(monkeypatch):
    """An $XDG_RUNTIME_DIR so deep that the socket path passes 100 bytes is skipped in favour of
    the temp-dir paths, and the last fallback is always short."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/" + "x" * 120)
    candidates = socket_candidates(12345)
    assert len(os.fsencode(candidates[0])) >= MAX_SOCKET_PATH
    assert len(os.fsencode(candidates[-1])) < MAX_SOCKET_PATH
    assert candidates[1].name == "12345.sock" and candidates[1].parent.name == f"lean-companion-{os.getuid()}"


async def test_long_runtime_dir_uses_the_temp_dir(places, tmp_path, monkeypatch):
    """With a too-long $XDG_RUNTIME_DIR the channel listens under <tmp>/lean-companion-<uid>."""
    long_dir = tmp_path / ("y" * 90)
    long_dir.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(long_dir))
    channel = SideChannel(registry([]), root=tmp_path, log_file=None)
    await channel.start()
    try:
        path = Path(channel.address["path"])
        assert len(os.fsencode(path)) < MAX_SOCKET_PATH and not str(path).startswith(str(long_dir))
        client = await SocketClient.connect(str(path))
        assert (await client.hello(channel.token))["result"]["protocolVersion"] == 1
        client.close()
    finally:
        await channel.close()
    assert not path.exists()  # noqa: ASYNC240 - a quick check in a test


def test_private_dir_refuses_links_and_files_and_tightens_modes(tmp_path):
    """A folder for our files must be a real directory of ours: a symlink or a file is refused
    (someone else could control it), an existing 0755 folder is made 0700."""
    real = tmp_path / "real"
    real.mkdir(mode=0o755)
    os.chmod(real, 0o755)
    link = tmp_path / "link"
    link.symlink_to(real)
    plain = tmp_path / "file"
    plain.write_text("x")
    assert not private_dir(link) and not private_dir(plain)
    assert private_dir(real) and stat.S_IMODE(os.stat(real).st_mode) == 0o700
    deeper = tmp_path / "new" / "deeper"
    assert private_dir(deeper) and stat.S_IMODE(os.stat(deeper).st_mode) == 0o700


async def dead_pid() -> int:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()
    return proc.pid


async def test_stale_files_removed_live_and_foreign_kept(places, tmp_path):
    """Status files (and leftover .tmp files) of dead pids go at start; a live pid's file and
    unrelated files stay."""
    places.mkdir(parents=True)
    dead = await dead_pid()
    (places / f"{dead}.json").write_text("{}")
    (places / f"{dead}.json.tmp").write_text("{")
    (places / f"{os.getppid()}.json").write_text("{}")
    (places / "notes.json").write_text("{}")
    channel = SideChannel(registry([]), root=tmp_path, log_file=None)
    await channel.start()
    await channel.close()
    assert not (places / f"{dead}.json").exists() and not (places / f"{dead}.json.tmp").exists()
    assert (places / f"{os.getppid()}.json").exists() and (places / "notes.json").exists()
    assert remove_stale_files(places, os.getpid(), ".json") == []


async def test_a_replaced_status_file_is_not_removed(places, tmp_path):
    """If another writer replaced <pid>.json (another token), close() leaves that file alone."""
    channel = SideChannel(registry([]), root=tmp_path, log_file=None)
    await channel.start()
    status = places / f"{os.getpid()}.json"
    status.write_text(json.dumps({"token": "f" * 32}))
    await channel.close()
    assert json.loads(status.read_text()) == {"token": "f" * 32}


def test_atexit_removes_the_files_of_an_unclosed_channel(places, tmp_path):
    """A process that exits without close() (e.g. an unexpected return path) still removes its
    status file and socket at interpreter exit."""
    code = ("import asyncio; from lsp_proxy.hooks import HookRegistry; from lsp_proxy.side_channel import SideChannel\n"
            "async def main():\n"
            "    channel = SideChannel(HookRegistry(), root='.', log_file=None)\n"
            "    await channel.start()\n"
            "    print(channel.status_file, channel.socket_file, flush=True)\n"
            "asyncio.run(main())\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    status, sock = result.stdout.split()
    assert Path(status).parent == places and Path(sock).name.endswith(".sock")
    assert not os.path.exists(status) and not os.path.exists(sock)


# ------------------------------------------------------------------------ real proxy processes


def install_for_tests(router: Any) -> None:
    """An ``install`` for the CLI (run in the proxy process): two companion interceptors."""

    async def echo(params: Any) -> Any:
        return {"echo": params, "documents": len(router.documents)}

    async def slow(params: Any) -> Any:
        await asyncio.sleep(30)

    router.hooks.intercept_request("$/leanCompanion/echo", echo)
    router.hooks.intercept_request("$/leanCompanion/slow", slow)


def environment(tmp_path: Path) -> dict[str, str]:
    run = tmp_path / "xdg"
    run.mkdir(mode=0o700, exist_ok=True)
    return {
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "LEAN_COMPANION_RUNTIME_DIR": str(tmp_path / "runtime"),
        "XDG_RUNTIME_DIR": str(run) if len(str(run)) < 60 else "",
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "LEAN_COMPANION_CONFIG_FILE": str(tmp_path / "user-config.toml"),
    }


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / ".lean-companion.toml").write_text("[index]\nenabled = false\n")
    return root


def features_importable() -> bool:
    """Whether `lean-companion serve` will install copilot's features (they answer status)."""
    try:
        importlib.import_module("copilot.features")
    except ImportError:
        return False
    return True


async def wait_status_file(folder: Path, pid: int, proc: asyncio.subprocess.Process) -> dict:
    path = folder / f"{pid}.json"
    for _ in range(400):
        if path.exists():
            return json.loads(path.read_text())
        assert proc.returncode is None, "the proxy exited"
        await asyncio.sleep(0.025)
    raise AssertionError(f"no status file {path}")


async def test_companion_serve_announces_and_serves_its_socket(tmp_path):
    """`lean-companion serve`: the status file appears (right fields and modes, a stale file of a
    dead pid removed), the socket answers hello and $/leanCompanion/status through copilot's
    interceptor (or -32601 if copilot's features are not installed), a wrong token is refused,
    and file and socket are gone after the editor closes the connection."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    stale = runtime / f"{await dead_pid()}.json"
    stale.write_text('{"pid": 1}')
    root = project(tmp_path)
    argv = [sys.executable, "-m", "copilot.cli", "serve", "--log-file", str(tmp_path / "proxy.log"), "--",
            *double_command("--elab-delay-ms", "10")]
    client = await Client.start(argv, env=environment(tmp_path), cwd=root)
    try:
        info = await wait_status_file(runtime, client.proc.pid, client.proc)
        assert not stale.exists()
        assert info["pid"] == client.proc.pid and info["root"] == str(root.resolve()) and info["version"] == 1
        assert info["logFile"] == str(tmp_path / "proxy.log") and re.fullmatch(r"[0-9a-f]{32}", info["token"])
        assert stat.S_IMODE(os.stat(runtime / f"{client.proc.pid}.json").st_mode) == 0o600
        sock = info["socket"]["path"]
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600

        intruder = await SocketClient.connect(sock)
        await intruder.send({"id": 1, "method": HELLO, "params": {"token": "a" * 32, "client": "x"}})
        assert await intruder.receive() is None
        intruder.close()

        socket_client = await SocketClient.connect(sock)
        hello = await socket_client.hello(info["token"])
        assert hello["result"]["protocolVersion"] == 1
        assert hello["result"]["version"] == info["companionVersion"]
        await socket_client.send({"id": 1, "method": "$/leanCompanion/status", "params": {}})
        reply = await socket_client.receive(30)
        assert features_importable(), "copilot.features is part of the product"
        assert reply["result"]["pid"] == client.proc.pid and reply["result"]["protocolVersion"] == 1
        socket_client.close()
        assert client.proc.stdin is not None
        client.proc.stdin.close()
        await asyncio.wait_for(client.proc.wait(), 15)
        assert await client.stderr() == b""
    finally:
        await client.kill()
    assert not (runtime / f"{client.proc.pid}.json").exists()
    assert not os.path.exists(sock)  # noqa: ASYNC240 - a quick check in a test


async def test_configure_over_the_socket_reaches_the_companion(tmp_path):
    """`$/leanCompanion/configure` sent on the socket reaches copilot's handler as it would on the
    LSP connection: `suggest` disappears from status.features, and comes back with `{}`."""
    pytest.importorskip("copilot.features")
    runtime = tmp_path / "runtime"
    argv = [sys.executable, "-m", "copilot.cli", "serve", "--log-file", str(tmp_path / "proxy.log"), "--",
            *double_command("--elab-delay-ms", "10")]
    proxy = await Client.start(argv, env=environment(tmp_path), cwd=project(tmp_path))
    try:
        info = await wait_status_file(runtime, proxy.proc.pid, proxy.proc)
        client = await SocketClient.connect(info["socket"]["path"])
        await client.hello(info["token"])
        features = []
        for id_, overlay in ((1, None), (2, {"suggest": {"enabled": False}}), (3, {})):
            if overlay is not None:
                await client.send({"method": "$/leanCompanion/configure", "params": {"settings": overlay}})
            await client.send({"id": id_, "method": "$/leanCompanion/status", "params": {}})
            reply = await client.receive(30)
            assert reply["id"] == id_
            features.append("suggest" in reply["result"]["features"])
        assert features == [True, False, True]
        client.close()
        assert proxy.proc.stdin is not None
        proxy.proc.stdin.close()
        await asyncio.wait_for(proxy.proc.wait(), 15)
    finally:
        await proxy.kill()


async def test_sigterm_removes_status_file_and_socket(tmp_path):
    """SIGTERM to `lean-companion serve`: the proxy stops and its status file and socket are gone."""
    runtime = tmp_path / "runtime"
    argv = [sys.executable, "-m", "copilot.cli", "serve", "--log-file", str(tmp_path / "proxy.log"), "--",
            *double_command("--elab-delay-ms", "10")]
    client = await Client.start(argv, env=environment(tmp_path), cwd=project(tmp_path))
    try:
        info = await wait_status_file(runtime, client.proc.pid, client.proc)
        client.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(client.proc.wait(), 15)
    finally:
        await client.kill()
    assert not (runtime / f"{client.proc.pid}.json").exists()
    assert not os.path.exists(info["socket"]["path"])  # noqa: ASYNC240 - a quick check in a test


async def test_editor_session_unaffected_by_misbehaving_socket_clients(tmp_path):
    """While socket clients send garbage, vanish mid-request and flood oversized frames, the
    editor's session through the proxy carries on (hover, diagnostics, shutdown exit 0, nothing
    on stderr), and a well-behaved socket client is served by the CLI's installed hooks."""
    runtime = tmp_path / "runtime"
    code = ("import sys; from lsp_proxy import cli; from tests.lsp_proxy.test_side_channel import install_for_tests; "
            "sys.exit(cli.main(install=install_for_tests))")
    log = tmp_path / "double.jsonl"
    argv = [sys.executable, "-c", code, "serve", "--log-file", str(tmp_path / "proxy.log"), "--",
            *double_command("--elab-delay-ms", "10", "--log", str(log))]
    editor = await Client.start(argv, env=environment(tmp_path), cwd=project(tmp_path))
    try:
        info = await wait_status_file(runtime, editor.proc.pid, editor.proc)
        await editor.handshake()
        uri = "file:///w/A.lean"
        editor.send({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "lean4", "version": 1,
            "text": "theorem t (n : Nat) : n + 0 = n := by\n  simp\n"}}})
        sock = info["socket"]["path"]

        garbage = await SocketClient.connect(sock)
        garbage.writer.write(os.urandom(100_000))
        await garbage.writer.drain()
        vanishing = await SocketClient.connect(sock)
        await vanishing.hello(info["token"])
        await vanishing.send({"id": 1, "method": "$/leanCompanion/slow", "params": {}})
        vanishing.writer.transport.abort()
        flood = await SocketClient.connect(sock)
        await flood.hello(info["token"])
        flood.writer.write(b"Content-Length: 999999999\r\n\r\n" + b"z" * 200_000)
        half = await SocketClient.connect(sock)
        half.writer.write(b"Content-Length: 50\r\n\r\n{\"id\":")
        await half.writer.drain()
        half.writer.transport.abort()

        editor.send({"id": 1, "method": "textDocument/hover", "params": {
            "textDocument": {"uri": uri}, "position": {"line": 0, "character": 8}}})
        hover, seen = await editor.reply_to(1, timeout=15)
        assert "result" in hover

        def published(message: dict) -> bool:
            return message.get("method") == "textDocument/publishDiagnostics" and message["params"] == {
                "uri": uri, "version": 1, "diagnostics": []}

        if not any(published(message) for message in seen):
            await editor.until(published, timeout=15)

        good = await SocketClient.connect(sock)
        await good.hello(info["token"])
        await good.send({"id": 7, "method": "$/leanCompanion/echo", "params": {"q": 1}})
        reply = await good.receive()
        assert reply == {"jsonrpc": "2.0", "id": 7, "result": {"echo": {"q": 1}, "documents": 1}}
        good.close()
        garbage.close()
        flood.writer.transport.abort()

        assert await editor.shutdown() == 0
        assert await editor.stderr() == b""
    finally:
        await editor.kill()
    received = [entry.get("method") for entry in read_log(log) if entry["dir"] == "recv"]
    assert not [m for m in received if m and m.startswith("$/leanCompanion/")]  # nothing reached Lean
    assert not (runtime / f"{editor.proc.pid}.json").exists() and not os.path.exists(sock)  # noqa: ASYNC240 - a quick check in a test


async def test_did_change_configuration_overlay_applies_and_reaches_lean(tmp_path):
    """`workspace/didChangeConfiguration` with a leanCompanion overlay turns a feature off in the
    companion's status (editor-protocol §3) and reaches Lean unchanged."""
    pytest.importorskip("copilot.features")
    log = tmp_path / "double.jsonl"
    argv = [sys.executable, "-m", "copilot.cli", "serve", "--log-file", str(tmp_path / "proxy.log"), "--",
            *double_command("--elab-delay-ms", "10", "--log", str(log))]
    editor = await Client.start(argv, env=environment(tmp_path), cwd=project(tmp_path))
    try:
        await editor.handshake()
        editor.send({"id": 1, "method": "$/leanCompanion/status", "params": {}})
        before, _ = await editor.reply_to(1, timeout=30)
        assert "suggest" in before["result"]["features"]
        params = {"settings": {"leanCompanion": {"suggest": {"enabled": False}}, "other": {"k": 1}}}
        editor.send({"method": "workspace/didChangeConfiguration", "params": params})
        editor.send({"id": 2, "method": "$/leanCompanion/status", "params": {}})
        after, _ = await editor.reply_to(2, timeout=30)
        assert "suggest" not in after["result"]["features"]
        assert await editor.shutdown() == 0
    finally:
        await editor.kill()
    forwarded = [entry for entry in read_log(log)
                 if entry["dir"] == "recv" and entry.get("method") == "workspace/didChangeConfiguration"]
    assert [entry["params"] for entry in forwarded] == [params]


EXTENSION_OUT = REPO / "vscode-extension" / "out" / "src"
NODE_CLIENT = r"""
const { readStatusFiles, chooseProxy } = require(process.argv[1] + '/statusFiles.js')
const { RpcSocketClient } = require(process.argv[1] + '/rpcSocket.js')
;(async () => {
    const proxy = chooseProxy(await readStatusFiles(process.argv[2]), process.argv[3])
    const intruder = await RpcSocketClient.connect(proxy.socket)
    const refused = await intruder.request('$/leanCompanion/hello', { token: 'b'.repeat(32), client: 'vscode' })
        .then(() => 'answered', error => error.message)
    const client = await RpcSocketClient.connect(proxy.socket)
    const hello = await client.request('$/leanCompanion/hello', { token: proxy.token, client: 'vscode' })
    const status = await client.request('$/leanCompanion/status', {}).then(r => r, e => ({ code: e.code }))
    client.close()
    process.stdout.write(JSON.stringify({ pid: proxy.pid, refused, hello, status }))
})().catch(error => { process.stderr.write(String(error)); process.exit(1) })
"""


def _compiled_client() -> Path:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    for name in ("statusFiles", "rpcSocket"):
        js, ts = EXTENSION_OUT / f"{name}.js", REPO / "vscode-extension" / "src" / f"{name}.ts"
        if not js.exists() or js.stat().st_mtime < ts.stat().st_mtime:
            pytest.skip(f"{js} missing or older than its source (npm run compile in vscode-extension)")
    return Path(node)


async def test_vscode_extension_client_reaches_the_real_proxy(tmp_path):
    """The extension's own compiled client code (statusFiles.js picks the proxy for a document,
    rpcSocket.js talks to it) against a real `lean-companion serve`: a wrong token is refused
    (connection closed), the right one gets hello and status (copilot's, or -32601 without it)."""
    node = _compiled_client()
    runtime = tmp_path / "runtime"
    root = project(tmp_path)
    argv = [sys.executable, "-m", "copilot.cli", "serve", "--log-file", str(tmp_path / "proxy.log"), "--",
            *double_command("--elab-delay-ms", "10")]
    proxy = await Client.start(argv, env=environment(tmp_path), cwd=root)
    try:
        await wait_status_file(runtime, proxy.proc.pid, proxy.proc)
        script = await asyncio.create_subprocess_exec(
            str(node), "-e", NODE_CLIENT, str(EXTENSION_OUT), str(runtime), str(root / "Foo" / "A.lean"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(script.communicate(), 30)
        assert script.returncode == 0, err.decode()
        seen = json.loads(out)
        assert seen["pid"] == proxy.proc.pid
        assert seen["refused"] == "connection to lean-companion closed"
        assert seen["hello"]["protocolVersion"] == 1
        assert seen["status"]["pid"] == proxy.proc.pid
        assert proxy.proc.stdin is not None
        proxy.proc.stdin.close()
        await asyncio.wait_for(proxy.proc.wait(), 15)
    finally:
        await proxy.kill()
