"""Our code actions, merged into Lean's ``textDocument/codeAction`` result (Lean's own stay
untouched and first): ``Try: <tactic>`` (checked suggestions, from the cache only, so Lean's
answer is never held up), ``Fill sorry with a proof (search)`` on a ``sorry`` (a command: the
proxy runs the search, then sends ``workspace/applyEdit``), and ``Insert premise <name>``.

Every action of ours carries ``data: {"leanCompanion": 1, ...}``; ``codeAction/resolve`` for
those is answered here and never reaches Lean (Lean's resolve routing fails on foreign data).
"""
from __future__ import annotations

import logging
from typing import Any

from copilot.features.context import CompanionContext
from copilot.features.suggest import current_target, schedule
from copilot.proof_text import lsp_to_offset

logger = logging.getLogger(__name__)

FILL_TITLE = "Fill sorry with a proof (search)"
MAX_TRY = 5
MAX_PREMISES = 3


def fill_command_id(ctx: CompanionContext) -> str:
    """The executeCommand id, unique per proxy process (docs/editor-protocol.md §4)."""
    return f"leanCompanion.proxy.{ctx.pid}.fillSorry"


def is_ours(params: Any) -> bool:
    """Whether a ``codeAction/resolve`` is for one of our actions."""
    return isinstance(params, dict) and isinstance(params.get("data"), dict) and bool(params["data"].get("leanCompanion"))


def _verdict_label(verdict: str, goals: int) -> str:
    if verdict == "closes":
        return "closes the goal"
    return f"{goals} goal{'s' if goals != 1 else ''} left"


def companion_actions(ctx: CompanionContext, params: dict) -> list[dict]:
    """Our actions for a codeAction request (cache lookups only; schedules work on a miss)."""
    if not ctx.config.suggest.enabled or not ctx.config.suggest.code_actions:
        return []
    uri = params["textDocument"]["uri"]
    start = params["range"]["start"]
    line, character = int(start["line"]), int(start["character"])
    doc = ctx.router.documents.get(uri)
    if doc is None:
        return []
    actions: list[dict] = []
    target = current_target(ctx, uri, line, character, allow_line=False)
    if target is not None:
        result = ctx.cached(target.key)
        if result is None:
            schedule(ctx, target)
        else:
            preferred = False
            for suggestion in result.suggestions[:MAX_TRY]:
                action = {
                    "title": f"Try: {verdict_title(suggestion)}",
                    "kind": "quickfix",
                    "diagnostics": [],
                    "edit": target.edit(suggestion.tactic),
                    "data": {"leanCompanion": 1, "kind": "try", "verdict": suggestion.verdict,
                             "tactic": suggestion.tactic},
                }
                if suggestion.verdict == "closes" and not preferred:
                    action["isPreferred"] = preferred = True
                actions.append(action)
            offset = lsp_to_offset(doc.text, line, character)
            sl, sc = line, character
            for hit in result.premises[:MAX_PREMISES]:
                actions.append({
                    "title": f"Insert premise {hit.name}",
                    "kind": "refactor.rewrite",
                    "edit": {"documentChanges": [{"textDocument": {"uri": uri, "version": doc.version}, "edits": [
                        {"range": {"start": {"line": sl, "character": sc}, "end": {"line": sl, "character": sc}},
                         "newText": hit.name}]}]},
                    "data": {"leanCompanion": 1, "kind": "premise", "offset": offset},
                })
    if target is not None and target.kind == "sorry":
        actions.append({
            "title": FILL_TITLE,
            "kind": "quickfix",
            "command": {"title": FILL_TITLE, "command": fill_command_id(ctx), "arguments": [
                {"textDocument": {"uri": uri, "version": doc.version}, "position": {"line": line, "character": character}}]},
            "data": {"leanCompanion": 1, "kind": "fillSorry"},
        })
    return actions


def verdict_title(suggestion: Any) -> str:
    """``simp (closes the goal)`` / ``intro h (1 goal left)``: the tactic marked with its verdict."""
    return f"{suggestion.tactic} ({_verdict_label(suggestion.verdict, len(suggestion.goals_after))})"


async def transform(ctx: CompanionContext, params: Any, result: Any) -> Any:
    """Response transformer for ``textDocument/codeAction``: Lean's actions, then ours."""
    if not isinstance(params, dict) or not (result is None or isinstance(result, list)):
        return None
    ours = companion_actions(ctx, params)
    if not ours:
        return None
    return list(result or []) + ours


async def resolve(params: Any) -> Any:
    """``codeAction/resolve`` for our actions: they are complete already."""
    return params
