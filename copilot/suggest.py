"""The one suggestion pipeline: goal → candidates → safety → Lean check → rank.

Every caller goes through here: the editor features (:mod:`copilot.features.suggest`, which add
targets, caching and the LSP surfaces), the proof search (:mod:`copilot.search`, which expands
goal states with :func:`ask_generators`) and so ``fill-sorries`` (which runs the search).

* :func:`ask_generators` asks every generator at once, each under a timeout; one that raises or
  hangs loses only its own candidates (logged, and reported in ``failures``). The answers are
  merged by :func:`merge_candidates`: model comments stripped, duplicates folded (best score
  kept), best first.
* :func:`screen` runs the safety filter (:func:`copilot.safety.check_candidate`) once per
  candidate. What passes is a :class:`~copilot.safety.SafeText`, which the checker does not
  filter again (for the same policy).
* :func:`suggest` is the whole flow for one goal: ask, screen, check the best ``budget`` safe
  candidates in one batched elaboration, classify each (``closes``, ``progress``: new goals,
  ``unchecked``: not checked in time or over the budget) and rank.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from copilot.checker import Checker, CheckTarget
from copilot.safety import SafeText, SafetyPolicy, screen_text, strip_comments
from local_models.generation import Candidate, GenerationRequest, TacticGenerator

logger = logging.getLogger(__name__)

Verdict = Literal["closes", "progress", "unchecked"]


def merge_candidates(batches: Iterable[Iterable[Candidate]]) -> list[Candidate]:
    """Merge candidates from several sources: comments stripped, duplicates folded (the best
    score kept), best first."""
    best: dict[str, Candidate] = {}
    for candidate in itertools.chain.from_iterable(batches):
        text = strip_comments(candidate.text).strip()
        if not text:
            continue
        if text not in best or candidate.score > best[text].score:
            best[text] = msgspec.structs.replace(candidate, text=text)
    return sorted(best.values(), key=lambda c: -c.score)


def goal_key(goals: Sequence[str]) -> tuple[str, ...]:
    """Canonical form of a goal state (repeated-state detection, "did the step change it")."""
    return tuple(re.sub(r"\s+", " ", g).strip() for g in goals)


@dataclass
class Proposals:
    """What the generators proposed: merged candidates, the sources that failed (name →
    reason) and how many candidates each source proposed."""

    candidates: list[Candidate]
    failures: dict[str, str] = field(default_factory=dict)
    per_source: dict[str, int] = field(default_factory=dict)


def generator_name(generator: TacticGenerator) -> str:
    """The name a generator is reported under."""
    return str(getattr(generator, "id", type(generator).__name__))


async def _ask_one(generator: TacticGenerator, request: GenerationRequest, cancel: asyncio.Event, timeout: float,
                   failures: dict[str, str]) -> list[Candidate]:
    name = generator_name(generator)
    try:
        return list(await asyncio.wait_for(generator.generate(request, cancel), max(0.01, timeout)))
    except asyncio.TimeoutError:
        logger.warning("source %s gave no candidates within %.1f s; skipped for this request", name, timeout)
        failures[name] = "timeout"
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        logger.warning("source %s failed (%s: %s); skipped for this request", name, type(exc).__name__, exc)
        failures[name] = f"{type(exc).__name__}: {exc}"
    return []


async def ask_generators(generators: Sequence[TacticGenerator], request: GenerationRequest, *, timeout: float,
                         cancel: asyncio.Event | None = None) -> Proposals:
    """Ask every generator at once (each under ``timeout`` seconds), then merge."""
    cancel = cancel or asyncio.Event()
    failures: dict[str, str] = {}
    batches = await asyncio.gather(*(_ask_one(g, request, cancel, timeout, failures) for g in generators))
    per_source: dict[str, int] = {}
    for candidate in itertools.chain.from_iterable(batches):
        per_source[candidate.source] = per_source.get(candidate.source, 0) + 1
    return Proposals(merge_candidates(batches), failures, per_source)


def screen(candidates: Sequence[Candidate], policy: SafetyPolicy) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """The safety filter, once per candidate: the safe ones (their text a
    :class:`~copilot.safety.SafeText`) and the refused ones with the reason."""
    safe: list[Candidate] = []
    refused: list[tuple[Candidate, str]] = []
    for candidate in candidates:
        verdict = screen_text(candidate.text, policy)
        if isinstance(verdict, SafeText):
            safe.append(msgspec.structs.replace(candidate, text=verdict))
        else:
            refused.append((candidate, verdict.reason))
            logger.debug("unsafe candidate from %s dropped: %s", candidate.source, verdict.reason)
    return safe, refused


@dataclass(frozen=True)
class Ranked:
    """One candidate and what Lean said about it: ``score`` is the source's probability."""

    tactic: str
    verdict: Verdict
    goals_after: tuple[str, ...]
    source: str
    score: float


def rank_key(item: Ranked) -> tuple:
    """Closes the goal > fewer and smaller goals left > the source's score."""
    goals = item.goals_after
    return (item.verdict != "closes", len(goals), sum(len(g) for g in goals), -item.score)


def probability(score: float) -> float:
    """A source's log-probability as a probability in [0, 1]."""
    return max(0.0, min(1.0, math.exp(min(0.0, score))))


@dataclass
class Suggestions:
    """The outcome of :func:`suggest`: checked suggestions ranked best first, then the
    unchecked ones; what was refused as unsafe, the failed sources, and where the time went."""

    ranked: list[Ranked] = field(default_factory=list)
    unchecked: list[Ranked] = field(default_factory=list)
    rejected_unsafe: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    generate_s: float = 0.0
    check_s: float = 0.0


async def suggest(checker: Checker, target: CheckTarget, goals: Sequence[str], generators: Sequence[TacticGenerator],
                  request: GenerationRequest, *, budget: int, timeout: float,
                  cancel: asyncio.Event | None = None) -> Suggestions:
    """Candidates for ``goals`` at ``target``'s hole, Lean-checked and ranked (see the module
    docstring). A step whose goals are unchanged is dropped (it made no progress)."""
    out = Suggestions()
    started = time.perf_counter()
    proposals = await ask_generators(generators, request, timeout=timeout, cancel=cancel)
    out.generate_s = time.perf_counter() - started
    out.failures = proposals.failures
    safe, refused = screen(proposals.candidates, checker.config.policy)
    out.rejected_unsafe = len(refused)
    to_check, rest = safe[: max(1, budget)], safe[max(1, budget):]
    started = time.perf_counter()
    checked = await checker.check_many(target, [c.text for c in to_check]) if to_check else []
    out.check_s = time.perf_counter() - started
    before = goal_key(goals)
    for candidate, outcome in zip(to_check, checked, strict=True):
        score = probability(candidate.score)
        if outcome.status == "accepted":
            out.ranked.append(Ranked(candidate.text, "closes", (), candidate.source, score))
        elif outcome.status == "incomplete" and outcome.goals and goal_key(outcome.goals) != before:
            out.ranked.append(Ranked(candidate.text, "progress", tuple(outcome.goals), candidate.source, score))
        elif outcome.status == "timeout":
            out.unchecked.append(Ranked(candidate.text, "unchecked", (), candidate.source, score))
    out.unchecked += [Ranked(c.text, "unchecked", (), c.source, probability(c.score)) for c in rest]
    out.ranked.sort(key=rank_key)
    return out
