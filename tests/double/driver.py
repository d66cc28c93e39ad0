"""An independent little LSP client that drives the Lean test double over pipes (tests only)."""
from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.lean_double import MAIN

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST = ("--elab-delay-ms", "20")


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class Driver:
    """Spawns the double and exchanges frames with it; keeps every message received."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.messages: list[dict[str, Any]] = []
        self.raw = bytearray()
        self.undecodable = False
        self.arrived = asyncio.Event()
        self.next_id = 1
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *options: str, scenario: str | Path | None = None, module: bool = False) -> Driver:
        argv = ["-m", "tests.lean_double"] if module else [str(MAIN)]
        if scenario is not None:
            argv += ["--scenario", str(scenario)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, *options, cwd=REPO_ROOT if module else "/",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024)
        return cls(proc)

    async def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            while True:
                header = await out.readuntil(b"\r\n\r\n")
                self.raw += header
                length = None
                for line in header.decode("ascii", "replace").split("\r\n"):
                    if line.startswith("Content-Length: "):
                        length = int(line.split(": ", 1)[1])
                if length is None:
                    self.undecodable = True
                    self.raw += await out.read()
                    return
                body = await out.readexactly(length)
                self.raw += body
                self.messages.append(json.loads(body))
                self.arrived.set()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            if isinstance(exc, asyncio.IncompleteReadError):
                self.raw += exc.partial
        finally:
            self.arrived.set()

    # ---------------------------------------------------------------- sending

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_raw(frame(message))

    async def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def notify(self, method: str, params: Any = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        await self.send(msg)

    async def send_request(self, method: str, params: Any = None, id_: int | str | None = None) -> int | str:
        if id_ is None:
            id_, self.next_id = self.next_id, self.next_id + 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            msg["params"] = params
        await self.send(msg)
        return id_

    async def request(self, method: str, params: Any = None, *, timeout: float = 5.0, id_: int | str | None = None) -> dict[str, Any]:
        """Send a request and return the whole reply message (``result`` or ``error``)."""
        rid = await self.send_request(method, params, id_)
        return await self.reply(rid, timeout=timeout)

    async def reply(self, rid: int | str, *, timeout: float = 5.0) -> dict[str, Any]:
        return await self.wait_for(lambda m: m.get("id") == rid and ("result" in m or "error" in m), timeout=timeout)

    # ---------------------------------------------------------------- receiving

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 5.0, start: int = 0) -> dict[str, Any]:
        """The first message (from index ``start``) matching ``predicate``, waiting if needed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = start
        while True:
            while seen < len(self.messages):
                msg = self.messages[seen]
                seen += 1
                if predicate(msg):
                    return msg
            if self.reader.done():
                raise EOFError("the double closed its stdout")
            self.arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("no matching message")
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def notifications(self, method: str, uri: str | None = None) -> list[dict[str, Any]]:
        return [m["params"] for m in self.messages
                if m.get("method") == method and "id" not in m
                and (uri is None or m["params"].get("uri", m["params"].get("textDocument", {}).get("uri")) == uri)]

    # ---------------------------------------------------------------- conveniences

    async def initialize(self, capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
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

    async def shutdown(self, timeout: float = 5.0) -> int:
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

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.reader.cancel()
