"""Suggestions for the editor: the LSP-side shell around :mod:`copilot.suggest` (the one
pipeline goal → candidates → safety → Lean check → rank).

``await suggestions(ctx, target)`` returns a :class:`SuggestResult` for a
:class:`~copilot.features.targets.SuggestTarget`: this module reads the goal (from the user's
document when Lean shows it there), looks up premises, builds the generation request, runs the
pipeline and adds the replacement text of each suggestion. Concurrent callers with the same key
share one computation, and finished results are cached by key (the checked text and the hole:
see ``targets.py``), so completions, code actions, diagnostics and the widget answer from the
cache. Nothing here runs on the editor's path: surfaces read the cache and schedule work with
:func:`schedule`. Every step is bounded (Lean requests and checks by timeouts, each source by
``suggest.timeout_seconds``); a failing source loses only its own candidates.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from copilot import suggest as pipeline
from copilot.features.context import CompanionContext, Job, uri_to_path
from copilot.features.targets import SuggestTarget, target_at
from copilot.suggest import Verdict, rank_key
from local_models.generation import GenerationRequest

logger = logging.getLogger(__name__)

__all__ = [
    "SuggestResult",
    "Suggestion",
    "Timings",
    "Verdict",
    "cancel_stale",
    "compute",
    "current_target",
    "rank_key",
    "read_goals",
    "schedule",
    "suggestions",
]
PREMISES_PER_REQUEST = 8
FILE_CONTEXT_CHARS = 4000


@dataclass(frozen=True)
class Suggestion(pipeline.Ranked):
    """A ranked candidate (what Lean said about it) with the text that replaces the user's."""

    replacement: str

    def to_json(self, target: SuggestTarget) -> dict[str, Any]:
        """The ``suggestions[]`` entry of ``$/leanCompanion/suggest`` (editor-protocol.md)."""
        out: dict[str, Any] = {"tactic": self.tactic, "verdict": self.verdict, "goalsAfter": list(self.goals_after),
                               "source": self.source, "score": round(self.score, 4)}
        if target.replace_end > target.replace_start or target.lead:
            out["range"] = target.lsp_range()
        out["newText"] = self.replacement
        return out


@dataclass
class Timings:
    """Where the time of one computation went (for the status line and the benchmark)."""

    total: float = 0.0
    lean: float = 0.0
    generate: float = 0.0
    premises: float = 0.0


@dataclass
class SuggestResult:
    """Suggestions for one target: checked ones ranked best first, then unchecked ones."""

    target: SuggestTarget
    goals: tuple[str, ...] | None
    suggestions: list[Suggestion] = field(default_factory=list)
    unchecked: list[Suggestion] = field(default_factory=list)
    premises: list[Any] = field(default_factory=list)
    rejected_unsafe: int = 0
    failed_sources: dict[str, str] = field(default_factory=dict)
    timings: Timings = field(default_factory=Timings)

    @property
    def goal_text(self) -> str | None:
        return None if self.goals is None else "\n\n".join(self.goals)

    @property
    def closing(self) -> list[Suggestion]:
        return [s for s in self.suggestions if s.verdict == "closes"]


async def read_goals(ctx: CompanionContext, target: SuggestTarget, timings: Timings) -> tuple[str, ...] | None:
    """The goals the suggestion must work on; ``None`` if Lean shows none there.

    Where the checked text is the user's (a ``sorry``, a blank line), Lean is asked directly on
    the user's document once it has finished that version; otherwise (or when Lean shows no
    goal there, e.g. a blank line) the checker reads them in a shadow document."""
    client = ctx.client
    started = time.perf_counter()
    try:
        if target.check_text is target.text:
            await client.wait_for_diagnostics(target.uri, target.version, timeout=ctx.config.search.check_timeout_seconds)
            line, character = (target.sorry.line, target.sorry.character) if target.sorry else _position(target)
            if target.sorry is not None and target.check.hole.kind == "term":
                term = await client.plain_term_goal(target.uri, line, character)
                if term is not None:
                    return (term.goal,)
            goal = await client.plain_goal(target.uri, line, character)
            if goal is not None:
                return tuple(goal.goals)
        assert ctx.checker is not None
        goals, _kind = await ctx.checker.initial_goals(target.check)
        return None if goals is None else tuple(goals)
    finally:
        timings.lean += time.perf_counter() - started


def _position(target: SuggestTarget) -> tuple[int, int]:
    from copilot.proof_text import offset_to_lsp

    return offset_to_lsp(target.text, target.replace_start)


def _request(ctx: CompanionContext, target: SuggestTarget, goals: tuple[str, ...], premises: list[str]) -> GenerationRequest:
    decl = target.check.decl
    text = target.check_text
    body = text[decl.body_start : target.check.hole.start] if decl.body_start is not None else ""
    prefix = body.strip()
    if prefix.startswith("by"):
        prefix = prefix[2:]
    return GenerationRequest(
        goal="\n\n".join(goals),
        n=max(ctx.config.suggest.max_candidates * 2, 8),
        premises=tuple(premises),
        file_context=text[max(0, decl.start - FILE_CONTEXT_CHARS) : decl.start],
        theorem_name=decl.name or "",
        proof_prefix=prefix.strip("\n"),
        statement=f"{decl.statement} := by",
        deadline=time.monotonic() + ctx.config.suggest.timeout_seconds,
    )


