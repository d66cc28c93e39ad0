"""The one raw-bytes LSP test client: spawns a server command and talks LSP over its pipes.

It is deliberately independent of ``lsp_proxy.framing`` (a proxy bug in framing must not hide
behind the same bug in its test client) and keeps everything it received, in order: every byte
(``stream``), every body (``bodies``) and every decoded message (``messages``), so tests can
compare sessions byte for byte. A background task reads; tests wait for what they need with
:meth:`LspClient.wait_for`, :meth:`LspClient.reply` or the sequential cursor
(:meth:`LspClient.next_message`, :meth:`LspClient.until`).

Requests from the server to the client (``client/registerCapability``, refresh requests,
``workspace/applyEdit``) are answered by ``answer(message) -> result`` when one is given
(:func:`answer_null` answers every one with ``null``, as VS Code does for the refreshes).

``tests/lsp_proxy/client.py`` (``Client``), ``tests/double/driver.py`` (``Driver``) and
``tests/features/session.py`` (``Session``) are thin shells over this class, keeping the names
their tests use.
"""
from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
UNSET: Any = object()

Answer = Callable[[dict[str, Any]], Any]


def frame(message: dict[str, Any]) -> bytes:
    """``Content-Length`` framing of exactly this message (UTF-8 JSON; nothing added)."""
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def answer_null(_message: dict[str, Any]) -> Any:
    """Answer every server→client request with ``null``."""
    return None


def is_reply(message: dict[str, Any], id_: Any = UNSET) -> bool:
    """A response (no ``method``), optionally to ``id_`` (``1`` and ``"1"`` differ)."""
    if "method" in message or not ("result" in message or "error" in message):
        return False
    return id_ is UNSET or (message.get("id") == id_ and type(message.get("id")) is type(id_))


