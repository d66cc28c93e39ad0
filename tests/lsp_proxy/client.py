"""A minimal async LSP client over a subprocess's pipes, for end-to-end proxy tests."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from lsp_proxy.framing import FrameReader, encode_frame

REPO = Path(__file__).resolve().parents[2]


def proxy_argv(log_file: Path, *server: str) -> list[str]:
    return [sys.executable, "-m", "lsp_proxy", "--log-file", str(log_file), "--log-level", "DEBUG", "--", *server]


TINY = [sys.executable, "-m", "tests.lsp_proxy.tiny_server"]


class Client:
    """Spawns a command and talks LSP to it; keeps every raw body it received."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        assert proc.stdout is not None
        self._reader = FrameReader(proc.stdout)
        self.raw: list[bytes] = []

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str] | None = None, cwd: Path = REPO) -> Client:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=str(cwd), env={**os.environ, **(env or {})}, limit=2**24,
        )
        return cls(proc)

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    def send(self, message: dict) -> None:
        self.send_raw(encode_frame(json.dumps({"jsonrpc": "2.0", **message}, ensure_ascii=False).encode()))

    async def body(self, timeout: float = 10) -> bytes:
        body = await asyncio.wait_for(self._reader.read_frame(), timeout)
        assert body is not None, "the server closed its output"
        self.raw.append(body)
        return body

    async def message(self, timeout: float = 10) -> dict:
        return json.loads(await self.body(timeout))

    async def until(self, predicate, timeout: float = 10) -> tuple[dict, list[dict]]:
        """Read until a message matches; returns it and everything read before it."""
        before = []
        while True:
            msg = await self.message(timeout)
            if predicate(msg):
                return msg, before
            before.append(msg)

    async def reply_to(self, id_: Any, timeout: float = 10) -> tuple[dict, list[dict]]:
        return await self.until(lambda m: m.get("id") == id_ and "method" not in m, timeout)

    async def handshake(self, capabilities: dict | None = None) -> dict:
        self.send({"id": 0, "method": "initialize", "params": {"capabilities": capabilities or {}}})
        reply, _ = await self.reply_to(0)
        self.send({"method": "initialized", "params": {}})
        return reply

    async def shutdown(self, timeout: float = 10) -> int:
        self.send({"id": "bye", "method": "shutdown", "params": None})
        await self.reply_to("bye")
        self.send({"method": "exit"})
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stderr(self) -> bytes:
        assert self.proc.stderr is not None
        return await asyncio.wait_for(self.proc.stderr.read(), 5)

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
