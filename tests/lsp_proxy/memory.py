"""In-memory editor and server ends for driving a :class:`Router` without processes."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from lsp_proxy.framing import encode_frame


def frame(message: dict) -> bytes:
    return encode_frame(json.dumps({"jsonrpc": "2.0", **message}, separators=(",", ":")).encode())


class FrameSink:
    """A ByteSink that splits what is written into frames and queues the raw bodies."""

    def __init__(self) -> None:
        self._buf = b""
        self.bodies: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = False
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self._buf += data
        while True:
            head, sep, rest = self._buf.partition(b"\r\n\r\n")
            if not sep:
                return
            length = int(head.split(b":")[1])
            if len(rest) < length:
                return
            self.bodies.put_nowait(rest[:length])
            self._buf = rest[length:]

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def close(self) -> None:
        self.closed = True

    async def body(self, timeout: float = 2.0) -> bytes:
        return await asyncio.wait_for(self.bodies.get(), timeout)

    async def message(self, timeout: float = 2.0) -> dict:
        return json.loads(await self.body(timeout))

    def nothing_pending(self) -> bool:
        return self.bodies.empty()


class MemoryServer:
    """A ServerHandle whose behaviour is a Python callback ``handler(server, message)``."""

    def __init__(self, handler: Callable[[MemoryServer, dict], Any], number: int) -> None:
        self.number = number
        self.handler = handler
        self.stdout = asyncio.StreamReader()
        self.stdin = _ServerStdin(self)
        self.received: list[dict] = []
        self.raw_received: list[bytes] = []
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.pid = None

    def send(self, message: dict) -> None:
        self.stdout.feed_data(frame(message))

    def send_raw(self, data: bytes) -> None:
        self.stdout.feed_data(data)

    def crash(self, code: int = 3) -> None:
        if not self._exit.done():
            self.stdout.feed_eof()
            self._exit.set_result(code)

    async def wait(self) -> int:
        return await self._exit

    async def stop(self, grace: float = 2.0) -> int:
        self.crash(0)
        return await self._exit


class _ServerStdin(FrameSink):
    def __init__(self, server: MemoryServer) -> None:
        super().__init__()
        self._server = server

    def write(self, data: bytes) -> None:
        if self._server._exit.done():
            raise BrokenPipeError("server gone")
        super().write(data)
        while not self.bodies.empty():
            body = self.bodies.get_nowait()
            self._server.raw_received.append(body)
            try:
                message = json.loads(body)
            except ValueError:  # not UTF-8 / not JSON: kept in raw_received only
                continue
            self._server.received.append(message)
            self._server.handler(self._server, message)


def lean_like(server: MemoryServer, message: dict) -> None:
    """Default handler: the handshake, echo for ``test/echo``, nothing for the rest."""
    method = message.get("method")
    if method == "initialize":
        server.send({"id": message["id"], "result": {"capabilities": {"hoverProvider": True}}})
    elif method == "initialized":
        server.send({"id": "register_lean_watcher", "method": "client/registerCapability", "params": {}})
    elif method == "test/echo":
        server.send({"id": message["id"], "result": {"echo": message.get("params")}})
    elif method == "shutdown":
        server.send({"id": message["id"], "result": None})
    elif method == "exit":
        server.crash(0)


class Session:
    """A Router wired to an in-memory editor and a series of MemoryServers."""

    def __init__(self, handler: Callable[[MemoryServer, dict], Any] = lean_like, **router_kwargs: Any) -> None:
        from lsp_proxy.router import Router
        from lsp_proxy.supervisor import RestartPolicy

        self.editor_in = asyncio.StreamReader()
        self.editor = FrameSink()
        self.servers: list[MemoryServer] = []
        self.handler = handler
        router_kwargs.setdefault("policy", RestartPolicy(backoff=(0.0,), max_per_minute=3))
        router_kwargs.setdefault("stop_grace", 0.5)
        self.router = Router(self.editor_in, self.editor, self._spawn, **router_kwargs)
        self.task: asyncio.Task[int] | None = None

    async def _spawn(self) -> MemoryServer:
        server = MemoryServer(self.handler, len(self.servers) + 1)
        self.servers.append(server)
        return server

    @property
    def server(self) -> MemoryServer:
        return self.servers[-1]

    def start(self) -> None:
        self.task = asyncio.ensure_future(self.router.run())

    def send(self, message: dict) -> None:
        self.editor_in.feed_data(frame(message))

    def send_raw(self, data: bytes) -> None:
        self.editor_in.feed_data(data)

    async def handshake(self) -> None:
        self.start()
        self.send({"id": 0, "method": "initialize", "params": {"capabilities": {}}})
        assert (await self.editor.message())["id"] == 0
        self.send({"method": "initialized", "params": {}})
        assert (await self.editor.message())["id"] == "register_lean_watcher"

    async def close(self) -> int:
        self.editor_in.feed_eof()
        assert self.task is not None
        return await asyncio.wait_for(self.task, 5)
