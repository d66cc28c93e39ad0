"""The proxy's fallback side channel (docs/editor-protocol.md §6): a status file and a local socket.

An editor that cannot reach the proxy through its own LSP connection (vscode-lean4's exports
absent or changed) finds the proxy by its status file and sends the same ``$/leanCompanion/*``
requests and notifications over a local socket:

* status file ``<runtime dir>/<pid>.json`` (folder ``$LEAN_COMPANION_RUNTIME_DIR``, else
  ``platformdirs.user_state_path("lean-companion") / "proxies"``, mode 0700), written atomically
  (mode 0600) once the socket listens, removed when the channel closes and at ``atexit``; status
  files of dead pids are deleted at start;
* POSIX: a Unix socket ``$XDG_RUNTIME_DIR/lean-companion/<pid>.sock``, else
  ``<tmp>/lean-companion-<uid>/<pid>.sock`` (folders 0700 and ours, path under 100 bytes, else a
  shorter fallback); Windows: TCP on 127.0.0.1, random port (that path is not tested here);
* LSP framing, JSON-RPC 2.0. The first message must be the request ``$/leanCompanion/hello
  {token, client}`` with the file's token; anything else closes the connection. Then only
  ``$/leanCompanion/*`` requests (answered by the interceptors registered on the router's
  :class:`~lsp_proxy.hooks.HookRegistry`, -32601 when none claims one) and notifications (run
  through the editor-direction notification hooks, never forwarded to Lean); ``$/cancelRequest``
  cancels a request of the same connection.

Everything runs on the proxy's event loop; every failure is logged and only costs the socket
client its connection, never the editor's session.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime
import json
import logging
import os
import secrets
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import platformdirs

from lsp_proxy import envelope as wire
from lsp_proxy.errors import (
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    FramingError,
)
from lsp_proxy.framing import FrameReader, encode_frame
from lsp_proxy.hooks import HookRegistry, reply_to_request
from lsp_proxy.methods import CANCEL_REQUEST, COMPANION_PREFIX

logger = logging.getLogger(__name__)

STATUS_FILE_VERSION = 1
PROTOCOL_VERSION = 1
HELLO = "$/leanCompanion/hello"
RUNTIME_DIR_ENV = "LEAN_COMPANION_RUNTIME_DIR"
MAX_SOCKET_PATH = 100  # bytes; sun_path holds 108 on Linux, 104 on macOS
HELLO_TIMEOUT = 10.0  # seconds an unauthenticated connection may stay silent
MAX_CONNECTIONS = 32
MAX_FRAME = 8 * 2**20
MAX_BUFFERED = 32 * 2**20  # a client that stops reading is dropped past this


# ---------------------------------------------------------------------------- locations


def runtime_dir() -> Path:
    """Where status files live: ``$LEAN_COMPANION_RUNTIME_DIR``, else the user state dir's ``proxies``."""
    override = os.environ.get(RUNTIME_DIR_ENV)
    if override:
        return Path(override)
    return platformdirs.user_state_path("lean-companion", appauthor=False) / "proxies"


def socket_candidates(pid: int) -> list[Path]:
    """Socket paths to try, in order (POSIX): the runtime dir, the temp dir, then short fallbacks."""
    uid = os.getuid()
    candidates = []
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        candidates.append(Path(xdg) / "lean-companion" / f"{pid}.sock")
    candidates.append(Path(tempfile.gettempdir()) / f"lean-companion-{uid}" / f"{pid}.sock")
    candidates.append(Path("/tmp") / f"lean-companion-{uid}" / f"{pid}.sock")
    candidates.append(Path("/tmp") / f"lc-{uid}" / f"{pid}.sock")
    unique: list[Path] = []
    for path in candidates:
        if path not in unique:
            unique.append(path)
    return unique


def private_dir(folder: Path) -> bool:
    """Create ``folder`` (mode 0700) or check that it is a real directory of ours; True if usable."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = os.lstat(folder)
    except OSError as exc:
        logger.info("side channel: cannot use %s (%s)", folder, exc)
        return False
    if not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        logger.warning("side channel: %s is not a directory owned by this user; not using it", folder)
        return False
    if stat.S_IMODE(info.st_mode) != 0o700:
        try:
            os.chmod(folder, 0o700)
        except OSError as exc:
            logger.warning("side channel: cannot make %s private (%s); not using it", folder, exc)
            return False
    return True


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (POSIX only: signal 0 probes without signalling)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_files(folder: Path, own_pid: int, suffix: str) -> list[Path]:
    """Delete ``<pid><suffix>`` files in ``folder`` whose pid is dead; returns what was removed.

    Does nothing on Windows, where ``os.kill(pid, 0)`` would send CTRL_C_EVENT instead of probing
    (readers ignore files of dead pids anyway)."""
    removed: list[Path] = []
    if sys.platform == "win32":
        return removed
    with contextlib.suppress(OSError):
        for path in folder.glob(f"*{suffix}"):
            stem = path.name[: -len(suffix)]
            if not stem.isdigit() or int(stem) == own_pid or pid_alive(int(stem)):
                continue
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    if removed:
        logger.info("side channel: removed %d stale file(s) of dead proxies in %s", len(removed), folder)
    return removed


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (``<path>.tmp`` then rename), mode 0600."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def companion_version() -> str:
    """The installed package's version (``unknown`` when running from a source tree)."""
    try:
        return metadata.version("lean-companion")
    except metadata.PackageNotFoundError:
        return "unknown"


