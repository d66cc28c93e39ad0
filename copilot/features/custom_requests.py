"""The ``$/leanCompanion/*`` requests and notifications (docs/editor-protocol.md), answered by
the proxy and never forwarded to Lean, plus the ``Fill sorry`` command
(``workspace/executeCommand``).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any, ClassVar

import msgspec

from copilot.features import progress as progress_mod
from copilot.features import protocol as P
from copilot.features.code_actions import fill_command_id
from copilot.features.context import CompanionContext, uri_to_path
from copilot.features.fill import fill_sorry
from copilot.features.suggest import current_target, suggestions
from lsp_proxy.errors import (
    CONTENT_MODIFIED,
    REQUEST_FAILED,
    LeanError,
    ResponseError,
)

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = P.PROTOCOL_VERSION
FEATURES = ["suggest", "fillSorry", "premises", "codeActions", "completions", "diagnostics", "widget"]


def package_version() -> str:
    try:
        return metadata.version("lean-companion")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


# ------------------------------------------------------------------ parameter checks


def _document(ctx: CompanionContext, ident: P.VersionedDocument) -> tuple[str, Any]:
    """The open document ``ident`` names (-32803 if not open, -32801 if it is newer)."""
    doc = ctx.router.documents.get(ident.uri)
    if doc is None:
        raise ResponseError(REQUEST_FAILED, f"the document is not open: {ident.uri}")
    if ident.version is not None and doc.version > ident.version:
        raise ResponseError(CONTENT_MODIFIED, f"the document changed (version {doc.version} > {ident.version})")
    return ident.uri, doc


def _clamp(value: int | None, default: int, low: int, high: int) -> int:
    return default if value is None else max(low, min(high, value))


@contextlib.contextmanager
def _registered(ctx: CompanionContext, token: str | None, cancel: Any):
    if token is not None:
        ctx.tokens[token] = cancel
    try:
        yield
    finally:
        if token is not None and ctx.tokens.get(token) is cancel:
            ctx.tokens.pop(token, None)


def _cancelled_by_edit() -> bool:
    """Inside an except CancelledError: was the request itself cancelled (else: an edit)?"""
    task = asyncio.current_task()
    return task is not None and task.cancelling() == 0


# ------------------------------------------------------------------ requests


async def suggest(ctx: CompanionContext, params: Any) -> dict:
    """``$/leanCompanion/suggest``."""
    request = P.parse(params, P.SuggestParams)
    uri, _doc = _document(ctx, request.text_document)
    line, character = request.position.line, request.position.character
    limit = _clamp(request.max_suggestions, ctx.config.suggest.max_candidates, 1, 100)
    token = request.request_token
    if not ctx.config.suggest.enabled:
        raise ResponseError(-32601, "suggestions are disabled (suggest.enabled = false)")
    started = time.perf_counter()
    target = current_target(ctx, uri, line, character, allow_line=True)
    if target is None:
        return P.to_wire(P.SuggestResult(goal=None, latency_ms=int((time.perf_counter() - started) * 1000),
                                          suggestions=[]))
    me = asyncio.current_task()
    with _registered(ctx, token, lambda: me.cancel() if me else None):
        try:
            result = await suggestions(ctx, target)
        except asyncio.CancelledError:
            if _cancelled_by_edit():
                raise ResponseError(CONTENT_MODIFIED, "the document changed while suggesting") from None
            raise
        except LeanError as exc:
            raise ResponseError(REQUEST_FAILED, f"Lean could not answer: {exc}") from None
    chosen = list(result.suggestions[:limit])
    if request.include_unchecked:
        chosen += result.unchecked[: max(0, limit - len(chosen))]
    latency = int((time.perf_counter() - started) * 1000)
    ctx.last_latency_ms = latency
    items = [msgspec.convert(s.to_json(target), P.Suggestion) for s in chosen]
    return P.to_wire(P.SuggestResult(goal=result.goal_text, latency_ms=latency, suggestions=items))


async def premises(ctx: CompanionContext, params: Any) -> dict:
    """``$/leanCompanion/premises``."""
    request = P.parse(params, P.PremisesParams)
    uri, doc = _document(ctx, request.text_document)
    line, character = request.position.line, request.position.character
    k = _clamp(request.k, 10, 1, 100)
    token = request.request_token
    target = current_target(ctx, uri, line, character, allow_line=True)
    me = asyncio.current_task()
    with _registered(ctx, token, lambda: me.cancel() if me else None):
        goal: str | None = None
        if target is not None:
            cached = ctx.cached(target.key)
            if cached is not None:
                goal = cached.goal_text
            else:
                try:
                    goal = await _goal_only(ctx, target)
                except LeanError as exc:
                    raise ResponseError(REQUEST_FAILED, f"Lean could not answer: {exc}") from None
        if goal is None:
            goal = doc.line(line)
        hits = await ctx.premises.search_goal(goal, k, file=uri_to_path(uri), line=line)
    return P.to_wire(P.PremisesResult(premises=[
        P.Premise(name=h.name, signature=h.signature, module=h.module, score=round(float(h.score), 4)) for h in hits]))


async def _goal_only(ctx: CompanionContext, target: Any) -> str | None:
    from copilot.features.suggest import Timings, read_goals

    goals = await read_goals(ctx, target, Timings())
    return None if goals is None else "\n\n".join(goals)


async def fill(ctx: CompanionContext, params: Any) -> dict:
    """``$/leanCompanion/fillSorry``: the search result (cancel gives status ``cancelled``)."""
    request = P.parse(params, P.FillSorryParams)
    uri, _doc = _document(ctx, request.text_document)
    return await run_fill(ctx, uri, request.position.line, request.position.character, scope=request.scope,
                          timeout=request.timeout_seconds, token=request.request_token)


async def run_fill(ctx: CompanionContext, uri: str, line: int, character: int, *, scope: str = "position",
                   timeout: float | None = None, token: str | None = None) -> dict:
    """Run a search as a tracked job (edits of the document and cancels stop it; the result
    then says ``cancelled``), with progress in the editor."""
    from copilot.features.context import Job

    cancel = asyncio.Event()
    job_task = ctx.spawn(_fill_with_progress(ctx, uri, line, character, scope, timeout, cancel), f"fill:{uri}")
    # an edit of the document stops the search promptly; the result then says "cancelled"
    ctx.track(Job(uri, job_task, "fill", stop=cancel.set))
    with _registered(ctx, token, cancel.set):
        try:
            return await asyncio.shield(job_task)
        except asyncio.CancelledError:
            cancel.set()
            try:
                return await job_task
            except asyncio.CancelledError:
                return {"status": "cancelled"}
        except LookupError:
            raise ResponseError(REQUEST_FAILED, f"the document is not open: {uri}") from None
        except LeanError as exc:
            raise ResponseError(REQUEST_FAILED, f"Lean could not answer: {exc}") from None


async def _fill_with_progress(ctx: CompanionContext, uri: str, line: int, character: int, scope: str,
                              timeout: float | None, cancel: asyncio.Event) -> dict:
    budget = ctx.config.search.budget_seconds if timeout is None else min(timeout, ctx.config.search.budget_seconds)
    async with progress_mod.progress(ctx, "Lean Companion: searching for a proof", on_cancel=cancel.set,
                                     budget_seconds=budget) as reporter:
        async def found(filled: int, total: int) -> None:
            await reporter.report(f"{filled} of {total} sorries filled")

        return await fill_sorry(ctx, uri, line, character, scope=scope, timeout=timeout, cancel=cancel,
                                on_found=found)


async def execute_fill_command(ctx: CompanionContext, params: Any) -> Any:
    """``workspace/executeCommand`` for our fill command: search, then ``workspace/applyEdit``."""
    command = P.parse(params, P.ExecuteFillParams)
    if not command.arguments:
        raise ResponseError(P.INVALID_PARAMS, "arguments[0]: expected {textDocument, position}")
    argument = command.arguments[0]
    uri, _doc = _document(ctx, argument.text_document)
    line, character = argument.position.line, argument.position.character
    result = await run_fill(ctx, uri, line, character)
    edit = result.get("edit")
    if edit is not None and result.get("status") in ("proved", "partial"):
        try:
            applied = await ctx.router.request_editor("workspace/applyEdit", {"label": "Fill sorry", "edit": edit},
                                                      timeout=30.0)
            result["applied"] = bool(isinstance(applied, dict) and applied.get("applied"))
        except Exception as exc:
            logger.info("the editor did not apply the fill: %s", exc)
            result["applied"] = False
    elif result.get("status") not in ("proved", "partial"):
        message = {"noSorry": "no sorry at the cursor", "cancelled": "search cancelled",
                   "timeout": "no proof found within the time budget"}.get(result["status"], "no proof found")
        with contextlib.suppress(Exception):
            await ctx.router.notify_editor("window/showMessage", {"type": 3, "message": f"Lean Companion: {message}"})
    return result


async def status(ctx: CompanionContext, params: Any) -> dict:
    """``$/leanCompanion/status``; the first call also subscribes the editor to
    ``$/leanCompanion/statusChanged``."""
    P.parse(params, P.StatusParams)
    result = P.to_wire(await status_result(ctx))
    notifier = StatusNotifier.of(ctx)
    notifier.sent = result
    notifier.start()
    return result


def set_problem_source(ctx: CompanionContext, source: Callable[[], list[dict[str, str]]]) -> None:
    """Where ``status`` (and ``statusChanged``) read the open problems (``[{key, message}]``)."""
    StatusNotifier.of(ctx).problems = source


def _problems(ctx: CompanionContext) -> list[P.ProblemInfo]:
    try:
        return [msgspec.convert(p, P.ProblemInfo) for p in StatusNotifier.of(ctx).problems()]
    except Exception as exc:  # a broken source must not break status
        logger.warning("problems unavailable for status: %s", exc)
        return []


async def status_result(ctx: CompanionContext) -> P.StatusResult:
    """The ``status`` result now (the model list is read in a thread: it stats files)."""
    models = await asyncio.to_thread(_models, ctx)
    return P.StatusResult(
        version=package_version(),
        protocol_version=P.PROTOCOL_VERSION,
        pid=ctx.pid,
        models=[msgspec.convert(m, P.ModelInfo, from_attributes=False) for m in models],
        index=P.IndexInfo(state=ctx.premises.state, declarations=ctx.premises.declarations(),
                          error=ctx.premises.error or None),
        last_latency_ms=ctx.last_latency_ms,
        busy=ctx.busy(),
        log_file=log_file(),
        features=[f for f in FEATURES if _feature_on(ctx, f)],
        lean=P.LeanInfo(running=ctx.lean_running, restarts=int(getattr(ctx.router, "restarts", 0))),
        problems=_problems(ctx),
        fill_sorry_command=fill_command_id(ctx),
    )


class StatusNotifier:
    """Sends ``$/leanCompanion/statusChanged`` when what ``status`` reports changes.

    Only editors that asked for ``status`` once get it (others never hear of it). Every
    ``interval`` seconds it compares a cheap fingerprint (busy flag, index state and size, model
    states, last latency, Lean running/restarts, enabled features, open problems); only when that
    changed does it build the whole status (which lists the model files in a thread) and send it
    if it differs from the last one sent."""

    interval = 0.5
    _by_ctx: ClassVar[dict[int, StatusNotifier]] = {}

    def __init__(self, ctx: CompanionContext) -> None:
        self.ctx = ctx
        self.problems: Callable[[], list[dict[str, str]]] = list
        self.sent: Any = None
        self.task: asyncio.Task | None = None
        self._fingerprint: Any = None

    @classmethod
    def of(cls, ctx: CompanionContext) -> StatusNotifier:
        notifier = cls._by_ctx.get(id(ctx))
        if notifier is None or notifier.ctx is not ctx:
            notifier = cls._by_ctx[id(ctx)] = cls(ctx)
        return notifier

    def fingerprint(self) -> Any:
        ctx = self.ctx
        models = tuple(sorted((k, v.get("state"), v.get("error")) for k, v in ctx.sources.status().items()))
        return (ctx.busy(), ctx.premises.state, ctx.premises.declarations(), ctx.premises.error, models,
                ctx.last_latency_ms, ctx.lean_running, int(getattr(ctx.router, "restarts", 0)),
                tuple(f for f in FEATURES if _feature_on(ctx, f)),
                tuple((p.key, p.message) for p in _problems(ctx)))

    def start(self) -> None:
        if self.task is None or self.task.done():
            self._fingerprint = self.fingerprint()
            self.task = self.ctx.spawn(self._run(), "status-changed")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check()

    async def check(self) -> bool:
        """Send ``statusChanged`` if the status changed; True when one was sent."""
        fingerprint = self.fingerprint()
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        current = P.to_wire(await status_result(self.ctx))
        if current == self.sent:
            return False
        self.sent = current
        try:
            await self.ctx.router.notify_editor(P.STATUS_CHANGED, current)
        except Exception as exc:  # the editor went away: stop quietly, the session is ending
            logger.info("statusChanged not sent: %s", exc)
            return False
        return True


def _feature_on(ctx: CompanionContext, feature: str) -> bool:
    s = ctx.config.suggest
    return {"suggest": s.enabled, "codeActions": s.enabled and s.code_actions, "completions": s.enabled and s.completions,
            "diagnostics": s.enabled and s.diagnostics, "widget": s.enabled}.get(feature, True)


def _models(ctx: CompanionContext) -> list[dict]:
    from local_models.catalog import all_models
    from local_models.loader import resolve

    out: list[dict] = []
    states = ctx.sources.status()
    try:
        entries = all_models(ctx.config)
    except Exception as exc:
        logger.warning("model list unavailable: %s", exc)
        entries = {}
    for model_id, entry in entries.items():
        try:
            resolve(model_id, ctx.config)
            installed = True
        except Exception:
            installed = False
        item: dict[str, Any] = {
            "id": model_id,
            "role": "encoder" if entry.role == "embedding" else entry.role,
            "backend": entry.format,
            "installed": installed,
            "active": states.get(model_id, {}).get("state") == "ready"
            or (entry.role == "embedding" and ctx.config.models.embedding == model_id and ctx.premises.state == "ready"),
            "sizeBytes": entry.size or 0,
        }
        if model_id in states:
            item["state"] = states[model_id]["state"]
            if states[model_id]["error"]:
                item["error"] = states[model_id]["error"]
        out.append(item)
    # the always-on portfolio last, so that editors showing "the first active tactic model"
    # (the VS Code status bar) name a loaded model when there is one
    out.sort(key=lambda m: not m["active"])
    out.append({"id": "portfolio", "role": "tactic", "backend": "portfolio", "installed": True, "active": True,
                "sizeBytes": 0})
    return out


def log_file() -> str | None:
    import logging as _logging

    for handler in _logging.getLogger().handlers:
        name = getattr(handler, "baseFilename", None)
        if name:
            return str(name)
    return None


# ------------------------------------------------------------------ notifications


def configure(ctx: CompanionContext, params: Any) -> None:
    """``$/leanCompanion/configure {settings}``: replace the editor overlay."""
    try:
        settings = P.parse(params, P.ConfigureParams).settings
    except ResponseError as exc:
        logger.warning("%s ignored: %s", P.CONFIGURE, exc)
        return
    problems = ctx.set_overlay(settings)
    logger.info("editor settings applied%s", f" ({len(problems)} ignored)" if problems else "")


def did_change_configuration(ctx: CompanionContext, params: Any) -> None:
    """``workspace/didChangeConfiguration`` with a ``leanCompanion`` object (forwarded to Lean too)."""
    settings = params.get("settings") if isinstance(params, dict) else None
    if isinstance(settings, dict) and isinstance(settings.get("leanCompanion"), dict):
        ctx.set_overlay(settings["leanCompanion"])


def cancel(ctx: CompanionContext, params: Any) -> None:
    """``$/leanCompanion/cancel {requestToken}``; unknown tokens are ignored."""
    try:
        token = P.parse(params, P.CancelParams).request_token
    except ResponseError as exc:
        logger.warning("%s ignored: %s", P.CANCEL, exc)
        return
    callback = ctx.tokens.get(token)
    if callback is not None:
        callback()
