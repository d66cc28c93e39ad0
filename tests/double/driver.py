"""The double's own tests' client: the shared raw-bytes LSP client (tests/lsp_client.py) with
async sending and Lean-flavoured conveniences (tests only)."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from tests.lean_double import MAIN
from tests.lsp_client import LspClient, frame

__all__ = ["FAST", "REPO_ROOT", "Driver", "frame"]

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST = ("--elab-delay-ms", "20")


class Driver(LspClient):
    """Spawns the double and exchanges frames with it; keeps every message received.

    ``raw`` is every byte received (headers included).
    """

    @classmethod
    async def start(cls, *options: str, scenario: str | Path | None = None, module: bool = False) -> Driver:  # type: ignore[override]
        argv = ["-m", "tests.lean_double"] if module else [str(MAIN)]
        if scenario is not None:
            argv += ["--scenario", str(scenario)]
        return await super().start([sys.executable, *argv, *options], cwd=REPO_ROOT if module else "/")

    @property
    def raw(self) -> bytearray:
        return self.stream

    @property
    def arrived(self) -> asyncio.Event:
        return self._arrived

    # ---------------------------------------------------------------- sending (awaited: drained)

    async def send(self, message: dict[str, Any]) -> None:  # type: ignore[override]
        super().send(message)
        await self.drain()

    async def send_raw(self, data: bytes) -> None:  # type: ignore[override]
        super().send_raw(data)
        await self.drain()

    async def notify(self, method: str, params: Any = None) -> None:  # type: ignore[override]
        super().notify(method, *(() if params is None else (params,)))
        await self.drain()

    async def send_request(self, method: str, params: Any = None, id_: int | str | None = None) -> int | str:  # type: ignore[override]
        rid = super().send_request(method, *(() if params is None else (params,)), id_=id_)
        await self.drain()
        return rid

    async def request(self, method: str, params: Any = None, *, timeout: float = 5.0,  # type: ignore[override]
                      id_: int | str | None = None) -> dict[str, Any]:
        """Send a request and return the whole reply message (``result`` or ``error``)."""
        rid = await self.send_request(method, params, id_)
        return await self.reply(rid, timeout=timeout)

    async def reply(self, rid: int | str, *, timeout: float = 5.0) -> dict[str, Any]:
        return await self.wait_for(lambda m: m.get("id") == rid and ("result" in m or "error" in m), timeout=timeout)

    async def wait_for(self, predicate: Any, *, timeout: float = 5.0, start: int = 0) -> dict[str, Any]:
        try:
            return await super().wait_for(predicate, timeout=timeout, start=start)
        except EOFError:
            raise EOFError("the double closed its stdout") from None

    # ---------------------------------------------------------------- conveniences

    async def initialize(self, capabilities: dict[str, Any] | None = None) -> dict[str, Any]:  # type: ignore[override]
        reply = await self.request("initialize", {"processId": None, "rootUri": None,
                                                  "capabilities": capabilities if capabilities is not None else {}})
        await self.notify("initialized", {})
        await self.wait_for(lambda m: m.get("id") == "register_lean_watcher")
        return reply

    async def open(self, uri: str, text: str, version: int = 1) -> None:
        await self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "lean",
                                                                    "version": version, "text": text}})

    async def change(self, uri: str, version: int, changes: list[dict[str, Any]]) -> None:
        await self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                     "contentChanges": changes})

    async def diagnostics(self, uri: str, version: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait for ``version`` to finish; return the last diagnostics published for it."""
        reply = await self.request("textDocument/waitForDiagnostics", {"uri": uri, "version": version}, timeout=timeout)
        assert reply.get("result") == {}, reply
        published = [p for p in self.notifications("textDocument/publishDiagnostics", uri) if p["version"] == version]
        return published[-1]["diagnostics"]

    async def goal(self, uri: str, line: int, character: int) -> Any:
        reply = await self.request("$/lean/plainGoal", {"textDocument": {"uri": uri},
                                                        "position": {"line": line, "character": character}})
        return reply["result"]

    async def shutdown(self, timeout: float = 5.0) -> int:  # type: ignore[override]
        """shutdown + exit; returns the exit code."""
        reply = await self.request("shutdown")
        assert reply == {"jsonrpc": "2.0", "id": reply["id"], "result": None}, reply
        await self.notify("exit")
        return await self.wait_exit(timeout)

    async def wait_exit(self, timeout: float = 5.0) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stderr_text(self) -> str:
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode("utf-8", "replace")
