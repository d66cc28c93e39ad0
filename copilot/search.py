"""Budgeted best-first proof search over Lean goal states, every step checked by Lean.

``await search(checker, target, generators)`` fills one hole (a ``sorry`` or a cursor):

1. asks Lean for the goals at the hole (``plainGoal``; ``plainTermGoal`` for a term ``sorry``,
   which then becomes a ``by`` block);
2. repeatedly expands the most promising node: every *tactic* generator proposes candidates
   for the node's goals (through the one pipeline's :func:`copilot.suggest.ask_generators`:
   concurrently, each under a timeout; one that raises or hangs is skipped with a log line),
   the candidates are appended to the node's tactic sequence and
   checked in **one** batched elaboration (model comments are stripped first: the checker
   refuses comments); ``accepted`` ends the search, ``incomplete`` gives
   child nodes (new goal states; repeated states are dropped), the rest are discarded;
3. meanwhile *whole-proof* generators get up to ``whole_proof_rounds`` rounds, each fed Lean's
   error and goal for its previous attempts (``GenerationRequest.feedback``);
4. re-checks the winning proof as a whole, alone, before returning it.

Priority of a node = summed candidate scores (log-probabilities) − ``goal_count_weight`` ×
number of goals − ``goal_size_weight`` × total goal text length. Budgets: wall time, number of
expansions, depth; ``cancel`` (an :class:`asyncio.Event`) stops the search promptly, and so
does cancelling the awaiting task.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import msgspec

from copilot.checker import Checker, CheckResult, CheckTarget
from copilot.proof_text import hole_edit, strip_statement
from copilot.safety import strip_comments
from copilot.suggest import Proposals, ask_generators, goal_key
from local_models.generation import Attempt, Candidate, GenerationRequest, TacticGenerator
from lsp_proxy.errors import LeanError

logger = logging.getLogger(__name__)

T = TypeVar("T")
SearchStatus = Literal["proved", "failed", "timeout", "cancelled", "no-goal"]


@dataclass(frozen=True)
class SearchConfig:
    """Budgets and weights of one search."""

    time_budget: float = 60.0
    max_expansions: int = 64
    max_depth: int = 12
    candidates_per_generator: int = 8
    max_candidates_per_expansion: int = 24
    generator_timeout: float = 20.0
    whole_proof_rounds: int = 3
    goal_count_weight: float = 1.0
    goal_size_weight: float = 0.002
    file_context_chars: int = 4000


class SearchStats(msgspec.Struct, kw_only=True):
    """What a search did."""

    expansions: int = 0
    candidates_checked: int = 0
    elaborations: int = 0
    elapsed_s: float = 0.0
    repeated_states: int = 0
    rejected_unsafe: int = 0
    whole_proof_rounds: int = 0
    generator_failures: dict[str, int] = msgspec.field(default_factory=dict)
    proposals_by_source: dict[str, int] = msgspec.field(default_factory=dict)
    proof_sources: list[str] = msgspec.field(default_factory=list)


class SearchResult(msgspec.Struct, kw_only=True):
    """The outcome: for ``proved``, ``proof`` is the tactic sequence, ``replacement`` the
    text that replaces ``text[hole_start:hole_end]`` of the user's text (``hole_start`` can be
    before the ``sorry``: spaces after a same-line ``by`` go) and ``new_text`` the whole file
    with it."""

    status: SearchStatus
    proof: str | None = None
    steps: list[str] = msgspec.field(default_factory=list)
    replacement: str | None = None
    hole_start: int = 0
    hole_end: int = 0
    new_text: str | None = None
    message: str = ""
    stats: SearchStats = msgspec.field(default_factory=SearchStats)


@dataclass(order=True)
class _Node:
    sort_key: float
    order: int
    steps: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    goals: tuple[str, ...] = ()
    score: float = 0.0


def _priority(score: float, goals: Sequence[str], config: SearchConfig) -> float:
    size = sum(len(g) for g in goals)
    return score - config.goal_count_weight * len(goals) - config.goal_size_weight * size


class _Stopped(Exception):
    """Cancelled through the event, or out of time."""


async def _bounded(awaitable: Awaitable[T], cancel: asyncio.Event, deadline: float) -> T:
    """Await ``awaitable`` unless ``cancel`` is set or ``deadline`` passes first (then the
    work is cancelled and :class:`_Stopped` raised)."""
    task = asyncio.ensure_future(awaitable)
    waiter = asyncio.ensure_future(cancel.wait())
    try:
        remaining = deadline - time.monotonic()
        done, _ = await asyncio.wait({task, waiter}, timeout=max(0.0, remaining), return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise _Stopped("cancelled" if cancel.is_set() else "timeout")
    finally:
        waiter.cancel()


class _Search:
    def __init__(
        self,
        checker: Checker,
        target: CheckTarget,
        generators: Sequence[TacticGenerator],
        config: SearchConfig,
        cancel: asyncio.Event,
        premises: Sequence[str],
    ) -> None:
        self.checker = checker
        self.target = target
        self.tactic_generators = [g for g in generators if g.role == "tactic"]
        self.proof_generators = [g for g in generators if g.role == "whole-proof"]
        self.config = config
        self.cancel = cancel
        self.premises = tuple(premises)
        self.stats = SearchStats()
        self.started = time.monotonic()
        self.deadline = self.started + config.time_budget
        self.counter = itertools.count()
        self.root_goals: tuple[str, ...] = ()

    # ------------------------------------------------------------------ generation

    def _request(self, goals: Sequence[str], steps: Sequence[str], feedback: Sequence[Attempt] = ()) -> GenerationRequest:
        decl, text = self.target.decl, self.target.text
        return GenerationRequest(
            goal="\n\n".join(goals),
            n=self.config.candidates_per_generator,
            premises=self.premises,
            file_context=text[max(0, decl.start - self.config.file_context_chars) : decl.start],
            theorem_name=decl.name or "",
            proof_prefix="\n".join(steps),
            statement=f"{decl.statement} := by",
            feedback=tuple(feedback),
            deadline=min(self.deadline, time.monotonic() + self.config.generator_timeout),
        )

    def _timeout(self) -> float:
        return max(0.01, min(self.config.generator_timeout, self.deadline - time.monotonic()))

    def _count(self, proposals: Proposals) -> None:
        for name in proposals.failures:
            self.stats.generator_failures[name] = self.stats.generator_failures.get(name, 0) + 1
        for source, count in proposals.per_source.items():
            self.stats.proposals_by_source[source] = self.stats.proposals_by_source.get(source, 0) + count

    async def _ask(self, generators: Sequence[TacticGenerator], request: GenerationRequest) -> list[Candidate]:
        """The pipeline's "ask every generator under a timeout, then merge" (copilot.suggest)."""
        proposals = await ask_generators(generators, request, timeout=self._timeout(), cancel=self.cancel)
        self._count(proposals)
        return proposals.candidates

    async def _propose(self, goals: Sequence[str], steps: Sequence[str]) -> list[Candidate]:
        candidates = await self._ask(self.tactic_generators, self._request(goals, steps))
        return candidates[: self.config.max_candidates_per_expansion]

    # ------------------------------------------------------------------ checking

    async def _check(self, proofs: list[str]) -> list[CheckResult]:
        before = self.checker.elaborations
        results = await _bounded(self.checker.check_many(self.target, proofs), self.cancel, self.deadline)
        self.stats.elaborations += self.checker.elaborations - before
        self.stats.candidates_checked += sum(r.status != "rejected-unsafe" for r in results)
        self.stats.rejected_unsafe += sum(r.status == "rejected-unsafe" for r in results)
        return results

    async def _reverify(self, proof: str) -> bool:
        before = self.checker.elaborations
        result = await _bounded(self.checker.check(self.target, proof), self.cancel, self.deadline + 30.0)
        self.stats.elaborations += self.checker.elaborations - before
        if not result.accepted:
            logger.warning("final re-check rejected a proof the batch accepted: %s", result.message)
        return result.accepted

    # ------------------------------------------------------------------ the two searches

    async def best_first(self) -> tuple[list[str], list[str]] | None:
        """Tactic-by-tactic best-first search; returns (steps, sources) of a proof or None."""
        root = _Node(-_priority(0.0, self.root_goals, self.config), next(self.counter), goals=self.root_goals)
        frontier = [root]
        seen = {goal_key(self.root_goals)}
        while frontier:
            if self.stats.expansions >= self.config.max_expansions:
                logger.info("search: expansion budget (%d) spent", self.config.max_expansions)
                return None
            node = heapq.heappop(frontier)
            self.stats.expansions += 1
            candidates = await _bounded(self._propose(node.goals, node.steps), self.cancel, self.deadline)
            if not candidates:
                continue
            proofs = ["\n".join((*node.steps, c.text)) for c in candidates]
            results = await self._check(proofs)
            for candidate, result in zip(candidates, results):
                steps = (*node.steps, candidate.text)
                sources = (*node.sources, candidate.source)
                if result.status == "accepted":
                    if await self._reverify("\n".join(steps)):
                        return list(steps), list(sources)
                    continue
                if result.status != "incomplete" or not result.goals:
                    continue
                key = goal_key(result.goals)
                if key in seen:
                    self.stats.repeated_states += 1
                    continue
                seen.add(key)
                if len(steps) >= self.config.max_depth:
                    continue
                score = node.score + candidate.score
                child = _Node(
                    -_priority(score, result.goals, self.config),
                    next(self.counter),
                    steps=steps,
                    sources=sources,
                    goals=tuple(result.goals),
                    score=score,
                )
                heapq.heappush(frontier, child)
        return None

    async def whole_proofs(self) -> tuple[list[str], list[str]] | None:
        """Whole-proof generators with error feedback; returns (steps, sources) or None."""
        goal_text = "\n\n".join(self.root_goals)
        for generator in self.proof_generators:
            feedback: list[Attempt] = []
            for _ in range(max(1, self.config.whole_proof_rounds)):
                self.stats.whole_proof_rounds += 1
                request = self._request(self.root_goals, (), feedback)
                candidates = await _bounded(self._ask([generator], request), self.cancel, self.deadline)
                bodies: list[tuple[str, Candidate]] = []
                for candidate in candidates:
                    body = strip_statement(strip_comments(candidate.text), self.target.decl)
                    if body is None:
                        feedback.append(Attempt(proof=candidate.text, error="the statement was changed", goal=goal_text))
                    elif body.strip():
                        bodies.append((body.strip("\n"), candidate))
                if not bodies and not candidates:
                    break
                results = await self._check([b for b, _ in bodies]) if bodies else []
                for (body, candidate), result in zip(bodies, results):
                    if result.status == "accepted" and await self._reverify(body):
                        return body.split("\n"), [candidate.source]
                    message = result.message or result.status
                    goal = "\n\n".join(result.goals) if result.goals else goal_text
                    feedback.append(Attempt(proof=body, error=message, goal=goal))
        return None