def _utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------- the channel


@dataclass
class _Connection:
    """One authenticated client: its writer, its running requests."""

    writer: asyncio.StreamWriter
    tasks: dict[Any, asyncio.Task[None]] = field(default_factory=dict)
    drain_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def send(self, body: bytes) -> bool:
        """Queue one frame; False (and the connection closed) if the client stopped reading."""
        if self.writer.is_closing():
            return False
        self.writer.write(encode_frame(body))
        if self.writer.transport.get_write_buffer_size() > MAX_BUFFERED:
            logger.warning("side channel: a client stopped reading (over %d bytes queued); closing it", MAX_BUFFERED)
            self.writer.close()
            return False
        return True

    async def flush(self) -> None:
        async with self.drain_lock:
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.drain()


class SideChannel:
    """The status file and socket of one proxy process; ``await start()``, ``await close()``."""

    def __init__(self, hooks: HookRegistry, *, root: Path | str | None, log_file: Path | str | None,
                 version: str | None = None, pid: int | None = None, folder: Path | None = None) -> None:
        self.hooks = hooks
        self.root = str(Path(root).resolve()) if root is not None else None
        self.log_file = str(log_file) if log_file is not None else None
        self.version = version or companion_version()
        self.pid = pid or os.getpid()
        self.folder = folder or runtime_dir()
        self.token = secrets.token_hex(16)
        self.status_file: Path | None = None
        self.socket_file: Path | None = None
        self.address: dict[str, Any] | None = None
        self._socket_id: tuple[int, int] | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._atexit_registered = False

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen, then announce the socket in the status file. Raises OSError if impossible."""
        if not private_dir(self.folder):
            raise OSError(f"the runtime folder {self.folder} is not usable")
        remove_stale_files(self.folder, self.pid, ".json")
        remove_stale_files(self.folder, self.pid, ".json.tmp")
        if sys.platform == "win32":
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
            port = self._server.sockets[0].getsockname()[1]
            self.address = {"port": port, "host": "127.0.0.1"}
        else:
            self._server = await self._listen_unix()
        info = {
            "version": STATUS_FILE_VERSION,
            "pid": self.pid,
            "root": self.root,
            "socket": self.address,
            "token": self.token,
            "logFile": self.log_file,
            "companionVersion": self.version,
            "startedAt": _utc_now(),
        }
        target = self.folder / f"{self.pid}.json"
        if not self._atexit_registered:
            atexit.register(self.remove_files)
            self._atexit_registered = True
        write_private_json(target, info)
        self.status_file = target
        logger.info("side channel listening at %s; status file %s", self.address, target)

    async def _listen_unix(self) -> asyncio.AbstractServer:
        last_error: OSError | None = None
        for path in socket_candidates(self.pid):
            if len(os.fsencode(path)) >= MAX_SOCKET_PATH:
                logger.info("side channel: socket path %s is too long; trying a shorter one", path)
                continue
            if not private_dir(path.parent):
                continue
            remove_stale_files(path.parent, self.pid, ".sock")
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            try:
                server = await asyncio.start_unix_server(self._accept, str(path))
            except OSError as exc:
                logger.info("side channel: cannot listen at %s (%s)", path, exc)
                last_error = exc
                continue
            os.chmod(path, 0o600)
            info = os.stat(path)
            self._socket_id = (info.st_dev, info.st_ino)
            self.socket_file = path
            self.address = {"path": str(path)}
            return server
        raise last_error or OSError("no usable folder for the side channel's socket")

    async def close(self) -> None:
        """Stop listening, drop every connection, remove the files. Never raises."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.remove_files()

    def remove_files(self) -> None:
        """Delete our status file and socket (only if they are still ours). Idempotent, never raises."""
        status, self.status_file = self.status_file, None
        if status is not None and self._owns_status_file(status):
            with contextlib.suppress(OSError):
                status.unlink()
        sock, self.socket_file = self.socket_file, None
        if sock is not None:
            with contextlib.suppress(OSError):
                info = os.stat(sock)
                if (info.st_dev, info.st_ino) == self._socket_id:
                    sock.unlink()

    def _owns_status_file(self, path: Path) -> bool:
        """Whether the file still announces this channel (someone else may have replaced it)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False
        except (OSError, ValueError):
            return True  # unreadable or half-written: it is under our pid's name, remove it
        return isinstance(data, dict) and data.get("token") == self.token

    # -- connections --------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= MAX_CONNECTIONS:
            logger.warning("side channel: %d connections open; refusing another", MAX_CONNECTIONS)
            writer.close()
            return
        if task is not None:
            self._connections.add(task)
        connection = _Connection(writer)
        try:
            await self._serve(FrameReader(reader, max_size=MAX_FRAME), connection)
        except asyncio.CancelledError:
            pass
        except (ConnectionError, OSError) as exc:
            logger.info("side channel: connection ended (%s)", exc)
        except Exception:
            logger.warning("side channel: connection failed; closing it", exc_info=True)
        finally:
            for running in list(connection.tasks.values()):
                running.cancel()
            writer.close()
            if task is not None:
                self._connections.discard(task)

    async def _serve(self, frames: FrameReader, connection: _Connection) -> None:
        if not await self._hello(frames, connection):
            return
        while True:
            try:
                body = await frames.read_frame()
            except FramingError as exc:
                if exc.recoverable:
                    logger.info("side channel: %s; skipped", exc)
                    continue
                logger.info("side channel: %s; closing the connection", exc)
                return
            if body is None:
                return
            self._handle(body, connection)
            await connection.flush()

    async def _hello(self, frames: FrameReader, connection: _Connection) -> bool:
        """Check the first message; answer it and return True, or return False (then we close)."""
        try:
            body = await asyncio.wait_for(frames.read_frame(), HELLO_TIMEOUT)
        except asyncio.TimeoutError:
            logger.info("side channel: no hello within %.0fs; closing", HELLO_TIMEOUT)
            return False
        except FramingError as exc:
            logger.info("side channel: refused a connection (%s)", exc)
            return False
        if body is None:
            return False
        try:
            message = json.loads(body)
        except ValueError:
            message = None
        params = message.get("params") if isinstance(message, dict) else None
        token = params.get("token") if isinstance(params, dict) else None
        if not (isinstance(message, dict) and message.get("method") == HELLO and "id" in message
                and isinstance(token, str) and secrets.compare_digest(token.encode(), self.token.encode())):
            logger.warning("side channel: refused a connection (the first message was not a hello with the token)")
            return False
        client = params.get("client") if isinstance(params, dict) else None
        logger.info("side channel: client %r connected", client)
        connection.send(wire.response(message["id"], self._hello_result()))
        await connection.flush()
        return True

    def _hello_result(self) -> dict[str, Any]:
        return {"version": self.version, "protocolVersion": PROTOCOL_VERSION}

    def _handle(self, body: bytes, connection: _Connection) -> None:
        """One message after the hello: start a request, run a notification, or answer an error."""
        try:
            message = json.loads(body)
        except ValueError as exc:
            connection.send(wire.error_response(None, PARSE_ERROR, f"Parse error: {exc}"))
            return
        if not isinstance(message, dict):
            connection.send(wire.error_response(None, INVALID_REQUEST, "a message must be a JSON object"))
            return
        method = message.get("method")
        has_id = "id" in message
        id_ = message.get("id")
        if method is None:
            return  # a response: we send no requests, so there is nothing to match
        if not isinstance(method, str) or (has_id and not isinstance(id_, (int, str))):
            if has_id:
                connection.send(wire.error_response(id_ if isinstance(id_, (int, str)) else None, INVALID_REQUEST,
                                                    "method must be a string and id an integer or string"))
            return
        params = message.get("params")
        if not has_id:
            self._notification(method, params, connection)
            return
        if method == HELLO:
            connection.send(wire.response(id_, self._hello_result()))
            return
        if not method.startswith(COMPANION_PREFIX):
            connection.send(wire.error_response(
                id_, METHOD_NOT_FOUND, f"'{method}' is not served on the side channel (only {COMPANION_PREFIX}*)"))
            return
        if id_ in connection.tasks:
            connection.send(wire.error_response(id_, INVALID_REQUEST, f"request id {id_!r} is already in use"))
            return
        task = asyncio.ensure_future(self._request(method, id_, params, connection))
        connection.tasks[id_] = task

    def _notification(self, method: str, params: Any, connection: _Connection) -> None:
        if method == CANCEL_REQUEST:
            target = params.get("id") if isinstance(params, dict) else None
            task = connection.tasks.get(target) if isinstance(target, (int, str)) else None
            if task is not None:
                task.cancel()
            return
        if not method.startswith(COMPANION_PREFIX):
            logger.debug("side channel: ignored notification %s", method)
            return
        if not self.hooks.dispatch_notification(method, params):
            logger.debug("side channel: no hook for notification %s", method)

    async def _request(self, method: str, id_: Any, params: Any, connection: _Connection) -> None:
        try:  # the same reply mapping as the router's interceptors
            body = await reply_to_request(self.hooks.dispatch_request(method, params), id_, method)
        finally:
            connection.tasks.pop(id_, None)
        try:
            connection.send(body)
        except Exception:  # e.g. a result msgspec cannot encode is caught above; this is the socket
            logger.info("side channel: could not send the reply to %s", method, exc_info=True)
            return
        await connection.flush()


async def start_side_channel(hooks: HookRegistry, *, root: Path | str | None,
                             log_file: Path | str | None) -> SideChannel | None:
    """Start the side channel; on any failure log it and return None (the proxy runs on without)."""
    channel = SideChannel(hooks, root=root, log_file=log_file)
    try:
        await channel.start()
    except Exception as exc:
        logger.warning("side channel not available: %s", exc, exc_info=True)
        await channel.close()
        return None
    return channel
