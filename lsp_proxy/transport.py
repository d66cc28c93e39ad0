"""Byte pipes: the editor's stdio as asyncio streams, and the Lean server child process.

The child runs in its own session (process group) so that it and anything it spawns in that
group can be terminated together; on Linux it also gets ``PR_SET_PDEATHSIG`` so it dies if the
proxy is killed outright. Lean's stderr goes to the ``lsp_proxy.lean.stderr`` logger line by
line; it is never parsed and never reaches our stderr.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

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


def _resolve_prctl():  # in the parent: no dlopen/import may happen between fork and exec
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _resolve_prctl()
_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:  # runs in the child between fork and exec: only the resolved call
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


class LeanProcess:
    """A spawned server process (implements :class:`ServerHandle`)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin: ByteSink = proc.stdin
        self.stdout: asyncio.StreamReader = proc.stdout
        self._stderr_task = asyncio.ensure_future(self._pump_stderr())

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    @classmethod
    async def spawn(cls, command: ServerCommand) -> LeanProcess:
        """Start the server; raises ``OSError`` if it cannot be executed."""
        env = None
        if command.env:
            env = {**os.environ, **command.env}
        proc = await asyncio.create_subprocess_exec(
            *command.argv,
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
            stderr_logger.info("%s", line.decode("utf-8", "replace").rstrip("\r\n"))

    async def wait(self) -> int:
        """Wait for exit; returns the exit code (negative: killed by that signal)."""
        code = await self._proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._stderr_task), 1.0)
        return code

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
    try:
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(stdin_fd, "rb", buffering=0, closefd=False)
        )
    except ValueError:  # a regular file: read it in a thread
        _read_in_thread(stdin_fd, reader, loop)
    try:
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(stdout_fd, "wb", buffering=0, closefd=False)
        )
        writer: ByteSink = asyncio.StreamWriter(transport, protocol, None, loop)
    except ValueError:
        writer = _ThreadWriter(stdout_fd)
    return reader, writer


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


def argv_text(argv: Sequence[str]) -> str:
    return " ".join(argv)
