"""The interfaces every tactic source and text encoder implements.

copilot mixes sources (the portfolio, GGUF and ONNX models) through these types only.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

import msgspec

Role = Literal["tactic", "whole-proof", "embedding"]


class Candidate(msgspec.Struct, frozen=True):
    """One proposed tactic (or whole proof) with the score its source gave it.

    ``score`` is a log-probability-like number: higher is better, 0.0 is the best
    possible. Model backends give summed token log-probabilities; the portfolio gives
    log-scale priors.
    """

    text: str
    score: float
    source: str
    kind: Literal["tactic", "proof"] = "tactic"


class Attempt(msgspec.Struct, frozen=True):
    """A previous whole-proof attempt and what Lean said about it (error feedback)."""

    proof: str
    error: str
    goal: str = ""


class GenerationRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a source needs to propose candidates for one goal.

    ``goal`` is the pretty-printed goal state as Lean's ``$/lean/plainGoal`` ``goals``
    entries joined by blank lines (hypotheses then ``⊢ target``), no Markdown fences.
    ``statement`` (for whole-proof models) is the declaration text ending in ``:= by``.
    ``deadline`` is a ``time.monotonic()`` value after which generation stops early.
    """

    goal: str
    n: int = 8
    premises: Sequence[str] = ()
    imports: Sequence[str] = ()
    file_context: str = ""
    theorem_name: str = ""
    proof_prefix: str = ""
    statement: str = ""
    feedback: Sequence[Attempt] = ()
    max_tokens: int = 64
    deadline: float | None = None


@runtime_checkable
class TacticGenerator(Protocol):
    """A source of candidates: a model backend or the portfolio.

    ``generate`` must not block the event loop (backends run in their own worker
    thread or process) and must stop soon after ``cancel`` is set or the deadline passes,
    returning what it has so far.
    """

    id: str
    role: Role

    async def generate(
        self, request: GenerationRequest, cancel: asyncio.Event | None = None
    ) -> list[Candidate]: ...

    def close(self) -> None: ...


@runtime_checkable
class TextEncoder(Protocol):
    """A sentence encoder for premise retrieval.

    ``encode`` is blocking (callers run it in an executor) and returns a float32 array of
    shape ``(len(texts), dim)`` whose rows are L2-normalised.
    """

    id: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 32): ...

    def close(self) -> None: ...
