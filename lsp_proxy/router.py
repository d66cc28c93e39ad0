"""The router: two pumps, one writer per direction, hooks, ids and injected requests.

Editor -> proxy -> Lean and Lean -> proxy -> editor. Each message is framed by
:mod:`lsp_proxy.framing`, its envelope decoded (:mod:`lsp_proxy.envelope`), and unless a hook
wants it, its **original bytes** are queued for the single writer of that direction, so order is
preserved. A message counts as *delivered to Lean* when the Lean writer takes it off its queue:
that is when the document mirror is updated and an editor request becomes in-flight. When Lean
dies, the :class:`~lsp_proxy.supervisor.Supervisor` accounts for everything delivered (documents
re-opened from the mirror, in-flight requests answered with errors) and everything still queued
goes to the restarted server.

:class:`Router` implements :class:`lsp_proxy.connection.EditorSession` (a LeanConnection) for features.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import msgspec

from lsp_proxy import envelope as wire
from lsp_proxy import methods as m
from lsp_proxy.connection import SERVER_EXITED, NotificationCallback, Subscribers
from lsp_proxy.documents import DocumentMirror
from lsp_proxy.envelope import Envelope, Id
from lsp_proxy.errors import (
    CODES_LEAN_ACCEPTS,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    EditorRequestError,
    FramingError,
    LeanExited,
    LeanRequestError,
    LeanTimeout,
)
from lsp_proxy.framing import DEFAULT_MAX_SIZE, FrameReader, encode_frame, encode_frames
from lsp_proxy.hooks import DROP, Direction, Hook, HookRegistry, reply_to_request, run_request_hook
from lsp_proxy.pending import (
    ALIAS_PREFIX,
    FROM_EDITOR,
    FROM_PROXY,
    INTERNAL,
    SERVER_ALIAS_PREFIX,
    TO_EDITOR_PREFIX,
    TO_LEAN_PREFIX,
    PendingRequests,
    is_reserved,
)
from lsp_proxy.supervisor import RestartPolicy, Supervisor
from lsp_proxy.transport import ByteSink, ServerHandle

logger = logging.getLogger(__name__)

_MIRRORED = frozenset({m.DID_OPEN, m.DID_CHANGE, m.DID_CLOSE})
_BATCH = 512

Spawn = Callable[[], Awaitable[ServerHandle]]


class Router:
    """A live editor <-> Lean session. ``await run()`` until the editor or Lean is done."""

    def __init__(
        self,
        editor_in: asyncio.StreamReader,
        editor_out: ByteSink,
        spawn: Spawn,
        *,
        hooks: HookRegistry | None = None,
        policy: RestartPolicy | None = None,
        max_frame: int = DEFAULT_MAX_SIZE,
        stop_grace: float = 2.0,
    ) -> None:
        self.hooks = hooks or HookRegistry()
        self.documents = DocumentMirror()
        self._editor_in = editor_in
        self._editor_out = editor_out
        self._spawn = spawn
        self._supervisor = Supervisor(self, policy or RestartPolicy())
        self._max_frame = max_frame
        self._stop_grace = stop_grace

        self._lean_queue: asyncio.Queue[tuple[bytes, Envelope | None, int]] = asyncio.Queue()
        self._editor_queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._to_lean = PendingRequests(TO_LEAN_PREFIX)
        self._to_editor = PendingRequests(TO_EDITOR_PREFIX)
        self._inflight: dict[Id, tuple[str, msgspec.Raw]] = {}  # editor requests delivered to Lean
        self._intercepted: dict[Id, asyncio.Task[None]] = {}
        self._aliases: dict[str, Id] = {}  # our alias -> the editor's reserved-looking id
        self._alias_of: dict[Id, str] = {}
        self._alias_counter = 0
        self._internal_ids: set[str] = set()
        self._subscribers = Subscribers()
        self._private: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

        self._init_params: bytes | None = None
        self._initialized_seen = False
        self._initialize_result: dict[str, Any] | None = None
        self._ready = asyncio.Event()  # the editor's `initialized` was delivered to Lean
        self._shutdown_requested = False
        self._exit_requested = False
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._swallow_watcher = False
        # Lean's server->client requests, by the id the editor sees -> Lean's own id. Lean's ids
        # restart at 0 in each new server process, so from the second one on the editor sees
        # "lcp-s<incarnation>:<id>" instead; ids of a dead server are remembered as stale so a
        # late editor reply to one is dropped instead of reaching the new server.
        self._server_requests: dict[Id, Id] = {}
        self._stale_server_requests: set[Id] = set()
        # Server->client refresh requests the editor did not declare support for (answered here).
        self._answer_refresh: frozenset[str] = m.REFRESH_REQUESTS
        self._logged: set[str] = set()  # one-time log lines already written
        # While a writer is idle (its queue empty, not draining), senders write straight to its
        # sink instead of waking the writer task: one event-loop hop less per message.
        self._lean_direct: ByteSink | None = None
        self._editor_direct: ByteSink | None = None
        # While a pump works through frames that arrived together, its output is corked and
        # written with one syscall (no suspension point in between, so order is unaffected).
        self._lean_batch: list[tuple[bytes, Envelope | None, int]] | None = None
        self._editor_batch: list[bytes] | None = None
        self._failed = False  # a core task died

    @property
    def incarnation(self) -> int:
        """How many Lean processes were started."""
        return self._supervisor.incarnation

    @property
    def restarts(self) -> int:
        return self._supervisor.restarts

    # ==== LeanConnection ===================================================================

    async def request(self, method: str, params: dict[str, Any] | list[Any], *, timeout: float | None = None) -> Any:
        """Send a request to Lean with an id the editor cannot use; see LeanConnection."""
        _check_params(params)
        if timeout is None:
            return await self._request(method, params)
        try:
            return await asyncio.wait_for(self._request(method, params), timeout)
        except asyncio.TimeoutError:
            raise LeanTimeout(f"Lean did not answer {method} within {timeout:g}s") from None

    async def _request(self, method: str, params: dict[str, Any] | list[Any]) -> Any:
        await self._wait_ready()
        id_, future = self._to_lean.new()
        self._enqueue_lean(wire.request(id_, method, params), None, FROM_PROXY)
        try:
            return await future
        except asyncio.CancelledError:
            if not future.done() or future.cancelled():
                self._enqueue_lean(wire.notification(m.CANCEL_REQUEST, {"id": id_}), None, FROM_PROXY)
            raise
        finally:
            self._to_lean.discard(id_)

    async def notify(self, method: str, params: dict[str, Any] | list[Any]) -> None:
        """Send a notification to Lean, in order with everything else sent to it."""
        _check_params(params)
        await self._wait_ready()
        self._enqueue_lean(wire.notification(method, params), None, FROM_PROXY)

    async def _wait_ready(self) -> None:
        """Wait until the editor's handshake reached Lean; LeanExited if the proxy stops first."""
        if not self._ready.is_set() and not self._stopping:
            ready = asyncio.ensure_future(self._ready.wait())
            stopped = asyncio.ensure_future(self._stop_event.wait())
            try:
                await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ready.cancel()
                stopped.cancel()
        if self._stopping or self._stop_event.is_set():
            raise LeanExited("the Lean server has been stopped")

    def subscribe(self, callback: NotificationCallback, methods: Collection[str] | None = None) -> Callable[[], None]:
        """Call ``callback(method, params)`` for Lean's notifications of ``methods`` (default:
        all) and the pseudo-notifications; only those are decoded."""
        return self._subscribers.add(callback, methods)

    def set_private_uri(self, uri: str, private: bool = True) -> None:
        """Lean's notifications about ``uri`` go to subscribers only, never to the editor."""
        if private:
            self._private.add(uri)
        else:
            self._private.discard(uri)

    @property
    def initialize_result(self) -> dict[str, Any] | None:
        """Lean's own InitializeResult (before any initialize hook changed it)."""
        return self._initialize_result

    # ==== towards the editor ===============================================================

    async def request_editor(self, method: str, params: Any, *, timeout: float | None = None) -> Any:
        """Send a request to the editor (id ``"lcp-e:N"``); its reply never reaches Lean."""
        id_, future = self._to_editor.new()
        self._send_editor(wire.request(id_, method, params))
        try:
            return await asyncio.wait_for(future, timeout) if timeout is not None else await future
        except (asyncio.CancelledError, asyncio.TimeoutError):
            self._send_editor(wire.notification(m.CANCEL_REQUEST, {"id": id_}))
            raise
        finally:
            self._to_editor.discard(id_)

    async def notify_editor(self, method: str, params: Any) -> None:
        """Send a notification to the editor (e.g. ``window/showMessage``, ``$/progress``)."""
        self._send_editor(wire.notification(method, params))

    # ==== lifecycle ========================================================================

    async def run(self) -> int:
        """Serve until the editor exits (or closes stdin) or a stop is requested; returns the exit code."""
        editor_writer = self._spawn_task(self._editor_writer(), "editor-writer")
        supervisor = self._spawn_task(self._supervisor.run(), "supervisor")
        editor_pump = self._spawn_task(self._editor_pump(), "editor-pump")
        stop_wait = self._spawn_task(self._stop_event.wait(), "stop-wait")
        watched = {editor_pump, supervisor, stop_wait}
        if hasattr(self._editor_out, "wait_closed"):
            watched.add(self._spawn_task(self._editor_gone(), "editor-gone"))
        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        self._stopping = True
        self._stop_event.set()
        if self._exit_requested and not supervisor.done():
            # The editor said `exit`: Lean is exiting by itself; give it a moment.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(supervisor), self._stop_grace)
        server = self._supervisor.server
        if server is not None:
            rc = await server.stop(self._stop_grace)
            if self._supervisor.server_rc is None:
                self._supervisor.server_rc = rc
        for task in (supervisor, editor_pump, stop_wait):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._to_lean.fail_all(LeanExited, "the Lean server has been stopped")
        self._notify_subscribers(SERVER_EXITED, {"exitCode": self._supervisor.server_rc})
        self._editor_queue.put_nowait(None)
        with contextlib.suppress(asyncio.TimeoutError, Exception):
            await asyncio.wait_for(editor_writer, self._stop_grace)
        for task in list(self._tasks):
            task.cancel()
        if self._failed:
            code = 70  # EX_SOFTWARE: a pump or writer died
        elif self._exit_requested and self._supervisor.server_rc is not None:
            code = self._supervisor.server_rc
        else:
            code = 0 if self._shutdown_requested else 1
        logger.info("proxy stopping with exit code %s", code)
        return code

    async def _editor_gone(self) -> None:
        """Returns when the editor closed its end of our output (EPIPE): nobody is listening."""
        await self._editor_out.wait_closed()  # type: ignore[attr-defined]
        if not self._stopping:
            logger.warning("the editor closed its end of the connection (EPIPE); stopping Lean and exiting")

    def request_stop(self) -> None:
        """Stop serving (signals): terminate Lean and return from :meth:`run`."""
        self._stop_event.set()

    def _spawn_task(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        if task.get_name() in _CORE_TASKS:
            # A pump or writer that dies is a bug; without it the session would freeze silently.
            logger.critical("the %s task died; ending the session instead of freezing (this is a bug)",
                            task.get_name(), exc_info=task.exception())
            self._failed = True
            self.request_stop()
        else:
            logger.error("task %s failed", task.get_name(), exc_info=task.exception())

    # ==== editor -> Lean ===================================================================

    async def _editor_pump(self) -> None:
        reader = FrameReader(self._editor_in, max_size=max(self._max_frame, PASS_THROUGH_MAX))
        try:
            await self._pump_editor_frames(reader)
        finally:
            self._flush_lean()

    async def _pump_editor_frames(self, reader: FrameReader) -> None:
        while True:
            if not reader.has_complete_frame():
                self._flush_lean()
            try:
                body = await reader.read_frame()
            except FramingError as exc:
                if exc.recoverable:
                    logger.warning("editor -> proxy: %s", exc)
                    continue
                logger.warning("editor -> proxy: %s; treating as end of input", exc)
                return
            if body is None:
                logger.info("the editor closed the connection")
                return
            if self._lean_batch is None:
                self._lean_batch = []
            try:
                self._from_editor(body)
            except Exception:
                logger.exception("routing an editor message failed; forwarding it unchanged")
                self._enqueue_lean(body, None, FROM_EDITOR)

    def _from_editor(self, body: bytes) -> None:
        try:
            env = wire.decode_envelope(body)
        except msgspec.DecodeError as exc:
            logger.warning("the editor sent a message that is not a JSON-RPC object (%s): %r", exc, body[:200])
            self._send_editor(wire.error_response(None, PARSE_ERROR, f"Parse error: {exc}"))
            return
        if len(body) > self._max_frame:
            self._pass_oversize(body, env)
            return
        method = env.method
        if method is None:  # a response to a request from Lean or from us
            if self._to_editor.owns(env.id):
                self._resolve_editor_reply(env)
                return
            reply = self._server_reply_id(env.id)
            if reply is None:
                logger.debug("dropped the editor's reply to %r, a request of a Lean server that is gone", env.id)
                return
            if env.error or env.jsonrpc != "2.0":
                body, env = self._lean_safe_reply(body, env)
            if reply != env.id:
                body, env = _with_id(body, reply)
            self._enqueue_lean(body, env, FROM_EDITOR)
            return
        if env.id is None:  # notification
            if method == m.CANCEL_REQUEST and self._cancel_from_editor(env):
                return
            if method.startswith(m.COMPANION_PREFIX) and not self.hooks.has_notification_hook(
                Direction.FROM_EDITOR, method
            ):
                logger.debug("dropped companion notification %s with no handler", method)
                return
            if not _params_ok(env, method) or env.jsonrpc != "2.0":
                body, env = _repaired(body, method)
            if self.hooks.has_transformer(Direction.FROM_EDITOR, method):
                params, changed = self.hooks.transform_params(Direction.FROM_EDITOR, method, wire.decode_any(env.params))
                if params is DROP:
                    return
                if changed:
                    body = wire.notification(method, params)
                    env = wire.decode_envelope(body)
            self._enqueue_lean(body, env, FROM_EDITOR)
            return
        # request
        if isinstance(env.id, bool):  # JSON-RPC ids are strings or numbers; Lean ignores a bool one
            self._send_editor(wire.error_response(env.id, INVALID_REQUEST,
                                                  "Invalid Request: the id must be a string or a number"))
            return
        if is_reserved(env.id):
            body, env = self._alias_request(body, env)
        if method == m.INITIALIZE and self.hooks.observes_initialize():
            try:
                self.hooks.notify_initialize(wire.decode_any(env.params) if env.params else None)
            except msgspec.DecodeError:
                pass  # forwarded as it is; Lean answers it
        if self.hooks.has_request_hook(method):
            params = wire.decode_any(env.params) if env.params else None
            hook = self.hooks.claim(method, params)
            if hook is not None:
                assert env.id is not None  # a request
                self._start_interceptor(hook, env.id, method, params)
                return
        elif method.startswith(m.COMPANION_PREFIX):
            self._send_editor(wire.error_response(self._editor_id(env.id), METHOD_NOT_FOUND,
                                                  f"No request handler found for '{method}'"))
            return
        if not _params_ok(env, method) or env.jsonrpc != "2.0":
            body, env = _repaired(body, method)
        self._enqueue_lean(body, env, FROM_EDITOR)

    def _cancel_from_editor(self, env: Envelope) -> bool:
        """Handle ``$/cancelRequest`` for requests the proxy answers; True if consumed."""
        target = wire.cancel_id(env.params)
        task = self._intercepted.get(target) if target is not None else None
        if task is not None:
            task.cancel()
            return True
        alias = self._alias_of.get(target) if target is not None else None
        if alias is not None:
            self._enqueue_lean(wire.notification(m.CANCEL_REQUEST, {"id": alias}), None, FROM_EDITOR)
            return True
        if is_reserved(target):
            # A late cancel for an aliased request that is already answered: its id is in our
            # namespace, so forwarding it would cancel one of the proxy's own requests.
            logger.debug("dropped a late $/cancelRequest for %r", target)
            return True
        return False

    def _pass_oversize(self, body: bytes, env: Envelope) -> None:
        """A message over the decode limit goes to Lean untouched and undecoded; a document it
        changes becomes unknown to the mirror until a full didOpen/didChange."""
        self._log_once("oversize", logging.WARNING, "forwarding a %d-byte %s undecoded (over the %d-byte decode "
                       "limit); its document is no longer mirrored (logged once)", len(body), env.method, self._max_frame)
        if env.method in _MIRRORED:
            self.documents.mark_unknown(wire.document_uri(env.params))
        self._enqueue_lean(body, None, FROM_EDITOR)

    def _alias_request(self, body: bytes, env: Envelope) -> tuple[bytes, Envelope]:
        """Give an editor request whose id looks like ours an alias, so ids never collide."""
        self._alias_counter += 1
        alias = f"{ALIAS_PREFIX}{self._alias_counter}"
        self._aliases[alias] = env.id  # type: ignore[assignment]
        self._alias_of[env.id] = alias  # type: ignore[index]
        message = wire.decode_any(body)
        message["id"] = alias
        body = wire.encode(message)
        return body, wire.decode_envelope(body)

    def _editor_id(self, id_: Id | None) -> Id | None:
        if isinstance(id_, str) and id_ in self._aliases:
            original = self._aliases.pop(id_)
            self._alias_of.pop(original, None)
            return original
        return id_

    def _server_reply_id(self, id_: Id | None) -> Id | None:
        """Lean's id for the editor's reply to one of Lean's requests; None if that request
        belonged to a server that has exited (the reply must not reach the new one)."""
        if id_ is None:
            return None
        original = self._server_requests.pop(id_, None)
        if original is not None:
            return original
        if id_ in self._stale_server_requests:
            self._stale_server_requests.discard(id_)
            return None
        return id_

    def _lean_safe_reply(self, body: bytes, env: Envelope) -> tuple[bytes, Envelope]:
        """Lean's watchdog exits on an error reply it cannot parse (§1.1, §12): a code outside
        its list, a ``message`` that is not a string, an ``error`` that is not an object, no
        ``jsonrpc``. Such replies are repaired (code -32603, message stringified); anything
        else passes byte for byte."""
        error = wire.decode_any(env.error) if env.error else None
        if env.jsonrpc == "2.0" and (error is None or _lean_parses_error(error)):
            return body, env
        message = wire.decode_any(body)
        message["jsonrpc"] = "2.0"
        if "error" in message:
            error = message["error"]
            if not isinstance(error, dict):
                error = {"code": INTERNAL_ERROR, "message": _as_text(error)}
            if not isinstance(error.get("code"), int) or error["code"] not in CODES_LEAN_ACCEPTS:
                self._log_once("error-code", logging.INFO, "editor replied with error code %r, which Lean cannot "
                               "parse; sent -32603 instead (logged once)", error.get("code"))
                error["code"] = INTERNAL_ERROR
            if not isinstance(error.get("message"), str):
                self._log_once("error-message", logging.WARNING, "editor replied with an error whose message is "
                               "not a string (%r); sent it as text (Lean would exit otherwise; logged once)",
                               error.get("message"))
                error["message"] = _as_text(error.get("message"))
            message["error"] = error
        body = wire.encode(message)
        return body, wire.decode_envelope(body)

    def _log_once(self, key: str, level: int, text: str, *args: Any) -> None:
        if key not in self._logged:
            self._logged.add(key)
            logger.log(level, text, *args)

    def _resolve_editor_reply(self, env: Envelope) -> None:
        if env.error:
            err = wire.decode_error(env.error)
            self._to_editor.resolve(env.id, error=EditorRequestError(err.code, err.message, err.data))
        else:
            self._to_editor.resolve(env.id, result=wire.decode_any(env.result) if env.result else None)

    def _start_interceptor(self, hook: Hook, id_: Id, method: str, params: Any) -> None:
        task = self._spawn_task(self._run_interceptor(hook, id_, method, params), f"intercept:{method}")
        self._intercepted[id_] = task

    async def _run_interceptor(self, hook: Hook, id_: Id, method: str, params: Any) -> None:
        reply_id = self._editor_id(id_)
        try:
            body = await reply_to_request(run_request_hook(hook, params), reply_id, method)
        finally:
            self._intercepted.pop(id_, None)
        self._send_editor(body)

    def _enqueue_lean(self, body: bytes, env: Envelope | None, origin: int) -> None:
        batch = self._lean_batch
        if batch is not None:
            batch.append((body, env, origin))
            if len(batch) >= _BATCH:
                self._flush_lean()
                self._lean_batch = []
            return
        sink = self._lean_direct
        if sink is not None and self._lean_queue.empty():
            self._deliver(body, env, origin)
            if not self._write_direct(sink, encode_frame(body), to_editor=False):
                self._lean_direct = None  # failed, or let the writer task drain (back-pressure)
            return
        self._lean_queue.put_nowait((body, env, origin))

    def _flush_lean(self) -> None:
        """Write the corked editor->Lean batch (directly if the writer is idle), then uncork."""
        batch, self._lean_batch = self._lean_batch, None
        if not batch:
            return
        sink = self._lean_direct
        if sink is None or not self._lean_queue.empty():
            for item in batch:
                self._lean_queue.put_nowait(item)
            return
        for body, env, origin in batch:
            self._deliver(body, env, origin)
        if not self._write_direct(sink, encode_frames(item[0] for item in batch), to_editor=False):
            self._lean_direct = None

    def _deliver(self, body: bytes, env: Envelope | None, origin: int) -> None:
        """Book-keeping at the moment a message is handed to Lean (or dropped while offline)."""
        if origin != FROM_EDITOR or env is None or env.method is None:
            return
        method = env.method
        if env.id is not None:
            self._inflight[env.id] = (method, env.params)
            if method == m.INITIALIZE:
                self._init_params = bytes(env.params) if env.params else b"{}"
                self._answer_refresh = _unsupported_refresh(self._init_params)
            elif method == m.SHUTDOWN:
                self._shutdown_requested = True
            return
        params: Any = None
        if method in _MIRRORED:
            params = self._mirror(method, env.params)
            if method != m.DID_CLOSE:
                self._supervisor.edit_arrived()
        elif method == m.INITIALIZED:
            self._initialized_seen = True
            self._ready.set()
        elif method == m.EXIT:
            self._exit_requested = True
            if self._supervisor.offline:
                self.request_stop()
        if self.hooks.has_observer(Direction.FROM_EDITOR, method):
            if params is None:
                try:
                    params = wire.decode_any(env.params) if env.params else None
                except msgspec.DecodeError:
                    return  # already forwarded; observers only see what can be decoded
            self.hooks.notify_observers(Direction.FROM_EDITOR, method, params)

    def _mirror(self, method: str, raw: msgspec.Raw) -> Any:
        """Apply a didOpen/didChange/didClose to the mirror; returns the decoded params, or
        None when the message cannot be applied (not UTF-8, wrong shapes): it has gone to Lean
        untouched anyway, and its document is unknown until a full didOpen/didChange."""
        try:
            params = wire.decode_any(raw)
            if method == m.DID_CHANGE:
                self.documents.did_change(params)
            elif method == m.DID_OPEN:
                self.documents.did_open(params)
            else:
                self.documents.did_close(params)
            return params
        except Exception as exc:
            uri = wire.document_uri(raw)
            self.documents.mark_unknown(uri)
            self._log_once(f"mirror:{method}", logging.WARNING, "could not mirror %s for %s (%s: %s); forwarded "
                           "unchanged, the document is unknown until a full didOpen/didChange (logged once per "
                           "method)", method, uri, type(exc).__name__, exc)
            return None

    async def _lean_writer(self, server: ServerHandle, replay: bool) -> None:
        queue = self._lean_queue
        stdin = server.stdin
        try:
            if replay:
                await self._supervisor.replay(server)
            direct_ok = not getattr(stdin, "write_needs_drain", False)
            while True:
                if queue.empty() and direct_ok:
                    self._lean_direct = stdin
                    try:
                        body, env, origin = await queue.get()
                    finally:
                        self._lean_direct = None
                else:
                    body, env, origin = await queue.get()
                bodies = []
                while True:
                    self._deliver(body, env, origin)
                    bodies.append(body)
                    if len(bodies) >= _BATCH or queue.empty():
                        break
                    body, env, origin = queue.get_nowait()
                stdin.write(encode_frames(bodies))
                await stdin.drain()
        except (ConnectionError, OSError) as exc:
            logger.info("writing to Lean failed (%s); it has exited", exc)

    # ==== Lean -> editor ===================================================================

    def _request_to_editor(self, body: bytes, id_: Id) -> bytes:
        """Remember a Lean request; from the second server process on, give it an id the
        editor has not seen (Lean's restart at 0)."""
        if self.incarnation <= 1:
            self._server_requests[id_] = id_
            return body
        visible = f"{SERVER_ALIAS_PREFIX}{self.incarnation}:{id_}"
        self._server_requests[visible] = id_
        return _with_id(body, visible)[0]

    async def _lean_pump(self, server: ServerHandle) -> None:
        reader = FrameReader(server.stdout, max_size=max(self._max_frame, PASS_THROUGH_MAX))
        try:
            await self._pump_lean_frames(reader)
        finally:
            self._flush_editor()

    async def _pump_lean_frames(self, reader: FrameReader) -> None:
        while True:
            if not reader.has_complete_frame():
                self._flush_editor()
            try:
                body = await reader.read_frame()
            except FramingError as exc:
                if exc.recoverable:
                    logger.warning("Lean -> proxy: %s", exc)
                    continue
                logger.warning("Lean -> proxy: %s", exc)
                return
            except (ConnectionError, OSError):
                return
            if body is None:
                return
            if self._editor_batch is None:
                self._editor_batch = []
            try:
                self._from_lean(body)
            except Exception:
                logger.exception("routing a Lean message failed; forwarding it unchanged")
                self._send_editor(body)

    def _from_lean(self, body: bytes) -> None:
        try:
            env = wire.decode_envelope(body)
        except msgspec.DecodeError as exc:
            logger.warning("Lean sent a message that is not a JSON-RPC object (%s); dropped: %r", exc, body[:200])
            return
        method = env.method
        if method is None:
            self._response_from_lean(body, env)
        elif env.id is not None:
            if self._swallow_watcher and env.id == m.LEAN_WATCHER_REGISTRATION_ID:
                # The restarted server registers its file watcher again; the editor already has it.
                self._swallow_watcher = False
                self._enqueue_lean(wire.response(env.id, None), None, INTERNAL)
                return
            if method in self._answer_refresh:
                # The editor did not declare support (Neovim 0.7 logs "no handler"): answer here.
                self._enqueue_lean(wire.response(env.id, None), None, INTERNAL)
                return
            self._send_editor(self._request_to_editor(body, env.id))
        elif not self._private and not self._subscribers.wants(method) and not self.hooks.has_notification_hook(
            Direction.FROM_LEAN, method
        ):
            self._send_editor(body)
        else:
            self._notification_from_lean(body, env, method)

    def _response_from_lean(self, body: bytes, env: Envelope) -> None:
        id_ = env.id
        if isinstance(id_, str) and id_.startswith("lcp"):
            if self._to_lean.owns(id_) and not id_.startswith(f"{TO_LEAN_PREFIX}init-"):
                if env.error:
                    err = wire.decode_error(env.error)
                    self._to_lean.resolve(id_, error=LeanRequestError(err.code, err.message, err.data))
                else:
                    self._to_lean.resolve(id_, result=wire.decode_any(env.result) if env.result else None)
                return
            if id_ in self._internal_ids:
                self._internal_ids.discard(id_)
                return
            if id_ in self._aliases:
                entry = self._inflight.pop(id_, None)
                message = wire.decode_any(body)
                message["id"] = self._editor_id(id_)
                body = wire.encode(message)
                env = wire.decode_envelope(body)
                self._forward_response(body, env, entry)
                return
            if self._to_lean.owns(id_):
                logger.debug("late reply to %s dropped", id_)
                return
        self._forward_response(body, env, self._inflight.pop(id_, None) if id_ is not None else None)

    def _forward_response(self, body: bytes, env: Envelope, entry: tuple[str, msgspec.Raw] | None) -> None:
        if entry is None:
            self._send_editor(body)
            return
        method, params = entry
        if method == m.INITIALIZE:
            self._send_editor(self._on_initialize_response(body, env))
        elif env.result and self.hooks.has_response_hook(method):
            self._spawn_task(self._transform_response(body, env, method, params), f"transform:{method}")
        else:
            self._send_editor(body)

    def _on_initialize_response(self, body: bytes, env: Envelope) -> bytes:
        if not env.result:
            return body
        try:
            self._initialize_result = wire.decode_any(env.result)
            if self.hooks.transforms_initialize():
                result, changed = self.hooks.transform_initialize(wire.decode_any(env.result))
                if changed:
                    return wire.encode({"jsonrpc": "2.0", "id": env.id, "result": result})
        except Exception:
            logger.exception("initialize hooks failed; Lean's capabilities passed on unchanged")
        return body

    async def _transform_response(self, body: bytes, env: Envelope, method: str, params_raw: msgspec.Raw) -> None:
        try:
            params = wire.decode_any(params_raw) if params_raw else None
            result, changed = await self.hooks.transform_result(method, params, wire.decode_any(env.result))
            if changed:
                body = wire.encode({"jsonrpc": "2.0", "id": env.id, "result": result})
        except asyncio.CancelledError:
            self._send_editor(body)
            raise
        except Exception:
            logger.exception("response transformers for %s failed; Lean's reply passed on unchanged", method)
        self._send_editor(body)

    def _notification_from_lean(self, body: bytes, env: Envelope, method: str) -> None:
        # Params are decoded at most once (publishDiagnostics can be megabytes); subscribers and
        # hooks share the decoded value and must not mutate it (transformers return new values).
        decoded = False
        params: Any = None
        if self._subscribers.wants(method):
            params, decoded = (wire.decode_any(env.params) if env.params else None), True
            self._notify_subscribers(method, params)
        if self._private and wire.document_uri(env.params) in self._private:
            return
        if self.hooks.has_notification_hook(Direction.FROM_LEAN, method):
            if not decoded:
                params = wire.decode_any(env.params) if env.params else None
            self.hooks.notify_observers(Direction.FROM_LEAN, method, params)
            if self.hooks.has_transformer(Direction.FROM_LEAN, method):
                params, changed = self.hooks.transform_params(Direction.FROM_LEAN, method, params)
                if params is DROP:
                    return
                if changed:
                    body = wire.notification(method, params)
        self._send_editor(body)

    def _notify_subscribers(self, method: str, params: Any) -> None:
        self._subscribers.deliver(method, params)

    def _send_editor(self, body: bytes) -> None:
        batch = self._editor_batch
        if batch is not None:
            batch.append(body)
            if len(batch) >= _BATCH:
                self._flush_editor()
                self._editor_batch = []
            return
        sink = self._editor_direct
        if sink is not None and self._editor_queue.empty():
            if not self._write_direct(sink, encode_frame(body), to_editor=True):
                self._editor_direct = None
            return
        self._editor_queue.put_nowait(body)

    def _flush_editor(self) -> None:
        """Write the corked Lean->editor batch (directly if the writer is idle), then uncork."""
        batch, self._editor_batch = self._editor_batch, None
        if not batch:
            return
        sink = self._editor_direct
        if sink is None or not self._editor_queue.empty():
            for body in batch:
                self._editor_queue.put_nowait(body)
            return
        if not self._write_direct(sink, encode_frames(batch), to_editor=True):
            self._editor_direct = None

    def _write_direct(self, sink: ByteSink, data: bytes, *, to_editor: bool) -> bool:
        """Write framed bytes straight to an idle writer's sink (one event-loop hop less).
        False when direct writing must stop: the sink failed (towards the editor: the session
        ends), or it buffers more than _DIRECT_LIMIT (the writer task drains: back-pressure)."""
        try:
            sink.write(data)
        except (ConnectionError, OSError, RuntimeError) as exc:
            if to_editor:
                logger.warning("writing to the editor failed (%s); stopping", exc)
                self.request_stop()
            else:
                logger.info("writing to Lean failed (%s); it has exited", exc)
            return False
        return _buffered(sink) <= _DIRECT_LIMIT

    async def _editor_writer(self) -> None:
        queue = self._editor_queue
        out = self._editor_out
        direct_ok = not getattr(out, "write_needs_drain", False)
        try:
            while True:
                if queue.empty() and direct_ok and not self._stopping:
                    self._editor_direct = out
                    try:
                        body = await queue.get()
                    finally:
                        self._editor_direct = None
                else:
                    body = await queue.get()
                if body is None:
                    await out.drain()
                    return
                bodies = [body]
                done = False
                while len(bodies) < _BATCH and not queue.empty():
                    body = queue.get_nowait()
                    if body is None:
                        done = True
                        break
                    bodies.append(body)
                out.write(encode_frames(bodies))
                await out.drain()
                if done:
                    return
        except (ConnectionError, OSError) as exc:
            logger.warning("writing to the editor failed (%s); stopping", exc)
            self.request_stop()

_DIRECT_LIMIT = 256 * 1024
# Frames up to this size are passed through (those over ``max_frame`` undecoded); beyond it a
# Content-Length is taken to be bogus and the reader resynchronises (lsp_proxy.framing).
PASS_THROUGH_MAX = 2**30
_CORE_TASKS = frozenset({"editor-pump", "editor-writer", "lean-pump", "lean-writer", "supervisor"})


def _buffered(sink: ByteSink) -> int:
    """Bytes the sink's transport still holds (0 when it has no transport)."""
    transport = getattr(sink, "transport", None)
    return transport.get_write_buffer_size() if transport is not None else 0


def _with_id(body: bytes, id_: Id | None) -> tuple[bytes, Envelope]:
    """The message re-encoded with another id (only for messages that must be rewritten)."""
    message = wire.decode_any(body)
    message["id"] = id_
    body = wire.encode(message)
    return body, wire.decode_envelope(body)


def _lean_parses_error(error: Any) -> bool:
    return (isinstance(error, dict) and isinstance(error.get("message"), str)
            and type(error.get("code")) is int and error["code"] in CODES_LEAN_ACCEPTS)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else wire.encode(value).decode("utf-8", "replace")


def _unsupported_refresh(init_params: bytes) -> frozenset[str]:
    """The ``workspace/*/refresh`` requests whose ``refreshSupport`` the editor did not declare."""
    try:
        params = wire.decode_any(init_params)
        workspace = params["capabilities"].get("workspace") or {}
    except (msgspec.DecodeError, KeyError, TypeError, AttributeError):
        return m.REFRESH_REQUESTS
    unsupported = set()
    for method, key in m.REFRESH_CAPABILITY.items():
        entry = workspace.get(key) if isinstance(workspace, dict) else None
        if not (isinstance(entry, dict) and entry.get("refreshSupport") is True):
            unsupported.add(method)
    return frozenset(unsupported)


def _check_params(params: Any) -> None:
    if not isinstance(params, (dict, list)):
        raise TypeError("params must be a dict or a list (Lean kills the server otherwise)")


def _params_ok(env: Envelope, method: str) -> bool:
    """Whether Lean will accept these params: an object or array (or none where allowed)."""
    raw = env.params
    if not raw:
        return method in m.PARAMLESS_OK
    return bytes(memoryview(raw)[:1]) in (b"{", b"[") or (method in m.PARAMLESS_OK and bytes(raw) == b"null")


def _repaired(body: bytes, method: str) -> tuple[bytes, Envelope]:
    """Add what Lean requires and the editor left out: ``jsonrpc`` and an object ``params``."""
    message = wire.decode_any(body)
    message["jsonrpc"] = "2.0"
    if message.get("params") is None and method not in m.PARAMLESS_OK:
        message["params"] = {}
        logger.info("%s arrived without params; sent with params {} (Lean would stop otherwise)", method)
    elif "params" in message and not isinstance(message["params"], (dict, list)):
        logger.warning("%s arrived with non-object params %r; sent with params {} instead", method, message["params"])
        message["params"] = {}
    body = wire.encode(message)
    return body, wire.decode_envelope(body)