async def compute(ctx: CompanionContext, target: SuggestTarget, cancel: asyncio.Event | None = None) -> SuggestResult:
    """Run the whole flow for ``target`` (no cache); see the module docstring."""
    started = time.perf_counter()
    timings = Timings()
    config = ctx.config
    goals = await read_goals(ctx, target, timings)
    result = SuggestResult(target, goals, timings=timings)
    if not goals:
        timings.total = time.perf_counter() - started
        return result
    t0 = time.perf_counter()
    path = uri_to_path(target.uri)
    decl_line = target.text.count("\n", 0, target.check.decl.start)
    hits = await ctx.premises.search_goal("\n\n".join(goals), PREMISES_PER_REQUEST, file=path, line=decl_line)
    timings.premises = time.perf_counter() - t0
    result.premises = hits
    assert ctx.checker is not None
    outcome = await pipeline.suggest(
        ctx.checker, target.check, goals, ctx.sources.generators(("tactic",)),
        _request(ctx, target, goals, [h.name for h in hits]),
        budget=config.suggest.max_candidates, timeout=config.suggest.timeout_seconds, cancel=cancel,
    )
    timings.generate = outcome.generate_s
    timings.lean += outcome.check_s
    result.failed_sources = outcome.failures
    result.rejected_unsafe = outcome.rejected_unsafe
    result.suggestions = [_with_replacement(target, item) for item in outcome.ranked]
    result.unchecked = [_with_replacement(target, item) for item in outcome.unchecked]
    timings.total = time.perf_counter() - started
    return result


def _with_replacement(target: SuggestTarget, item: pipeline.Ranked) -> Suggestion:
    return Suggestion(str(item.tactic), item.verdict, item.goals_after, item.source, item.score,
                      target.replacement(item.tactic))


async def suggestions(ctx: CompanionContext, target: SuggestTarget) -> SuggestResult:
    """The cached result for ``target``'s key, or a computation shared by every caller."""
    key = target.key
    cached = ctx.cached(key)
    if cached is not None:
        return cached
    task = ctx.inflight.get(key)
    if task is None or task.done():
        task = ctx.spawn(_compute_and_cache(ctx, target), f"suggest:{target.uri}:{target.replace_start}")
        ctx.inflight[key] = task
        ctx.track(Job(target.uri, task, "suggest", target.check_text if target.kind == "line" else None,
                      target.text.count("\n", 0, target.replace_start)))
    return await asyncio.shield(task)


async def _compute_and_cache(ctx: CompanionContext, target: SuggestTarget) -> SuggestResult:
    key = target.key
    try:
        result = await compute(ctx, target)
    finally:
        if ctx.inflight.get(key) is asyncio.current_task():
            ctx.inflight.pop(key, None)
    ctx.remember(key, result)
    ctx.last_latency_ms = int(result.timings.total * 1000)
    return result


def current_target(ctx: CompanionContext, uri: str, line: int, character: int, *, allow_line: bool) -> SuggestTarget | None:
    """The target at a position of the editor's current version of ``uri`` (or ``None``)."""
    doc = ctx.router.documents.get(uri)
    if doc is None:
        return None
    return target_at(uri, doc.version, doc.text, line, character, allow_line=allow_line)


def schedule(ctx: CompanionContext, target: SuggestTarget, *, debounce: bool = True) -> None:
    """Compute suggestions for ``target`` in the background (after the debounce delay), unless
    cached or already running. Edits that make the target stale cancel it."""
    key = target.key
    if not ctx.config.suggest.enabled or ctx.cached(key) is not None:
        return
    task = ctx.inflight.get(key)
    if task is not None and not task.done():
        return

    async def run() -> SuggestResult:
        if debounce:
            await asyncio.sleep(ctx.config.suggest.debounce_ms / 1000)
        return await _compute_and_cache(ctx, target)

    task = ctx.spawn(run(), f"suggest-bg:{target.uri}:{target.replace_start}")
    ctx.inflight[key] = task
    ctx.track(Job(target.uri, task, "suggest", target.check_text if target.kind == "line" else None,
                  target.text.count("\n", 0, target.replace_start)))


def _line_check_text(doc, line: int) -> str | None:
    """The document without the tactic typed on ``line`` (what a line target checks)."""
    if not 0 <= line < len(doc.lines):
        return None
    text = doc.text
    start = sum(len(t) + 1 for t in doc.lines[:line])
    content = doc.lines[line]
    indent = len(content) - len(content.lstrip(" "))
    return text[: start + indent] + text[start + len(content.rstrip()):]


def cancel_stale(ctx: CompanionContext, uri: str) -> int:
    """After an edit of ``uri``: cancel its jobs whose checked text changed and drop its cached
    results that can no longer be asked for. A *line* job or result (the tactic being typed)
    survives edits of that line alone. Returns how many jobs were cancelled."""
    doc = ctx.router.documents.get(uri)
    cancelled = 0
    survivors: dict[int, str | None] = {}

    def still_valid(check_text: str | None, line: int) -> bool:
        if check_text is None or doc is None:
            return False
        if line not in survivors:
            survivors[line] = _line_check_text(doc, line)
        return survivors[line] == check_text

    for job in list(ctx.jobs.get(uri, ())):
        if job.task.done() or still_valid(job.check_text, job.line):
            continue
        job.cancel()
        cancelled += 1
    for key in [k for k in ctx.cache if k[0] == uri]:
        target = ctx.cache[key].target
        line = target.text.count("\n", 0, target.replace_start)
        if not (target.kind == "line" and still_valid(target.check_text, line)):
            del ctx.cache[key]
    if cancelled:
        logger.debug("edit of %s cancelled %d job(s)", uri, cancelled)
    return cancelled
