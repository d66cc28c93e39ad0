"""Talk to Lean without an editor: spawn ``lake serve`` / ``lean --server`` and be its client.

``await start_lean(cmd, cwd)`` spawns the server with the proxy's own
:class:`~lsp_proxy.transport.LeanProcess` (own process group, under the subreaper on Linux;
stderr goes line by line to the ``lsp_proxy.lean.stderr`` logger, never to our stdout/stderr),
performs the
``initialize`` → ``initialized`` handshake (lean-lsp-protocol.md §1.2) and returns a
:class:`~lsp_proxy.lean_client.LeanClient` over a :class:`HeadlessConnection`. Lean's
server→client requests (``client/registerCapability``, ``workspace/*/refresh``) are answered
with ``null``. ``await client.shutdown()`` sends ``shutdown`` then ``exit`` and kills the
process group if Lean does not leave in time. Used by ``fill-sorries`` and the tests.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import msgspec

from lsp_proxy import methods
from lsp_proxy.connection import SERVER_EXITED, NotificationCallback, Subscribers
from lsp_proxy.errors import FramingError, LeanExited, LeanRequestError, LeanTimeout
from lsp_proxy.framing import FrameReader, encode_frame
from lsp_proxy.lean_client import LeanClient
from lsp_proxy.pending import TO_LEAN_PREFIX, PendingRequests
from lsp_proxy.transport import LeanProcess, ServerCommand

logger = logging.getLogger(__name__)
stderr_logger = logging.getLogger("lsp_proxy.lean.stderr")

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def client_capabilities() -> dict[str, Any]:
    """The capabilities we declare: enough for Lean's extensions (§1.2), no incremental
    diagnostics (we would have to rebuild lists), silent diagnostics on (like vscode-lean4)."""
    return {
        "textDocument": {
            "publishDiagnostics": {"relatedInformation": True, "versionSupport": True},
            "synchronization": {"didSave": True, "dynamicRegistration": False},
        },
        "workspace": {"applyEdit": False},
        "window": {"showDocument": {"support": False}},
        "lean": {"silentDiagnosticSupport": True},
    }


class HeadlessConnection:
    """A :class:`~lsp_proxy.connection.LeanConnection` that owns the Lean process."""

    def __init__(self, process: LeanProcess, *, max_frame: int = 64 * 2**20) -> None:
        self._process = process
        self._reader = FrameReader(process.stdout, max_size=max_frame)
        self._write_lock = asyncio.Lock()
        self._pending = PendingRequests(TO_LEAN_PREFIX)  # the router's own book-keeping
        self._subscribers = Subscribers()
        self._initialize_result: dict[str, Any] | None = None
        self._closed = False
        self._shutting_down = False
        self._background: set[asyncio.Task[None]] = set()
        self._read_task = asyncio.ensure_future(self._read_loop())

    # ------------------------------------------------------------------ LeanConnection

    @property
    def initialize_result(self) -> dict[str, Any] | None:
        return self._initialize_result

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def subscribe(self, callback: NotificationCallback, methods: Collection[str] | None = None) -> Callable[[], None]:
        return self._subscribers.add(callback, methods)

    def set_private_uri(self, uri: str, private: bool = True) -> None:
        """No editor here: nothing to hide."""

    async def notify(self, method: str, params: dict[str, Any] | list[Any]) -> None:
        if not isinstance(params, (dict, list)):
            raise TypeError("params must be an object or array (Lean dies otherwise, §8.2)")
        await self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def request(self, method: str, params: dict[str, Any] | list[Any] | None, *, timeout: float | None = None) -> Any:
        if params is None and method not in methods.PARAMLESS_OK:
            raise TypeError("params must be an object or array (Lean dies otherwise, §8.2)")
        if self._closed:
            raise LeanExited("Lean has exited")
        request_id, future = self._pending.new()
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            await self._send(message)
            if timeout is None:
                return await asyncio.shield(future)
            try:
                return await asyncio.wait_for(asyncio.shield(future), timeout)
            except asyncio.TimeoutError:
                await self._cancel(request_id)
                raise LeanTimeout(f"{method} got no answer in {timeout:g} s") from None
        except asyncio.CancelledError:
            if not future.done():
                task = asyncio.ensure_future(self._cancel(request_id))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            raise
        finally:
            self._pending.discard(request_id)

    # ------------------------------------------------------------------ plumbing

    async def _cancel(self, request_id: str) -> None:
        if self._closed:
            return
        with contextlib.suppress(LeanExited, ConnectionError):
            await self._send({"jsonrpc": "2.0", "method": methods.CANCEL_REQUEST, "params": {"id": request_id}})

    async def _send(self, message: dict[str, Any]) -> None:
        if self._closed:
            raise LeanExited("Lean has exited")
        frame = encode_frame(_encoder.encode(message))
        async with self._write_lock:
            try:
                self._process.stdin.write(frame)
                await self._process.stdin.drain()
            except (ConnectionError, RuntimeError) as exc:
                raise LeanExited(f"cannot write to Lean: {exc}") from exc

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    body = await self._reader.read_frame()
                except FramingError as exc:
                    if exc.recoverable:
                        logger.warning("bad frame from Lean: %s", exc)
                        continue
                    logger.error("unreadable stream from Lean: %s", exc)
                    break
                if body is None:
                    break
                try:
                    message = _decoder.decode(body)
                except msgspec.DecodeError as exc:
                    logger.warning("undecodable message from Lean: %s", exc)
                    continue
                if isinstance(message, dict):
                    await self._dispatch(message)
        except Exception:
            logger.exception("headless read loop failed")
        finally:
            await self._on_exit()

    async def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is not None and "id" in message:
            # Lean's server->client requests: it ignores our replies, but answer anyway (§8.5).
            with contextlib.suppress(LeanExited):
                await self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            return
        if method is not None:
            self._deliver(method, message.get("params"))
            return
        request_id = message.get("id")
        if not self._pending.owns(request_id):
            return
        error = message.get("error")
        if isinstance(error, dict):
            failure = LeanRequestError(int(error.get("code", 0)), str(error.get("message", "")), error.get("data"))
            self._pending.resolve(request_id, error=failure)
        else:
            self._pending.resolve(request_id, result=message.get("result"))

    def _deliver(self, method: str, params: Any) -> None:
        self._subscribers.deliver(method, params)

    async def _on_exit(self) -> None:
        if self._closed:
            return
        self._closed = True
        code = None
        with contextlib.suppress(asyncio.TimeoutError):
            code = await asyncio.wait_for(self._process.wait(), 5)
        self._pending.fail_all(LeanExited, f"Lean exited (code {code})")
        level = logging.INFO if self._shutting_down else logging.WARNING
        logger.log(level, "Lean server exited with code %s", code)
        self._deliver(SERVER_EXITED, {"exitCode": code})

    def stderr_tail(self) -> str:
        """The last lines Lean wrote to stderr (for error messages)."""
        return self._process.stderr_tail()

    # ------------------------------------------------------------------ lifecycle

    async def initialize(
        self, root: Path, *, initialization_options: Mapping[str, Any] | None = None, timeout: float = 60.0
    ) -> dict[str, Any]:
        """``initialize`` then ``initialized``, nothing in between (§1.2)."""
        params: dict[str, Any] = {
            "processId": os.getpid(),
            "clientInfo": {"name": "lean-companion-headless"},
            "rootUri": (await asyncio.to_thread(root.resolve)).as_uri(),
            "capabilities": client_capabilities(),
        }
        if initialization_options is not None:
            params["initializationOptions"] = dict(initialization_options)
        result = await self.request(methods.INITIALIZE, params, timeout=timeout)
        self._initialize_result = result if isinstance(result, dict) else {}
        await self.notify(methods.INITIALIZED, {})
        return self._initialize_result

    async def shutdown(self, timeout: float = 10.0) -> int | None:
        """``shutdown`` → ``exit`` → wait; SIGTERM then SIGKILL the process group on timeout.
        Returns the exit code. Safe to call twice."""
        self._shutting_down = True
        if not self._closed:
            try:
                await self.request(methods.SHUTDOWN, None, timeout=timeout)
                await self._send({"jsonrpc": "2.0", "method": methods.EXIT})
                self._process.stdin.close()
            except (LeanExited, LeanTimeout, LeanRequestError) as exc:
                logger.warning("Lean did not shut down cleanly: %s", exc)
        try:
            await asyncio.wait_for(self._process.wait(), timeout)
        except asyncio.TimeoutError:
            self._kill(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), 3)
            except asyncio.TimeoutError:
                self._kill(signal.SIGKILL)
                await self._process.wait()
        await self._process.stderr_done()
        await asyncio.gather(self._read_task, return_exceptions=True)
        return self._process.returncode

    def _kill(self, sig: int) -> None:
        self._process.kill(sig)


async def spawn(cmd: list[str], cwd: Path, *, env: Mapping[str, str] | None = None) -> HeadlessConnection:
    """Start the Lean server process (the proxy's LeanProcess: own process group, fork-safe
    spawn, descendants taken down with us) and wrap it; no handshake yet."""
    logger.info("starting Lean: %s (cwd %s)", " ".join(cmd), cwd)
    process = await LeanProcess.spawn(ServerCommand(list(cmd), cwd=str(cwd), env=dict(env) if env else None))
    return HeadlessConnection(process)


async def start_lean(
    cmd: list[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    initialization_options: Mapping[str, Any] | None = None,
    request_timeout: float = 30.0,
    init_timeout: float = 120.0,
) -> LeanClient:
    """Spawn Lean (``cmd`` e.g. ``["lake", "serve", "--"]``), initialise it and return a
    :class:`LeanClient` over it; ``await client.shutdown()`` stops it. If the handshake
    fails the process is killed and the error (with the tail of Lean's stderr) re-raised;
    a command that cannot be executed raises ``OSError``."""
    connection = await spawn(cmd, Path(cwd), env=env)
    try:
        await connection.initialize(Path(cwd), initialization_options=initialization_options, timeout=init_timeout)
    except (LeanExited, LeanTimeout) as exc:
        await connection.shutdown(timeout=2.0)
        tail = connection.stderr_tail()
        message = f"Lean did not start ({' '.join(cmd)} in {cwd}): {exc}"
        raise type(exc)(message + (f"\nLean's stderr:\n{tail}" if tail else "")) from exc
    except BaseException:
        await connection.shutdown(timeout=2.0)
        raise
    return LeanClient(connection, request_timeout=request_timeout)
