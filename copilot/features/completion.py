"""Checked suggestions as completion items, merged into Lean's ``textDocument/completion``.

Only cached (already checked) suggestions are added, so Lean's answer is delayed by a cache
lookup at most. While the suggestions for the position are being computed the list is marked
``isIncomplete: true``, so the editor asks again on the next keystroke; typing the tactic keeps
the same target (the tactic being typed is what the items replace), so the computation started
by the first keystroke serves the following ones.
"""
from __future__ import annotations

import logging
from typing import Any

from copilot.features.context import CompanionContext
from copilot.features.suggest import current_target, schedule

logger = logging.getLogger(__name__)

DETAIL = "✓ Lean Companion"
KIND_SNIPPET = 15


def _detail(suggestion: Any) -> str:
    if suggestion.verdict == "closes":
        return f"{DETAIL}: closes the goal"
    left = len(suggestion.goals_after)
    return f"{DETAIL}: {left} goal{'s' if left != 1 else ''} left"


def companion_items(ctx: CompanionContext, params: dict) -> tuple[list[dict], bool]:
    """(items, still computing) for a completion request; schedules work on a miss."""
    if not ctx.config.suggest.enabled or not ctx.config.suggest.completions:
        return [], False
    uri = params["textDocument"]["uri"]
    position = params["position"]
    line, character = int(position["line"]), int(position["character"])
    target = current_target(ctx, uri, line, character, allow_line=True)
    if target is None:
        return [], False
    result = ctx.cached(target.key)
    if result is None:
        schedule(ctx, target, debounce=False)
        return [], True
    rng = target.lsp_range()
    if target.kind == "line":
        rng = {"start": rng["start"], "end": {"line": line, "character": character}}
        if rng["end"]["character"] < rng["start"]["character"]:
            return [], False
    items = []
    for rank, suggestion in enumerate(result.suggestions):
        items.append({
            "label": suggestion.tactic,
            "kind": KIND_SNIPPET,
            "detail": _detail(suggestion),
            "sortText": f"!lc{rank:03d}",
            "filterText": suggestion.tactic,
            "textEdit": {"range": rng, "newText": suggestion.replacement},
            "data": {"leanCompanion": 1},
        })
    return items, False


async def transform(ctx: CompanionContext, params: Any, result: Any) -> Any:
    """Response transformer for ``textDocument/completion``."""
    if not isinstance(params, dict):
        return None
    items, computing = companion_items(ctx, params)
    if not items and not computing:
        return None
    if isinstance(result, list):
        return {"isIncomplete": computing, "items": items + result}
    if isinstance(result, dict):
        return {**result, "isIncomplete": bool(result.get("isIncomplete")) or computing,
                "items": items + list(result.get("items") or [])}
    return {"isIncomplete": computing, "items": items}
