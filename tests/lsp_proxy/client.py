"""The proxy tests' client: the shared raw-bytes LSP client (tests/lsp_client.py) read in order.

``message()``/``body()``/``until()``/``reply_to()`` consume messages one by one from a cursor;
``raw`` is every body consumed so far (what byte-faithfulness tests compare).
"""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from tests.lsp_client import REPO, LspClient

__all__ = ["REPO", "TINY", "Client", "proxy_argv"]


def proxy_argv(log_file: Path, *server: str) -> list[str]:
    return [sys.executable, "-m", "lsp_proxy", "--log-file", str(log_file), "--log-level", "DEBUG", "--", *server]


TINY = [sys.executable, "-m", "tests.lsp_proxy.tiny_server"]


class Client(LspClient):
    """Spawns a command and talks LSP to it; ``raw`` keeps every body read so far."""

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str] | None = None, cwd: Path = REPO,  # type: ignore[override]
                    **kwargs: Any) -> Client:
        return await super().start(argv, env=env, cwd=cwd, **kwargs)

    @property
    def raw(self) -> list[bytes]:
        return self.bodies[: self._cursor]

    async def body(self, timeout: float = 10) -> bytes:
        try:
            await self.next_message(timeout)
        except EOFError:
            raise AssertionError("the server closed its output") from None
        return self.bodies[self._cursor - 1]

    async def message(self, timeout: float = 10) -> dict:
        return json.loads(await self.body(timeout))

    async def until(self, predicate, timeout: float = 10) -> tuple[dict, list[dict]]:  # type: ignore[override]
        """Read until a message matches; returns it and everything read before it."""
        before = []
        while True:
            msg = await self.message(timeout)
            if predicate(msg):
                return msg, before
            before.append(msg)

    async def reply_to(self, id_: Any, timeout: float = 10) -> tuple[dict, list[dict]]:
        return await self.until(lambda m: m.get("id") == id_ and "method" not in m, timeout)

    async def handshake(self, capabilities: dict | None = None, **kwargs: Any) -> dict:  # type: ignore[override]
        self.send({"id": 0, "method": "initialize", "params": {"capabilities": capabilities or {}, **kwargs}})
        reply, _ = await self.reply_to(0)
        self.send({"method": "initialized", "params": {}})
        return reply

    async def shutdown(self, timeout: float = 10) -> int:  # type: ignore[override]
        self.send({"id": "bye", "method": "shutdown", "params": None})
        await self.reply_to("bye", timeout)
        self.send({"method": "exit"})
        await self.drain()
        return await asyncio.wait_for(self.proc.wait(), timeout)
