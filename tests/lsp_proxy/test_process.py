"""End to end: ``python -m lsp_proxy -- <server>`` as a real process over pipes (tiny scripted server)."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import pytest

from tests.lsp_proxy.client import TINY, Client, proxy_argv

URI = "file:///work/A.lean"


def change(version: int, line: int, char: int, text: str) -> dict:
    return {"method": "textDocument/didChange", "params": {"textDocument": {"uri": URI, "version": version},
            "contentChanges": [{"range": {"start": {"line": line, "character": char},
                                          "end": {"line": line, "character": char}}, "text": text}]}}


def script() -> list[dict]:
    msgs = [{"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": URI, "languageId": "lean4", "version": 1, "text": "theorem t : 𝔽 := by\n  sorry\n"}}}]
    for v in range(2, 40):
        msgs.append(change(v, 1, 2, "x"))
        if v % 5 == 0:
            msgs.append({"id": v, "method": "test/echo", "params": {"v": v, "s": "⊢ α"}})
    msgs.append({"id": "last", "method": "test/text", "params": {"uri": URI}})
    return msgs


async def run_script(argv: list[str], env: dict) -> tuple[list[bytes], bytes]:
    client = await Client.start(argv, env)
    await client.handshake()
    for msg in script():
        client.send(msg)
    await client.reply_to("last")
    assert await client.shutdown() == 0
    return client.raw, await client.stderr()


async def test_byte_identical_to_a_direct_session(tmp_path):
    """Every byte the editor receives through the proxy equals what it gets from the server directly."""
    direct, direct_err = await run_script(TINY, {"TINY_SERVER_STATE": str(tmp_path / "a")})
    proxied, proxied_err = await run_script(proxy_argv(tmp_path / "p.log", *TINY),
                                            {"TINY_SERVER_STATE": str(tmp_path / "b")})
    assert len(direct) > 40
    assert proxied == direct
    assert b"tiny server ready" in direct_err and proxied_err == b""


def started_pids(log: str) -> list[int]:
    return [int(p) for p in re.findall(r"started Lean server pid (\d+)", log)]


async def test_crash_restart_loses_and_reorders_nothing(tmp_path):
    """Server crash mid-session: in-flight requests get errors, the document is re-opened with the
    mirrored text, later edits apply in order, and the editor connection stays up."""
    log = tmp_path / "p.log"
    client = await Client.start(proxy_argv(log, *TINY), {"TINY_SERVER_STATE": str(tmp_path / "s")})
    await client.handshake()
    await client.until(lambda m: m.get("id") == "register_lean_watcher")
    client.send(script()[0])
    for v in range(2, 6):
        client.send(change(v, 1, 2, "a"))
    client.send({"id": 1, "method": "test/slow", "params": {"ms": 5000}})
    client.send({"id": 2, "method": "test/crash", "params": {"code": 3}})
    for v in range(6, 10):
        client.send(change(v, 1, 2, "b"))  # racing the crash: delivered to the old or the new server
    replies = {}
    while len(replies) < 2:
        msg = await client.message()
        assert msg.get("id") != "register_lean_watcher", "the restarted server's registration leaked"
        if "method" not in msg:
            replies[msg["id"]] = msg
    assert replies[1]["error"]["code"] == -32902 and replies[2]["error"]["code"] == -32902
    client.send({"id": 3, "method": "test/text", "params": {"uri": URI}})
    client.send({"id": 4, "method": "test/echo", "params": {}})
    text, before = await client.reply_to(3)
    assert all(m.get("id") != "register_lean_watcher" for m in before)
    assert text["result"] == {"text": "theorem t : 𝔽 := by\n  bbbbaaaasorry\n", "version": 9}
    assert (await client.reply_to(4))[0]["result"]["incarnation"] == 2
    assert await client.shutdown() == 0
    assert await client.stderr() == b""
    assert len(started_pids(log.read_text())) == 2


async def test_cancellation_and_out_of_order_replies(tmp_path):
    """A cancelled request gets -32800 from the server; replies arrive in completion order."""
    client = await Client.start(proxy_argv(tmp_path / "p.log", *TINY))
    await client.handshake()
    client.send({"id": 1, "method": "test/slow", "params": {"ms": 400}})
    client.send({"id": 2, "method": "test/slow", "params": {"ms": 50}})
    client.send({"id": 3, "method": "test/slow", "params": {"ms": 5000}})
    client.send({"method": "$/cancelRequest", "params": {"id": 3}})
    order = []
    while len(order) < 3:
        msg = await client.message()
        if "method" not in msg:
            order.append(msg)
    assert [m["id"] for m in order] == [3, 2, 1]
    assert order[0]["error"] == {"code": -32800, "message": ""}
    assert await client.shutdown() == 0


async def test_malformed_input_from_both_sides(tmp_path):
    """Garbage from the editor and from the server is skipped; the session carries on."""
    client = await Client.start(proxy_argv(tmp_path / "p.log", *TINY))
    await client.handshake()
    client.send_raw(b"oops, not a header\r\n")
    client.send({"id": 1, "method": "test/echo", "params": {}})
    assert (await client.reply_to(1))[0]["result"]["method"] == "test/echo"
    client.send_raw(b"Content-Length: 9\r\n\r\n{not json")
    reply, _ = await client.until(lambda m: m.get("error", {}).get("code") == -32700)
    assert reply["id"] is None
    client.send({"id": 2, "method": "test/garbage", "params": {}})
    assert (await client.reply_to(2))[0]["result"] == "after garbage"
    assert await client.shutdown() == 0
    assert "garbage" in (tmp_path / "p.log").read_text()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def wait_dead(pid: int, timeout: float = 5) -> bool:
    for _ in range(int(timeout / 0.05)):
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("how", ["eof", "sigterm", "sigkill"])
async def test_child_never_outlives_the_proxy(tmp_path, how):
    """Editor EOF, SIGTERM and SIGKILL of the proxy all take the server process down."""
    log = tmp_path / "p.log"
    client = await Client.start(proxy_argv(log, *TINY))
    await client.handshake()
    client.send({"id": 1, "method": "test/echo", "params": {}})
    await client.reply_to(1)
    (child,) = started_pids(log.read_text())
    assert alive(child)
    if how == "eof":
        assert client.proc.stdin is not None
        client.proc.stdin.close()
    elif how == "sigterm":
        client.proc.send_signal(signal.SIGTERM)
    else:
        if not sys.platform.startswith("linux"):
            pytest.skip("PR_SET_PDEATHSIG is Linux-only")
        client.proc.kill()
    await asyncio.wait_for(client.proc.wait(), 10)
    assert await wait_dead(child), f"server pid {child} outlived the proxy ({how})"


async def test_nothing_but_protocol_on_stdout_and_nothing_on_stderr(tmp_path):
    """Server stderr lines go to the log file, not to the proxy's stderr."""
    log = tmp_path / "p.log"
    client = await Client.start(proxy_argv(log, *TINY))
    await client.handshake()
    await client.until(lambda m: m.get("id") == "register_lean_watcher")
    assert await client.shutdown() == 0
    assert await client.stderr() == b""
    assert "lsp_proxy.lean.stderr: tiny server ready" in log.read_text()
