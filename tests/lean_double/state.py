"""State of the simulated watchdog and its per-document workers."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from . import jsonrpc
from .elaborator import Elaboration
from .goals import RefMaker


class RequestError(Exception):
    """A handler's error reply (code and message as Lean sends them)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Pending:
    """A client request that has not been answered yet."""

    msg: jsonrpc.Message
    uri: str | None = None
    task: asyncio.Task | None = None


@dataclass
class Session:
    """An RPC session: last use (monotonic seconds) and its reference maker."""

    last: float
    refs: RefMaker


@dataclass
class Run:
    """One simulated elaboration of one document version."""

    version: int
    elab: Elaboration
    upto_line: int = -1  # last line of the last command elaborated so far
    finished: bool = False
    superseded: bool = False
    task: asyncio.Task | None = None
    published: int | None = None  # diagnostics already sent for this version (incremental mode)
    build_mode: str = "always"  # dependencyBuildMode this worker start uses
    fresh_worker: bool = False  # the first run of a worker (open, restart): header progress at once


@dataclass
class Document:
    """An open document and its simulated worker."""

    uri: str
    text: str
    version: int
    generation: int = 0  # bumped whenever the worker restarts
    sessions: dict[str, Session] = field(default_factory=dict)
    crashed: bool = False
    queue: list[Pending] = field(default_factory=list)  # requests held while crashed
    run: Run | None = None
    finished_version: int = -1
    stale: bool = False  # sticky "Imports are out of date" information diagnostic
    build_mode: str = "always"  # dependencyBuildMode for worker restarts ("once" opens become "never")
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        """Wake every waiter so it re-checks its condition."""
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    async def wait(self, predicate: Callable[[], bool]) -> None:
        while True:
            event = self.changed
            if predicate():
                return
            await event.wait()


class Eof:
    """The reader reached the end of stdin."""


@dataclass
class Fatal:
    """The reader met input Lean would die on."""

    reason: str
