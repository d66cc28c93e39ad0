"""Work-done progress (``window/workDoneProgress/create`` + ``$/progress``) for long searches,
only when the editor declared ``window.workDoneProgress``. A failed create (the editor refused)
means no progress for that job; the job itself goes on. The editor's
``window/workDoneProgress/cancel`` for one of our tokens cancels the job.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from copilot.features.context import CompanionContext

logger = logging.getLogger(__name__)

_counter = itertools.count(1)
CANCEL_METHOD = "window/workDoneProgress/cancel"
TICK_SECONDS = 1.0


def supported(ctx: CompanionContext) -> bool:
    window = ctx.client_capabilities.get("window") if isinstance(ctx.client_capabilities, dict) else None
    return bool(isinstance(window, dict) and window.get("workDoneProgress"))


class Reporter:
    """Sends ``report`` messages for one token (no-op when progress is off)."""

    def __init__(self, ctx: CompanionContext, token: str | None) -> None:
        self.ctx = ctx
        self.token = token

    async def report(self, message: str, percentage: int | None = None) -> None:
        if self.token is None:
            return
        value: dict[str, Any] = {"kind": "report", "message": message}
        if percentage is not None:
            value["percentage"] = max(0, min(100, percentage))
        await self.ctx.router.notify_editor("$/progress", {"token": self.token, "value": value})


@contextlib.asynccontextmanager
async def progress(ctx: CompanionContext, title: str, *, on_cancel: Callable[[], None] | None = None,
                   budget_seconds: float | None = None) -> AsyncIterator[Reporter]:
    """Begin/end a progress around a block; reports elapsed time every second."""
    token: str | None = None
    if supported(ctx):
        token = f"leanCompanion/{ctx.pid}/{next(_counter)}"
        try:
            await ctx.router.request_editor("window/workDoneProgress/create", {"token": token}, timeout=5.0)
        except Exception as exc:
            logger.info("editor refused a progress token: %s", exc)
            token = None
    reporter = Reporter(ctx, token)
    ticker: asyncio.Task | None = None
    if token is not None:
        if on_cancel is not None:
            ctx.tokens[f"progress:{token}"] = on_cancel
        await ctx.router.notify_editor("$/progress", {"token": token, "value": {
            "kind": "begin", "title": title, "cancellable": on_cancel is not None, "message": "starting"}})
        ticker = asyncio.ensure_future(_tick(reporter, budget_seconds))
    end_message = "done"
    try:
        yield reporter
    except BaseException:
        end_message = "stopped"
        raise
    finally:
        if ticker is not None:
            ticker.cancel()
        if token is not None:
            ctx.tokens.pop(f"progress:{token}", None)
            await ctx.router.notify_editor("$/progress", {"token": token, "value": {"kind": "end", "message": end_message}})


async def _tick(reporter: Reporter, budget: float | None) -> None:
    started = time.monotonic()
    while True:
        await asyncio.sleep(TICK_SECONDS)
        elapsed = time.monotonic() - started
        percentage = int(100 * elapsed / budget) if budget else None
        with contextlib.suppress(Exception):
            await reporter.report(f"searching… {elapsed:.0f} s", percentage)


def on_cancel_notification(ctx: CompanionContext, params: Any) -> bool:
    """Handle the editor's ``window/workDoneProgress/cancel``; True when the token was ours."""
    token = params.get("token") if isinstance(params, dict) else None
    callback = ctx.tokens.get(f"progress:{token}") if token is not None else None
    if callback is None:
        return False
    callback()
    return True
