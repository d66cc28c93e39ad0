"""Supervision of the Lean server: the restart policy, and :class:`Supervisor`, which owns the
server's life cycle for the router: spawn, wait, account for what was lost, restart with backoff,
replay the session into a new server, offline mode (crash loop, shutdown, a command that cannot
start)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from lsp_proxy import envelope as wire
from lsp_proxy import methods as m
from lsp_proxy.connection import SERVER_RESTARTED
from lsp_proxy.errors import CONTENT_MODIFIED, WORKER_CRASHED, LeanExited
from lsp_proxy.framing import encode_frames
from lsp_proxy.pending import FROM_EDITOR, TO_LEAN_PREFIX
from lsp_proxy.transport import ServerHandle

if TYPE_CHECKING:
    from lsp_proxy.router import Router

logger = logging.getLogger(__name__)


@dataclass
class RestartPolicy:
    """Wait ``backoff[n]`` seconds before the n-th consecutive restart; give up (until the next
    edit) after more than ``max_per_minute`` crashes within 60 seconds."""

    backoff: tuple[float, ...] = (0.05, 0.5, 1.0, 2.0, 5.0)
    max_per_minute: int = 5
    window: float = 60.0


@dataclass
class CrashTracker:
    """Remembers recent crashes and turns them into a decision: wait this long, or give up."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    _times: deque[float] = field(default_factory=deque)

    def record(self, now: float | None = None) -> float | None:
        """Record a crash; returns the delay before restarting, or None to give up for now."""
        now = time.monotonic() if now is None else now
        self._times.append(now)
        while self._times and now - self._times[0] > self.policy.window:
            self._times.popleft()
        if len(self._times) > self.policy.max_per_minute:
            return None
        index = min(len(self._times) - 1, len(self.policy.backoff) - 1)
        return self.policy.backoff[index]

    @property
    def recent(self) -> int:
        return len(self._times)

    def reset(self) -> None:
        self._times.clear()


