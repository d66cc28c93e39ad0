"""A dedicated worker thread for blocking, thread-unsafe model code.

Native model objects (a llama.cpp context, an onnxruntime session with its own state) must
be used from one thread at a time. :class:`ModelWorker` owns one thread; every call is
queued onto it, so calls never overlap and the asyncio event loop never blocks.
:meth:`ModelWorker.run_cancellable` bridges an ``asyncio.Event`` (and task cancellation)
to a ``threading.Event`` that the blocking code polls between steps.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class WorkerClosed(RuntimeError):
    """The worker was closed; no more calls are accepted."""


class ModelWorker:
    """One thread that runs blocking calls in submission order."""

    def __init__(self, name: str = "model-worker") -> None:
        self.name = name
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._closed = False
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def submit(self, fn: Callable[..., T], *args, **kwargs) -> concurrent.futures.Future[T]:
        """Queue ``fn(*args, **kwargs)`` on the worker thread (thread-safe)."""
        with self._lock:
            if self._closed:
                raise WorkerClosed(f"{self.name} is closed")
            return self._executor.submit(fn, *args, **kwargs)

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn`` on the worker thread and wait for its result (blocking)."""
        return self.submit(fn, *args, **kwargs).result()

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn`` on the worker thread without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    async def run_cancellable(
        self,
        fn: Callable[[threading.Event], T],
        cancel: asyncio.Event | None = None,
    ) -> T:
        """Run ``fn(stop)`` on the worker; ``stop`` is set when ``cancel`` is set or the task is cancelled.

        ``fn`` must poll ``stop`` and return early (with what it has) once it is set. If the
        awaiting task is cancelled, ``stop`` is set and the cancellation propagates at once;
        the worker finishes the call on its own shortly after.
        """
        stop = threading.Event()
        future = asyncio.wrap_future(self.submit(fn, stop))
        # If the caller is cancelled first, nobody awaits the result: retrieve it anyway.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        watcher: asyncio.Task | None = None
        if cancel is not None:
            if cancel.is_set():
                stop.set()
            else:
                async def _watch() -> None:
                    await cancel.wait()
                    stop.set()

                watcher = asyncio.get_running_loop().create_task(_watch())
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            stop.set()
            raise
        finally:
            if watcher is not None:
                watcher.cancel()

    def close(self, finaliser: Callable[[], object] | None = None, *, wait: bool = True) -> None:
        """Run ``finaliser`` on the worker after queued calls, then stop the thread (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            future = self._executor.submit(finaliser) if finaliser is not None else None
        if future is not None and wait:
            try:
                future.result()
            except Exception:
                log.exception("%s: finaliser failed", self.name)
        self._executor.shutdown(wait=wait)
