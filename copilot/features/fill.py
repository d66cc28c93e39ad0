"""Filling a ``sorry`` from the editor: best-first proof search (:mod:`copilot.search`), every
step checked by Lean in shadow documents, and a versioned WorkspaceEdit for the proof found.

Scope ``position``: the ``sorry`` at the position, else the first one after it in the same
declaration. Scope ``file``: every ``sorry`` of the document, last first (so the offsets of the
earlier ones stay valid), each search seeing the proofs already found after it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from copilot.checker import CheckTarget
from copilot.features import protocol as P
from copilot.features.context import CompanionContext, uri_to_path
from copilot.proof_text import find_declaration, locate_sorries, lsp_to_offset, offset_to_lsp
from copilot.search import SearchConfig, SearchResult, search

logger = logging.getLogger(__name__)

MODEL_WAIT_SECONDS = 10.0


def _range(text: str, start: int, end: int) -> P.LspRange:
    sl, sc = offset_to_lsp(text, start)
    el, ec = offset_to_lsp(text, end)
    return P.LspRange(start=P.LspPosition(line=sl, character=sc), end=P.LspPosition(line=el, character=ec))


def pick_sorry(text: str, offset: int) -> Any:
    """The ``sorry`` at ``offset``, else the first after it in the same declaration."""
    sorries = locate_sorries(text)
    for location in sorries:
        if location.start <= offset <= location.end:
            return location
    decl = find_declaration(text, offset)
    if decl is None:
        return None
    for location in sorries:
        if location.start >= offset and location.start < decl.end:
            return location
    return None


async def _search_one(ctx: CompanionContext, uri: str, text: str, location: Any, budget: float,
                      cancel: asyncio.Event) -> SearchResult:
    config = ctx.config
    target = CheckTarget.for_sorry(uri, text, location)
    premises: list[str] = []
    if ctx.premises.state == "ready":
        hits = await ctx.premises.search_goal(target.decl.statement, 16, file=uri_to_path(uri),
                                              line=text.count("\n", 0, target.decl.start))
        premises = [h.name for h in hits]
    await ctx.sources.wait_loaded(min(MODEL_WAIT_SECONDS, budget / 4))
    generators = ctx.sources.generators(("tactic", "whole-proof"))
    search_config = SearchConfig(
        time_budget=budget,
        max_expansions=config.search.max_expansions,
        max_depth=config.search.max_depth,
        generator_timeout=max(config.suggest.timeout_seconds, 5.0),
        whole_proof_rounds=max(1, config.search.feedback_rounds),
    )
    assert ctx.checker is not None
    return await search(ctx.checker, target, generators, config=search_config, cancel=cancel, premises=premises)


def _stats(results: list[SearchResult], started: float, elaborations: int) -> P.FillStats:
    return P.FillStats(elapsed_ms=int((time.monotonic() - started) * 1000),
                       expansions=sum(r.stats.expansions for r in results), lean_checks=elaborations)


_STATUS: dict[str, P.FillStatus] = {"proved": "proved", "failed": "failed", "timeout": "timeout",
                                    "cancelled": "cancelled", "no-goal": "failed"}


async def fill_sorry(ctx: CompanionContext, uri: str, line: int, character: int, *, scope: str = "position",
                     timeout: float | None = None, cancel: asyncio.Event | None = None,
                     on_found: Any = None) -> dict[str, Any]:
    """Search proofs for the ``sorry`` (or every ``sorry``) and return the ``fillSorry`` result
    of docs/editor-protocol.md: status, proof, edit (against the version searched), stats."""
    cancel = cancel or asyncio.Event()
    doc = ctx.router.documents.get(uri)
    if doc is None:
        raise LookupError(uri)
    text, version = doc.text, doc.version
    budget = ctx.config.search.budget_seconds
    if timeout is not None and timeout > 0:
        budget = min(budget, float(timeout))
    started = time.monotonic()
    assert ctx.checker is not None
    elaborations_before = ctx.checker.elaborations
    offset = lsp_to_offset(text, line, character)
    if scope == "file":
        locations = sorted(locate_sorries(text), key=lambda s: -s.start)
    else:
        location = pick_sorry(text, offset)
        locations = [location] if location is not None else []
    if not locations:
        return P.to_wire(P.FillSorryResult(status="noSorry", stats=_stats([], started, 0)))
    deadline = started + budget
    results: list[SearchResult] = []
    edits: list[P.LspTextEdit] = []
    current = text
    last_status: P.FillStatus = "failed"
    for location in locations:
        remaining = deadline - time.monotonic()
        if remaining <= 0.05 or cancel.is_set():
            last_status = "cancelled" if cancel.is_set() else "timeout"
            break
        try:
            result = await _search_one(ctx, uri, current, location, remaining, cancel)
        except ValueError as exc:  # no declaration around this sorry
            logger.info("cannot search the sorry at line %d: %s", location.line + 1, exc)
            continue
        results.append(result)
        last_status = _STATUS.get(result.status, "failed")
        if result.status == "proved" and result.replacement is not None and result.new_text is not None:
            edits.append(P.LspTextEdit(range=_range(text, result.hole_start, result.hole_end), new_text=result.replacement))
            current = result.new_text
            if on_found is not None:
                await on_found(len(edits), len(locations))
        if result.status == "cancelled":
            break
    elaborations = ctx.checker.elaborations - elaborations_before
    out = P.FillSorryResult(status="failed", stats=_stats(results, started, elaborations))
    if edits:
        out.edit = P.LspWorkspaceEdit(document_changes=[
            P.LspTextDocumentEdit(text_document=P.EditedDocument(uri=uri, version=version), edits=edits[::-1])])
    if scope == "file":
        out.filled = len(edits)
        out.remaining = len(locations) - len(edits)
        if edits and len(edits) == len(locations):
            out.status = "proved"
        elif edits:
            out.status = "partial"
        else:
            out.status = last_status if last_status != "proved" else "failed"
        return P.to_wire(out)
    out.status = last_status
    if edits and results and results[-1].proof is not None:
        out.proof = results[-1].proof
    if results and results[-1].message and not edits:
        out.message = results[-1].message
    return P.to_wire(out)