class Supervisor:
    """The Lean server's life cycle inside one proxy session (``run`` is the router's
    "supervisor" task). The router keeps the message routing; this class decides when a server
    runs, what happens to in-flight requests when it dies, and what a new one is sent."""

    def __init__(self, router: Router, policy: RestartPolicy) -> None:
        self._router = router
        self._crashes = CrashTracker(policy)
        self.offline = False  # no server: the offline writer answers for Lean
        self._edit_event = asyncio.Event()
        self._pending_message: str | None = None  # shown once the editor can take it
        self.server: ServerHandle | None = None
        self.server_rc: int | None = None
        self.incarnation = 0  # how many Lean processes were started
        self.restarts = 0

    def edit_arrived(self) -> None:
        """An edit reached the mirror: while offline after a crash loop, that restarts Lean."""
        if self.offline:
            self._edit_event.set()

    async def _offline_writer(
        self, reason: str = "The Lean server is not running (it crashed repeatedly); edit a file to restart it.",
    ) -> None:
        """While Lean is down: keep the mirror current, answer requests with errors (``initialize``
        with an empty capability set and ``shutdown`` with null, so the session stays sane)."""
        queue = self._router._lean_queue
        while True:
            body, env, origin = await queue.get()
            self._router._deliver(body, env, origin)
            if env is not None and env.id is not None and env.method is not None and origin == FROM_EDITOR:
                self._router._inflight.pop(env.id, None)
                reply_id = self._router._editor_id(env.id)
                if env.method == m.INITIALIZE:
                    self._router._send_editor(wire.response(reply_id, {
                        "capabilities": {}, "serverInfo": {"name": "Lean Companion (Lean's server is not running)"}}))
                    self.show_pending_message()
                elif env.method == m.SHUTDOWN:
                    self._router._send_editor(wire.response(reply_id, None))
                else:
                    self._router._send_editor(wire.error_response(reply_id, CONTENT_MODIFIED, reason))

    def show_pending_message(self) -> None:
        message, self._pending_message = self._pending_message, None
        if message is not None:
            self._router._send_editor(wire.notification(m.SHOW_MESSAGE, {"type": 1, "message": message}))

    async def _cannot_start(self, exc: OSError) -> None:
        """The server command cannot be executed at all (ENOENT, EACCES): not a crash, so no
        restart loop. One error message tells the user the cause and the fix; the session
        stays up (requests answered with errors) until the editor exits."""
        what = exc.filename or "the server command"
        cause = "was not found" if isinstance(exc, FileNotFoundError) else "is not executable"
        message = (f"Lean Companion could not start Lean's server: {what} {cause} ({exc.strerror}). Install Lean "
                   "with elan (https://github.com/leanprover/elan) and check that `lake`/`lean` is on the PATH "
                   "your editor starts language servers with, then restart the Lean server.")
        logger.error("%s", message)
        self._pending_message = message
        if self._router._init_params is not None:  # the editor already initialised: tell it now
            self.show_pending_message()
        await self._wait_offline(reason=f"Lean's server is not running: {what} {cause}.")

    async def replay(self, server: ServerHandle) -> None:
        """Re-initialise a restarted server and re-open the editor's documents."""
        if self._router._init_params is None:
            return
        init_id = f"{TO_LEAN_PREFIX}init-{self.incarnation}"
        self._router._internal_ids.add(init_id)
        frames = [wire.request(init_id, m.INITIALIZE, msgspec.Raw(self._router._init_params))]
        if self._router._initialized_seen:
            frames.append(wire.notification(m.INITIALIZED, {}))
            self._router._swallow_watcher = True
            for doc in self._router.documents.documents():
                frames.append(wire.notification(m.DID_OPEN, {"textDocument": {
                    "uri": doc.uri, "languageId": doc.language_id, "version": doc.version, "text": doc.text}}))
        server.stdin.write(encode_frames(frames))
        await server.stdin.drain()
        logger.info("Lean restarted: re-initialised and re-opened %d document(s)", len(self._router.documents))
        self._router._notify_subscribers(SERVER_RESTARTED, {"incarnation": self.incarnation})


    async def run(self) -> None:
        while not self._router._stopping:
            rc: int | None = None
            try:
                server = await self._router._spawn()
            except (FileNotFoundError, PermissionError) as exc:
                await self._cannot_start(exc)
                return
            except OSError as exc:
                logger.error("could not start the Lean server: %s", exc)
                server = None
            if server is not None:
                replay = self.incarnation > 0
                self.incarnation += 1
                self.server = server
                writer = self._router._spawn_task(self._router._lean_writer(server, replay), "lean-writer")
                pump = self._router._spawn_task(self._router._lean_pump(server), "lean-pump")
                rc = await self._wait_server(server, pump)
                with contextlib.suppress(Exception):
                    await server.stop(0)  # whatever it left in its process group goes too
                for task in (writer, pump):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                self.server = None
                self.server_rc = rc
            if self._router._stopping or self._router._exit_requested:
                logger.info("Lean server exited with code %s", rc)
                return
            self.server_lost(rc)
            if self._router._shutdown_requested:
                logger.info("Lean exited after shutdown (code %s); waiting for the editor's exit", rc)
                await self._wait_offline()
                return
            delay = self._crashes.record()
            if delay is None:
                await self._give_up_until_edit()
            else:
                logger.warning("Lean server exited unexpectedly (code %s); restarting in %.2fs", rc, delay)
                await asyncio.sleep(delay)
            self.restarts += 1

    async def _wait_server(self, server: ServerHandle, pump: asyncio.Task[None]) -> int:
        """Wait until the server is gone: it exited, or it closed its stdout (then it is stopped)."""
        exited = asyncio.ensure_future(server.wait())
        await asyncio.wait({exited, pump}, return_when=asyncio.FIRST_COMPLETED)
        if exited.done():
            # Let the pump read what Lean wrote before exiting.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(pump), 2.0)
            return exited.result()
        try:
            return await asyncio.wait_for(asyncio.shield(exited), 1.0)
        except asyncio.TimeoutError:
            if not self._router._stopping:
                logger.warning("Lean closed its output but is still running; stopping it")
            return await server.stop(self._router._stop_grace)
        finally:
            if not exited.done():
                exited.cancel()

    def server_lost(self, rc: int | None) -> None:
        """Answer what Lean will never answer now; fail the proxy's own requests."""
        inflight, self._router._inflight = self._router._inflight, {}
        for id_, (method, params) in inflight.items():
            reply_id = self._router._editor_id(id_)
            if method == m.SHUTDOWN:
                self._router._send_editor(wire.response(reply_id, None))
                continue
            uri = wire.document_uri(params)
            if uri:
                body = wire.error_response(reply_id, CONTENT_MODIFIED, f"The file worker for {uri} has been terminated.")
            else:
                body = wire.error_response(reply_id, WORKER_CRASHED,
                                           "Server process crashed, likely due to a stack overflow or a bug.")
            self._router._send_editor(body)
        if inflight:
            logger.warning("answered %d in-flight editor request(s) with errors after Lean exited", len(inflight))
        self._router._to_lean.fail_all(LeanExited, f"the Lean server exited (code {rc})")
        self._router._internal_ids.clear()
        self._router._swallow_watcher = False
        self._router._stale_server_requests.update(self._router._server_requests)
        self._router._server_requests.clear()

    async def _give_up_until_edit(self) -> None:
        message = (
            f"The Lean server crashed {self._crashes.recent} times in the last minute, so Lean Companion "
            "stopped restarting it. Edit a file to try again; see the proxy log for Lean's error output."
        )
        logger.error("%s", message)
        self._router._send_editor(wire.notification(m.SHOW_MESSAGE, {"type": 1, "message": message}))
        self._edit_event.clear()
        self.offline = True
        offline = self._router._spawn_task(self._offline_writer(), "offline-writer")
        try:
            await self._edit_event.wait()
        finally:
            offline.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await offline
            self.offline = False
        self._crashes.reset()
        logger.info("an edit arrived; restarting the Lean server")

    async def _wait_offline(self, reason: str | None = None) -> None:
        self.offline = True
        writer = self._offline_writer(reason) if reason else self._offline_writer()
        offline = self._router._spawn_task(writer, "offline-writer")
        try:
            await asyncio.Event().wait()
        finally:
            offline.cancel()
