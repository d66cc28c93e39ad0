"""The ``$/leanCompanion/*`` requests and notifications (docs/editor-protocol.md), answered by
the proxy and never forwarded to Lean, plus the ``Fill sorry`` command
(``workspace/executeCommand``).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from importlib import metadata
from typing import Any

from copilot.features import progress as progress_mod
from copilot.features.code_actions import fill_command_id
from copilot.features.context import CompanionContext, uri_to_path
from copilot.features.fill import fill_sorry
from copilot.features.suggest import current_target, suggestions
from lsp_proxy.errors import (
    CONTENT_MODIFIED,
    INVALID_PARAMS,
    REQUEST_FAILED,
    LeanError,
    ResponseError,
)

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
FEATURES = ["suggest", "fillSorry", "premises", "codeActions", "completions", "diagnostics", "widget"]


def package_version() -> str:
    try:
        return metadata.version("lean-companion")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


# ------------------------------------------------------------------ parameter checks


def _object(params: Any) -> dict:
    if not isinstance(params, dict):
        raise ResponseError(INVALID_PARAMS, "params must be an object")
    return params


def _document(ctx: CompanionContext, params: dict) -> tuple[str, Any]:
    ident = params.get("textDocument")
    if not isinstance(ident, dict) or not isinstance(ident.get("uri"), str):
        raise ResponseError(INVALID_PARAMS, "textDocument.uri: expected a string")
    uri = ident["uri"]
    doc = ctx.router.documents.get(uri)
    if doc is None:
        raise ResponseError(REQUEST_FAILED, f"the document is not open: {uri}")
    version = ident.get("version")
    if version is not None:
        if not isinstance(version, int) or isinstance(version, bool):
            raise ResponseError(INVALID_PARAMS, "textDocument.version: expected an integer")
        if doc.version > version:
            raise ResponseError(CONTENT_MODIFIED, f"the document changed (version {doc.version} > {version})")
    return uri, doc


def _position(params: dict) -> tuple[int, int]:
    position = params.get("position")
    if not isinstance(position, dict):
        raise ResponseError(INVALID_PARAMS, "position: expected {line, character}")
    line, character = position.get("line"), position.get("character")
    for name, value in (("position.line", line), ("position.character", character)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ResponseError(INVALID_PARAMS, f"{name}: expected a non-negative integer")
    return line, character  # type: ignore[return-value]


def _int(params: dict, name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise ResponseError(INVALID_PARAMS, f"{name}: expected an integer")
    return max(low, min(high, value))


def _token(params: dict) -> str | None:
    token = params.get("requestToken")
    if token is not None and not isinstance(token, str):
        raise ResponseError(INVALID_PARAMS, "requestToken: expected a string")
    return token


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
    params = _object(params)
    uri, doc = _document(ctx, params)
    line, character = _position(params)
    limit = _int(params, "maxSuggestions", ctx.config.suggest.max_candidates, 1, 100)
    include_unchecked = params.get("includeUnchecked", False)
    if not isinstance(include_unchecked, bool):
        raise ResponseError(INVALID_PARAMS, "includeUnchecked: expected a boolean")
    token = _token(params)
    if not ctx.config.suggest.enabled:
        raise ResponseError(-32601, "suggestions are disabled (suggest.enabled = false)")
    started = time.perf_counter()
    target = current_target(ctx, uri, line, character, allow_line=True)
    if target is None:
        return {"goal": None, "latencyMs": int((time.perf_counter() - started) * 1000), "suggestions": []}
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
    items = [s.to_json(target) for s in result.suggestions[:limit]]
    if include_unchecked:
        items += [s.to_json(target) for s in result.unchecked[: max(0, limit - len(items))]]
    latency = int((time.perf_counter() - started) * 1000)
    ctx.last_latency_ms = latency
    return {"goal": result.goal_text, "latencyMs": latency, "suggestions": items}


async def premises(ctx: CompanionContext, params: Any) -> dict:
    """``$/leanCompanion/premises``."""
    params = _object(params)
    uri, doc = _document(ctx, params)
    line, character = _position(params)
    k = _int(params, "k", 10, 1, 100)
    token = _token(params)
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
    return {"premises": [{"name": h.name, "signature": h.signature, "module": h.module, "score": round(float(h.score), 4)}
                         for h in hits]}


async def _goal_only(ctx: CompanionContext, target: Any) -> str | None:
    from copilot.features.suggest import Timings, read_goals

    goals = await read_goals(ctx, target, Timings())
    return None if goals is None else "\n\n".join(goals)


async def fill(ctx: CompanionContext, params: Any) -> dict:
    """``$/leanCompanion/fillSorry``: the search result (cancel gives status ``cancelled``)."""
    params = _object(params)
    uri, _doc = _document(ctx, params)
    line, character = _position(params)
    scope = params.get("scope", "position")
    if scope not in ("position", "file"):
        raise ResponseError(INVALID_PARAMS, 'scope: expected "position" or "file"')
    timeout = params.get("timeoutSeconds")
    if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0):
        raise ResponseError(INVALID_PARAMS, "timeoutSeconds: expected a positive number")
    token = _token(params)
    return await run_fill(ctx, uri, line, character, scope=scope, timeout=timeout, token=token)


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
    params = _object(params)
    arguments = params.get("arguments") or []
    if not arguments or not isinstance(arguments[0], dict):
        raise ResponseError(INVALID_PARAMS, "arguments[0]: expected {textDocument, position}")
    argument = arguments[0]
    uri, _doc = _document(ctx, argument)
    line, character = _position(argument)
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
    """``$/leanCompanion/status``."""
    models = await asyncio.to_thread(_models, ctx)
    return {
        "version": package_version(),
        "protocolVersion": PROTOCOL_VERSION,
        "pid": ctx.pid,
        "models": models,
        "index": {"state": ctx.premises.state, "declarations": ctx.premises.declarations(),
                  **({"error": ctx.premises.error} if ctx.premises.error else {})},
        "lastLatencyMs": ctx.last_latency_ms,
        "busy": ctx.busy(),
        "logFile": log_file(),
        "features": [f for f in FEATURES if _feature_on(ctx, f)],
        "lean": {"running": ctx.lean_running, "restarts": int(getattr(ctx.router, "restarts", 0))},
        "fillSorryCommand": fill_command_id(ctx),
    }


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
    settings = params.get("settings") if isinstance(params, dict) else None
    problems = ctx.set_overlay(settings if isinstance(settings, dict) else {})
    logger.info("editor settings applied%s", f" ({len(problems)} ignored)" if problems else "")


def did_change_configuration(ctx: CompanionContext, params: Any) -> None:
    """``workspace/didChangeConfiguration`` with a ``leanCompanion`` object (forwarded to Lean too)."""
    settings = params.get("settings") if isinstance(params, dict) else None
    if isinstance(settings, dict) and isinstance(settings.get("leanCompanion"), dict):
        ctx.set_overlay(settings["leanCompanion"])


def cancel(ctx: CompanionContext, params: Any) -> None:
    """``$/leanCompanion/cancel {requestToken}``; unknown tokens are ignored."""
    token = params.get("requestToken") if isinstance(params, dict) else None
    callback = ctx.tokens.get(token) if isinstance(token, str) else None
    if callback is not None:
        callback()
