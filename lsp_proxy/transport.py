"""Byte pipes: the editor's stdio as asyncio streams, and the Lean server child process.

The child runs in its own session (process group) so that it and anything it spawns in that
group can be terminated together. On Linux the server runs under :mod:`lsp_proxy.reaper`, a
subreaper that gets ``PR_SET_PDEATHSIG`` and takes every descendant down (Lean's workers live
in sessions of their own) when the proxy dies, even by SIGKILL. Lean's stderr goes to the ``lsp_proxy.lean.stderr`` logger line by
line; it is never parsed and never reaches our stderr.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import signal
import stat
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)
stderr_logger = logging.getLogger("lsp_proxy.lean.stderr")

STREAM_LIMIT = 2**20


class ByteSink(Protocol):
    """What the router writes frames to (``asyncio.StreamWriter`` fits)."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class ServerHandle(Protocol):
    """A running Lean server as the router sees it."""

    stdin: ByteSink
    stdout: asyncio.StreamReader

    @property
    def pid(self) -> int | None: ...

    async def wait(self) -> int: ...

    async def stop(self, grace: float = 2.0) -> int: ...


@dataclass
class ServerCommand:
    """How to start Lean's server: argv, working directory, extra environment."""

    argv: list[str]
    cwd: str | None = None
    env: dict[str, str] | None = field(default=None)

    def describe(self) -> str:
        return " ".join(self.argv) + (f" (in {self.cwd})" if self.cwd else "")


def _resolve_prctl() -> Any:  # in the parent: no dlopen/import may happen between fork and exec
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _resolve_prctl()
_PR_SET_PDEATHSIG = 1
_REAPER = str(Path(__file__).with_name("reaper.py"))


def _child_setup() -> None:  # runs in the child between fork and exec: only the resolved call
    if _PRCTL is not None:
        # The child is lsp_proxy/reaper.py: SIGUSR1 tells it we died (it then ends Lean's tree).
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGUSR1), 0, 0, 0)


def resolve_command(command: ServerCommand) -> list[str]:
    """``command.argv`` with its program resolved on PATH (the command's own environment);
    raises ``FileNotFoundError``/``PermissionError`` when it cannot be executed, before
    anything is started."""
    program = command.argv[0]
    env_path = (command.env or {}).get("PATH", os.environ.get("PATH", os.defpath))
    if os.sep in program:
        path = program if os.path.isabs(program) else os.path.join(command.cwd or os.getcwd(), program)
        if not os.path.exists(path):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", program)
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise PermissionError(errno.EACCES, "Permission denied (not an executable file)", program)
        return [path, *command.argv[1:]]
    found = shutil.which(program, path=env_path)
    if found is None:
        raise FileNotFoundError(errno.ENOENT, f"`{program}` is not on PATH", program)
    return [found, *command.argv[1:]]


class LeanProcess:
    """A spawned server process (implements :class:`ServerHandle`)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin: ByteSink = proc.stdin
        self.stdout: asyncio.StreamReader = proc.stdout
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._stderr_task = asyncio.ensure_future(self._pump_stderr())

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def stderr_tail(self) -> str:
        """The last lines the server wrote to stderr (for error messages)."""
        return "\n".join(self._stderr_tail)

    @classmethod
    async def spawn(cls, command: ServerCommand) -> LeanProcess:
        """Start the server; raises ``OSError`` if it cannot be executed."""
        env = None
        if command.env:
            env = {**os.environ, **command.env}
        argv = resolve_command(command)
        if _PRCTL is not None:  # Linux: through the subreaper, so that no descendant outlives us
            argv = [sys.executable, "-I", "-S", _REAPER, str(os.getpid()), "--", *argv]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=command.cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_child_setup if _PRCTL is not None else None,
            limit=STREAM_LIMIT,
        )
        logger.info("started Lean server pid %s: %s", proc.pid, command.describe())
        return cls(proc)

    async def _pump_stderr(self) -> None:
        stream = self._proc.stderr
        if stream is None:
            return
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the limit: take what is there
                line = await stream.read(STREAM_LIMIT)
            except (ConnectionError, OSError):
                return
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            self._stderr_tail.append(text)
            stderr_logger.info("%s", text)

    async def wait(self) -> int:
        """Wait for exit; returns the exit code (negative: killed by that signal)."""
        code = await self._proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._stderr_task), 1.0)
        return code

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the server's process group (and the server)."""
        logger.warning("signalling Lean's process group (pid %s) with %s", self._proc.pid, signal.Signals(sig).name)
        self._signal_group(sig)

    async def stderr_done(self, timeout: float = 1.0) -> None:
        """Wait (briefly) until the stderr pump has read everything."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._stderr_task), timeout)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(sig)

    async def stop(self, grace: float = 2.0) -> int:
        """Close stdin (Lean's clean EOF), then SIGTERM and finally SIGKILL the process group."""
        if self._proc.returncode is None:
            with contextlib.suppress(Exception):
                self.stdin.close()
            with contextlib.suppress(asyncio.TimeoutError):
                return await asyncio.wait_for(self._proc.wait(), grace / 2)
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError):
                return await asyncio.wait_for(self._proc.wait(), grace / 2)
            self._signal_group(signal.SIGKILL)
        else:
            # The leader is gone; make sure nothing it left in its group survives.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGTERM)
        return await self._proc.wait()


# -- the editor's stdio ----------------------------------------------------------------------


async def open_stdio(stdin_fd: int, stdout_fd: int) -> tuple[asyncio.StreamReader, ByteSink]:
    """Async streams over the given file descriptors (pipes; files and ttys via threads)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=STREAM_LIMIT)
    if _pollable(stdin_fd):
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(stdin_fd, "rb", buffering=0, closefd=False)
        )
    else:  # a regular file or /dev/null (epoll never reports their EOF): read in a thread
        _read_in_thread(stdin_fd, reader, loop)
    writer: ByteSink
    if _pollable(stdout_fd):
        transport, protocol = await loop.connect_write_pipe(
            _WritePipeProtocol, os.fdopen(stdout_fd, "wb", buffering=0, closefd=False)
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
    else:
        writer = _ThreadWriter(stdout_fd)
    return reader, writer


def _pollable(fd: int) -> bool:
    """Pipes, sockets and terminals can be watched by the event loop; files and /dev/null not."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)


class _WritePipeProtocol(asyncio.streams.FlowControlMixin):
    """The editor's stdout pipe. The loop watches the pipe, so the editor closing its read end
    (EPIPE) is seen at once, even between writes: ``StreamWriter.wait_closed()`` returns then."""

    def __init__(self) -> None:
        super().__init__()
        self._lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self._lost.done():
            self._lost.set_result(exc)

    def _get_close_waiter(self, stream: object) -> asyncio.Future[BaseException | None]:
        return self._lost


def _read_in_thread(fd: int, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
    def run() -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                loop.call_soon_threadsafe(reader.feed_eof)
                return
            loop.call_soon_threadsafe(reader.feed_data, chunk)

    threading.Thread(target=run, name="stdin-reader", daemon=True).start()


class _ThreadWriter:
    """Blocking writes to a non-pipe stdout (a file), off the event loop."""

    write_needs_drain = True  # writes only happen in drain()

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._pending.append(data)

    async def drain(self) -> None:
        data, self._pending = b"".join(self._pending), []
        if data:
            await asyncio.to_thread(self._write_all, data)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        pass

