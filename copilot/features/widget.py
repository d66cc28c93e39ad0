"""The infoview widget: a panel of checked suggestions, with no Lean library in the project.

* ``Lean.Widget.getWidgets`` replies (``$/lean/rpc/call``) get one more instance of our module
  when the cache has checked suggestions for the cursor's target (props: the suggestions, the
  replaced range, the document's URI and version).
* ``Lean.Widget.getWidgetSource`` calls for our hash are answered by the proxy with
  ``widget.js`` (package data); other hashes go to Lean.

The hash is derived from the module text and kept below 2^53, so it survives JavaScript numbers.
"""
from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from importlib import resources
from typing import Any

from copilot.features.context import CompanionContext
from copilot.features.suggest import current_target, schedule

logger = logging.getLogger(__name__)

WIDGET_ID = "leanCompanion.suggestions"
GET_WIDGETS = "Lean.Widget.getWidgets"
GET_WIDGET_SOURCE = "Lean.Widget.getWidgetSource"
MAX_SUGGESTIONS = 8


@lru_cache(maxsize=1)
def source_text() -> str:
    """The module's JavaScript."""
    return resources.files("copilot.features").joinpath("widget.js").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def widget_hash() -> int:
    """A stable 53-bit hash of :func:`source_text`."""
    return int.from_bytes(hashlib.sha256(source_text().encode()).digest()[:8], "big") % (2**53)


def is_our_source_call(params: Any) -> bool:
    """``when`` predicate: a ``getWidgetSource`` call for our hash."""
    if not isinstance(params, dict) or params.get("method") != GET_WIDGET_SOURCE:
        return False
    inner = params.get("params")
    return isinstance(inner, dict) and str(inner.get("hash")) == str(widget_hash())


async def serve_source(params: Any) -> dict:
    """Answer our ``getWidgetSource`` (Lean never sees it)."""
    return {"sourcetext": source_text()}


def instance_for(ctx: CompanionContext, uri: str, line: int, character: int) -> dict | None:
    """Our widget instance at a position (``None``: nothing checked there yet)."""
    target = current_target(ctx, uri, line, character, allow_line=False)
    if target is None:
        return None
    result = ctx.cached(target.key)
    if result is None:
        schedule(ctx, target)
        return None
    if not result.suggestions:
        return None
    rng = target.lsp_range()
    return {
        "id": WIDGET_ID,
        "name": "Lean Companion",
        "javascriptHash": widget_hash(),
        "props": {
            "uri": uri,
            "version": target.version,
            "range": rng,
            "suggestions": [s.to_json(target) for s in result.suggestions[:MAX_SUGGESTIONS]],
        },
        "range": rng,
    }


async def transform_rpc(ctx: CompanionContext, params: Any, result: Any) -> Any:
    """Response transformer for ``$/lean/rpc/call``: extend ``getWidgets`` replies only."""
    if not isinstance(params, dict) or params.get("method") != GET_WIDGETS or not isinstance(result, dict):
        return None
    if not ctx.config.suggest.enabled:
        return None
    uri = (params.get("textDocument") or {}).get("uri")
    position = params.get("position") or (params.get("params") if isinstance(params.get("params"), dict) else None)
    if not isinstance(uri, str) or not isinstance(position, dict):
        return None
    instance = instance_for(ctx, uri, int(position.get("line", 0)), int(position.get("character", 0)))
    if instance is None:
        return None
    return {**result, "widgets": list(result.get("widgets") or []) + [instance]}
