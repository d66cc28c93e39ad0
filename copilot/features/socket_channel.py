"""The fallback channel of docs/editor-protocol.md §6: a status file and a local socket on which
an editor that cannot use its LSP connection (e.g. vscode-lean4's exports changed) sends the
same ``$/leanCompanion/*`` requests and notifications.

* status file ``<runtime dir>/<pid>.json`` (``$LEAN_COMPANION_RUNTIME_DIR`` or
  ``<user state dir>/proxies``; folder 0700, file 0600, written atomically once the socket
  listens, removed at exit; stale files of dead proxies are deleted at start);
* a Unix socket (``$XDG_RUNTIME_DIR/lean-companion/<pid>.sock`` or
  ``<tmp>/lean-companion-<uid>/<pid>.sock``), on Windows TCP on 127.0.0.1;
* LSP framing, JSON-RPC 2.0; the first message must be ``$/leanCompanion/hello {token}``,
  else the connection is closed. A failure here is logged and never touches the editor's session.
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
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import platformdirs

from lsp_proxy.errors import INTERNAL_ERROR, METHOD_NOT_FOUND, REQUEST_CANCELLED, ResponseError
from lsp_proxy.framing import FrameReader, encode_frame

logger = logging.getLogger(__name__)

HELLO = "$/leanCompanion/hello"
Handler = Callable[[Any], Awaitable[Any]]
Notification = Callable[[Any], None]


def runtime_dir() -> Path:
    override = os.environ.get("LEAN_COMPANION_RUNTIME_DIR")
    if override:
        return Path(override)
    return platformdirs.user_state_path("lean-companion", appauthor=False) / "proxies"


def socket_path(pid: int) -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        folder = Path(runtime) / "lean-companion"
    else:
        folder = Path(tempfile.gettempdir()) / f"lean-companion-{os.getuid()}"
    return folder / f"{pid}.sock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _frame(message: dict) -> bytes:
    return encode_frame(json.dumps({"jsonrpc": "2.0", **message}, ensure_ascii=False).encode())


class SocketChannel:
    """Serves the companion's requests on a local socket (see the module docstring)."""

    def __init__(self, requests: dict[str, Handler], notifications: dict[str, Notification], *,
                 version: str, root: Path | None, log_file: str | None, pid: int | None = None) -> None:
        self.requests = requests
        self.notifications = notifications
        self.version = version
        self.root = root
        self.log_file = log_file
        self.pid = pid or os.getpid()
        self.token = secrets.token_hex(16)
        self.status_file: Path | None = None
        self.socket_file: Path | None = None
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        folder = runtime_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._remove_stale(folder)
        if sys.platform == "win32":
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            port = self.server.sockets[0].getsockname()[1]
            address: dict[str, Any] = {"port": port, "host": "127.0.0.1"}
        else:
            path = socket_path(self.pid)
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self.server = await asyncio.start_unix_server(self._serve, str(path))
            os.chmod(path, 0o600)
            self.socket_file = path
            address = {"path": str(path)}
        info = {
            "version": 1, "pid": self.pid, "root": str(self.root) if self.root else None, "socket": address,
            "token": self.token, "logFile": self.log_file, "companionVersion": self.version,
            "startedAt": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        target = folder / f"{self.pid}.json"
        temporary = folder / f"{self.pid}.json.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(info, handle)
        os.replace(temporary, target)
        self.status_file = target
        atexit.register(self.remove_files)
        logger.info("companion socket listening at %s (status file %s)", address, target)

    def _remove_stale(self, folder: Path) -> None:
        for file in folder.glob("*.json"):
            try:
                pid = int(file.stem)
            except ValueError:
                continue
            if pid != self.pid and not _alive(pid):
                with contextlib.suppress(OSError):
                    file.unlink()

    def remove_files(self) -> None:
        for path in (self.status_file, self.socket_file):
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        self.remove_files()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks: dict[Any, asyncio.Task] = {}
        try:
            frames = FrameReader(reader)
            first = await frames.read_frame()
            if first is None:
                return
            hello = json.loads(first)
            params = hello.get("params") if isinstance(hello, dict) else None
            if not (isinstance(hello, dict) and hello.get("method") == HELLO and "id" in hello
                    and isinstance(params, dict) and secrets.compare_digest(str(params.get("token", "")), self.token)):
                logger.warning("companion socket: refused a connection (bad or missing hello)")
                return
            writer.write(_frame({"id": hello["id"], "result": {"version": self.version, "protocolVersion": 1}}))
            await writer.drain()
            while True:
                body = await frames.read_frame()
                if body is None:
                    return
                message = json.loads(body)
                if not isinstance(message, dict) or not isinstance(message.get("method"), str):
                    continue
                method, params = message["method"], message.get("params")
                if "id" not in message:
                    if method == "$/cancelRequest" and isinstance(params, dict):
                        task = tasks.get(params.get("id"))
                        if task is not None:
                            task.cancel()
                    elif method in self.notifications:
                        self.notifications[method](params)
                    continue
                tasks[message["id"]] = asyncio.ensure_future(self._answer(writer, message["id"], method, params, tasks))
        except (ConnectionError, OSError, ValueError) as exc:
            logger.info("companion socket connection ended: %s", exc)
        except Exception:  # noqa: BLE001 - never disturbs the editor's session
            logger.warning("companion socket connection failed", exc_info=True)
        finally:
            for task in tasks.values():
                task.cancel()
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, id_: Any, method: str, params: Any,
                      tasks: dict[Any, asyncio.Task]) -> None:
        handler = self.requests.get(method)
        try:
            if handler is None:
                raise ResponseError(METHOD_NOT_FOUND, f"No request handler found for '{method}'")
            reply = {"id": id_, "result": await handler(params)}
        except asyncio.CancelledError:
            reply = {"id": id_, "error": {"code": REQUEST_CANCELLED, "message": ""}}
        except ResponseError as exc:
            reply = {"id": id_, "error": {"code": exc.code, "message": exc.message}}
        except Exception as exc:  # noqa: BLE001
            logger.warning("companion socket: %s failed", method, exc_info=True)
            reply = {"id": id_, "error": {"code": INTERNAL_ERROR, "message": f"{method} failed: {exc}"}}
        finally:
            tasks.pop(id_, None)
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(_frame(reply))
            await writer.drain()
