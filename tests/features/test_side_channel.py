"""The companion's requests over the proxy's fallback side channel (docs/editor-protocol.md §6,
lsp_proxy/side_channel.py) of a real `lean-companion serve`: the features answer there exactly
as on the LSP connection."""
from __future__ import annotations

import asyncio
import json
import os
import stat

from lsp_proxy.framing import FrameReader, encode_frame
from tests.features.session import Session

SORRY_FILE = "theorem add_zero' (n : Nat) : n + 0 = n := by\n  sorry\n"


def _frame(message: dict) -> bytes:
    return encode_frame(json.dumps({"jsonrpc": "2.0", **message}).encode())


async def _connect(path: str):
    reader, writer = await asyncio.open_unix_connection(path)
    return FrameReader(reader), writer


async def test_side_channel_answers_companion_requests(tmp_path, scenario):
    """Through the side channel found by its status file, a wrong token is refused; with the
    right one, the features answer status and suggest as on the LSP connection, Lean methods are
    not served there, and the files are removed when the proxy exits."""
    session = await Session.start(tmp_path, scenario=scenario)
    runtime = tmp_path / "runtime"
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        status_file = runtime / f"{session.proc.pid}.json"
        for _ in range(100):
            if status_file.exists():
                break
            await asyncio.sleep(0.05)
        info = json.loads(status_file.read_text())
        assert stat.S_IMODE(os.stat(status_file).st_mode) == 0o600
        assert info["pid"] == session.proc.pid and len(info["token"]) == 32 and info["root"] == str(session.root)

        frames, writer = await _connect(info["socket"]["path"])
        writer.write(_frame({"id": 1, "method": "$/leanCompanion/hello", "params": {"token": "0" * 32}}))
        await writer.drain()
        assert await asyncio.wait_for(frames.read_frame(), 5) is None  # closed
        writer.close()

        frames, writer = await _connect(info["socket"]["path"])
        writer.write(_frame({"id": 1, "method": "$/leanCompanion/hello",
                             "params": {"token": info["token"], "client": "test"}}))
        writer.write(_frame({"id": 2, "method": "$/leanCompanion/status", "params": {}}))
        writer.write(_frame({"id": 3, "method": "$/leanCompanion/suggest", "params": {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}}}))
        writer.write(_frame({"id": 4, "method": "textDocument/hover", "params": {}}))
        await writer.drain()
        replies = {}
        while len(replies) < 4:
            message = json.loads(await asyncio.wait_for(frames.read_frame(), 20))
            replies[message["id"]] = message
        assert replies[1]["result"]["protocolVersion"] == 1
        assert replies[2]["result"]["pid"] == session.proc.pid
        assert replies[3]["result"]["goal"] == "n : Nat\n⊢ n + 0 = n" and replies[3]["result"]["suggestions"]
        assert replies[4]["error"]["code"] == -32601
        writer.close()
    finally:
        await session.close()
    assert not status_file.exists()
    assert not os.path.exists(info["socket"]["path"])  # noqa: ASYNC240 (after the session, nothing else runs)