class LspClient:
    """One server process and the client side of its stdio connection."""

    def __init__(self, proc: asyncio.subprocess.Process, *, answer: Answer | None = None) -> None:
        self.proc = proc
        self.answer = answer
        self.stream = bytearray()  # every byte read from the server, headers included
        self.bodies: list[bytes] = []  # every message body, as received
        self.messages: list[dict[str, Any]] = []  # the same, decoded
        self.sent: list[bytes] = []  # every body written, in order
        self.undecodable = False  # a header without Content-Length or a body that is not JSON
        self.next_id = 1
        self._cursor = 0  # for next_message / until / reply_to
        self._arrived = asyncio.Event()
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, argv: list[str], *, cwd: str | Path = REPO, env: dict[str, str] | None = None,
                    answer: Answer | None = None, replace_env: bool = False, **kwargs: Any) -> Any:
        """Spawn ``argv`` (stdin/stdout pipes; stderr kept for :meth:`stderr`)."""
        environ = dict(env or {}) if replace_env else {**os.environ, **(env or {})}
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=str(cwd), env=environ, limit=64 * 1024 * 1024)
        return cls(proc, answer=answer, **kwargs)

    # ---------------------------------------------------------------- reading

    async def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            while True:
                header = await out.readuntil(b"\r\n\r\n")
                self.stream += header
                length = None
                for line in header[:-4].split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length is None:
                    self.undecodable = True
                    self.stream += await out.read()
                    return
                body = await out.readexactly(length)
                self.stream += body
                try:
                    message = json.loads(body)
                except ValueError:
                    self.undecodable = True
                    continue
                self.bodies.append(body)
                self.messages.append(message)
                self._on_message(message)
                self._arrived.set()
        except asyncio.IncompleteReadError as exc:
            self.stream += exc.partial
        except (asyncio.LimitOverrunError, ValueError):
            self.undecodable = True
        finally:
            self._arrived.set()

    def _on_message(self, message: dict[str, Any]) -> None:
        """Hook for subclasses; answers server→client requests when ``answer`` is set."""
        if self.answer is not None and "method" in message and "id" in message:
            self._write({"id": message["id"], "result": self.answer(message)})

    @property
    def closed(self) -> bool:
        """The server closed its output."""
        return self.reader.done()

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 10.0,
                       start: int = 0) -> dict[str, Any]:
        """The first message from index ``start`` on matching ``predicate``, waiting if needed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = start
        while True:
            while seen < len(self.messages):
                message = self.messages[seen]
                seen += 1
                if predicate(message):
                    return message
            if self.reader.done():
                raise EOFError("the server closed its output")
            self._arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("no matching message")
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def reply(self, id_: Any, *, timeout: float = 10.0) -> dict[str, Any]:
        """The response to request ``id_`` (``result`` or ``error``)."""
        return await self.wait_for(lambda m: is_reply(m, id_), timeout=timeout)

    async def next_message(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next message after the sequential cursor (each message is returned once)."""
        index = self._cursor
        message = await self.wait_for(lambda _m: True, timeout=timeout, start=index)
        self._cursor = index + 1
        return message

    async def until(self, predicate: Callable[[dict[str, Any]], bool],
                    timeout: float = 10.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Advance the cursor to the next message matching; returns it and the ones skipped."""
        before = []
        while True:
            message = await self.next_message(timeout)
            if predicate(message):
                return message, before
            before.append(message)

    def notifications(self, method: str, uri: str | None = None) -> list[Any]:
        """``params`` of every notification ``method`` received (for ``uri``, when given)."""
        def uri_of(params: Any) -> Any:
            if not isinstance(params, dict):
                return None
            return params.get("uri", (params.get("textDocument") or {}).get("uri"))
        return [m.get("params") for m in self.messages
                if m.get("method") == method and "id" not in m and (uri is None or uri_of(m.get("params")) == uri)]

    # ---------------------------------------------------------------- writing

    def send_raw(self, data: bytes) -> None:
        self._write_raw(data)

    def _write_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    def send(self, message: dict[str, Any]) -> None:
        """Write one message (``"jsonrpc": "2.0"`` added when absent)."""
        self._write(message)

    def _write(self, message: dict[str, Any]) -> None:
        data = frame(message if "jsonrpc" in message else {"jsonrpc": "2.0", **message})
        self.sent.append(data[data.index(b"\r\n\r\n") + 4:])
        self._write_raw(data)

    async def drain(self) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.drain()

    def notify(self, method: str, params: Any = UNSET) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not UNSET:
            message["params"] = params
        self._write(message)

    def send_request(self, method: str, params: Any = UNSET, id_: Any = None) -> Any:
        """Write a request; returns its id (the next integer unless ``id_`` is given)."""
        if id_ is None:
            id_, self.next_id = self.next_id, self.next_id + 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not UNSET:
            message["params"] = params
        self._write(message)
        return id_

    async def request(self, method: str, params: Any = UNSET, *, timeout: float = 10.0,
                      id_: Any = None) -> dict[str, Any]:
        """Send a request and wait for the whole reply message."""
        rid = self.send_request(method, params, id_)
        await self.drain()
        return await self.reply(rid, timeout=timeout)

    # ---------------------------------------------------------------- lifecycle

    async def handshake(self, capabilities: dict[str, Any] | None = None, *, root_uri: str | None = None,
                        timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """``initialize`` (id 0) then ``initialized``; returns the reply."""
        reply = await self.request("initialize", {"processId": None, "rootUri": root_uri,
                                                  "capabilities": capabilities or {}, **params},
                                   timeout=timeout, id_=0)
        self.notify("initialized", {})
        await self.drain()
        return reply

    async def shutdown(self, timeout: float = 10.0, id_: Any = "bye") -> int:
        """``shutdown`` + ``exit``, then close stdin as an editor does; returns the exit code."""
        reply = await self.request("shutdown", None, timeout=timeout, id_=id_)
        assert "error" not in reply, reply
        self.notify("exit")
        await self.drain()
        self.close_stdin()
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        if not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    async def stderr(self, timeout: float = 5.0) -> bytes:
        assert self.proc.stderr is not None
        return await asyncio.wait_for(self.proc.stderr.read(), timeout)

    async def kill(self) -> None:
        """Kill the process if it still runs and stop reading."""
        if self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            await self.proc.wait()
        self.reader.cancel()
