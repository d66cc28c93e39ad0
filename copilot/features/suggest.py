"""The suggestion flow: goal → premises → candidates from every source → safety → Lean check
→ ranking → cache.

``await suggestions(ctx, target)`` returns a :class:`SuggestResult` for a
:class:`~copilot.features.targets.SuggestTarget`; concurrent callers with the same key share one
computation, and finished results are cached by key (the checked text and the hole: see
``targets.py``), so completions, code actions, diagnostics and the widget answer from the cache.
Nothing here runs on the editor's path: surfaces read the cache and schedule work with
:func:`schedule`. Every step is bounded (Lean requests and checks by timeouts, each source by
``suggest.timeout_seconds``); a failing source loses only its own candidates.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from copilot.features.context import CompanionContext, Job, uri_to_path
from copilot.features.sources import generate_all
from copilot.features.targets import SuggestTarget, target_at
from copilot.safety import check_candidate
from copilot.search import goal_key
from local_models.generation import Candidate, GenerationRequest
from lsp_proxy.errors import LeanError

logger = logging.getLogger(__name__)

Verdict = Literal["closes", "progress", "unchecked"]
PREMISES_PER_REQUEST = 8
FILE_CONTEXT_CHARS = 4000


@dataclass(frozen=True)
class Suggestion:
    """One candidate and what Lean said about it."""

    tactic: str
    verdict: Verdict
    goals_after: tuple[str, ...]
    source: str
    score: float
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


def _probability(score: float) -> float:
    return max(0.0, min(1.0, math.exp(min(0.0, score))))


def rank_key(suggestion: Suggestion) -> tuple:
    """Closes the goal > fewer and smaller goals left > the source's score."""
    goals = suggestion.goals_after
    return (suggestion.verdict != "closes", len(goals), sum(len(g) for g in goals), -suggestion.score)


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
    cancel = cancel or asyncio.Event()
    started = time.perf_counter()
    timings = Timings()
    config = ctx.config
    goals = await read_goals(ctx, target, timings)
    result = SuggestResult(target, goals, timings=timings)
    if not goals:
        timings.total = time.perf_counter() - started
        return result
    goal_text = "\n\n".join(goals)
    t0 = time.perf_counter()
    path = uri_to_path(target.uri)
    decl_line = target.text.count("\n", 0, target.check.decl.start)
    hits = await ctx.premises.search_goal(goal_text, PREMISES_PER_REQUEST, file=path, line=decl_line)
    timings.premises = time.perf_counter() - t0
    result.premises = hits
    t0 = time.perf_counter()
    generators = ctx.sources.generators(("tactic",))
    candidates, failures = await generate_all(generators, _request(ctx, target, goals, [h.name for h in hits]),
                                              timeout=config.suggest.timeout_seconds, cancel=cancel)
    timings.generate = time.perf_counter() - t0
    result.failed_sources = failures
    safe: list[Candidate] = []
    policy = ctx.checker.config.policy if ctx.checker else None
    for candidate in candidates:
        verdict = check_candidate(candidate.text, policy) if policy else check_candidate(candidate.text)
        if verdict.ok:
            safe.append(candidate)
        else:
            result.rejected_unsafe += 1
            logger.debug("unsafe candidate from %s dropped: %s", candidate.source, verdict.reason)
    budget = max(1, config.suggest.max_candidates)
    to_check, rest = safe[:budget], safe[budget:]
    t0 = time.perf_counter()
    assert ctx.checker is not None
    checked = await ctx.checker.check_many(target.check, [c.text for c in to_check]) if to_check else []
    timings.lean += time.perf_counter() - t0
    before = goal_key(goals)
    for candidate, outcome in zip(to_check, checked, strict=True):
        score = _probability(candidate.score)
        if outcome.status == "accepted":
            result.suggestions.append(Suggestion(candidate.text, "closes", (), candidate.source, score,
                                                 target.replacement(candidate.text)))
        elif outcome.status == "incomplete" and outcome.goals and goal_key(outcome.goals) != before:
            result.suggestions.append(Suggestion(candidate.text, "progress", tuple(outcome.goals), candidate.source,
                                                 score, target.replacement(candidate.text)))
        elif outcome.status == "timeout":
            result.unchecked.append(Suggestion(candidate.text, "unchecked", (), candidate.source, score,
                                               target.replacement(candidate.text)))
    result.unchecked += [Suggestion(c.text, "unchecked", (), c.source, _probability(c.score), target.replacement(c.text))
                         for c in rest]
    result.suggestions.sort(key=rank_key)
    timings.total = time.perf_counter() - started
    return result


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


async def suggest_request(ctx: CompanionContext, uri: str, line: int, character: int) -> SuggestResult | None:
    """Suggestions at a position now (no debounce), for the custom request. ``None``: no target."""
    target = current_target(ctx, uri, line, character, allow_line=True)
    if target is None:
        return None
    try:
        return await suggestions(ctx, target)
    except LeanError as exc:
        logger.info("suggestions at %s:%d failed: %s", uri, line, exc)
        raise