async def search(
    checker: Checker,
    target: CheckTarget,
    generators: Sequence[TacticGenerator],
    *,
    config: SearchConfig | None = None,
    cancel: asyncio.Event | None = None,
    premises: Sequence[str] = (),
) -> SearchResult:
    """Find a Lean-verified proof for ``target``'s hole (see the module docstring)."""
    config = config or SearchConfig()
    cancel = cancel or asyncio.Event()
    state = _Search(checker, target, generators, config, cancel, premises)

    def finish(status: SearchStatus, message: str = "", steps: list[str] | None = None,
               sources: list[str] | None = None) -> SearchResult:
        state.stats.elapsed_s = time.monotonic() - state.started
        if steps is None:
            return SearchResult(status=status, message=message, stats=state.stats)
        state.stats.proof_sources = list(sources or [])
        proof = "\n".join(steps)
        text = state.target.text
        start, end, replacement = hole_edit(text, state.target.hole, proof, as_term=state.target.term_mode)
        return SearchResult(
            status=status,
            proof=proof,
            steps=steps,
            replacement=replacement,
            hole_start=start,
            hole_end=end,
            new_text=text[:start] + replacement + text[end:],
            message=message,
            stats=state.stats,
        )

    try:
        goals, kind = await _bounded(checker.initial_goals(target), cancel, state.deadline)
    except _Stopped as stop:
        return finish("cancelled" if cancel.is_set() else "timeout", str(stop))
    except LeanError as exc:
        return finish("failed", f"could not read the goal: {exc}")
    if not goals:
        return finish("no-goal", "Lean shows no goal at this position")
    state.target = target.with_kind(kind)
    state.root_goals = tuple(goals)

    tasks = []
    if state.tactic_generators:
        tasks.append(asyncio.ensure_future(state.best_first()))
    if state.proof_generators:
        tasks.append(asyncio.ensure_future(state.whole_proofs()))
    if not tasks:
        return finish("failed", "no generators")
    outcome: tuple[list[str], list[str]] | None = None
    stopped: str | None = None
    failure = ""
    try:
        pending = set(tasks)
        while pending and outcome is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                try:
                    found = task.result()
                except _Stopped as stop:
                    stopped = str(stop)
                    continue
                except LeanError as exc:
                    logger.warning("search branch failed: %s", exc)
                    failure = str(exc)
                    continue
                if found is not None and outcome is None:
                    outcome = found
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if outcome is not None:
        return finish("proved", "", outcome[0], outcome[1])
    if cancel.is_set():
        return finish("cancelled", "search cancelled")
    if stopped == "timeout" or time.monotonic() >= state.deadline:
        return finish("timeout", f"no proof within {config.time_budget:g} s")
    return finish("failed", failure or "search space exhausted without a proof")
