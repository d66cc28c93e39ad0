"""Proof search against the Lean test double's scripted tactic semantics."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest

from copilot.checker import Checker, CheckTarget
from copilot.proof_text import locate_sorries
from copilot.search import SearchConfig, search
from local_models.generation import Candidate, GenerationRequest, TacticGenerator
from tests.copilot.double import SCENARIOS, double_client

THREE_STEP = """import Foo

theorem three (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by
  sorry
"""

NEEDS_MAGIC = """theorem magic (n : Nat) : n * 1 = n := by
  sorry
"""

TERM_SORRY = """theorem conj (p : Prop) (hp : p) : p ∧ True := sorry
"""


class ListGenerator:
    """Proposes the same tactics for every goal, scores decreasing in list order."""

    role = "tactic"

    def __init__(self, tactics: list[str], name: str = "list") -> None:
        self.id = name
        self.tactics = tactics
        self.requests: list[GenerationRequest] = []

    async def generate(self, request: GenerationRequest, cancel: asyncio.Event | None = None) -> list[Candidate]:
        self.requests.append(request)
        return [Candidate(t, -0.1 * i, self.id) for i, t in enumerate(self.tactics)]

    def close(self) -> None:
        pass


class RaisingGenerator(ListGenerator):
    async def generate(self, request, cancel=None):
        raise RuntimeError("model exploded")


class HangingGenerator(ListGenerator):
    async def generate(self, request, cancel=None):
        await asyncio.sleep(3600)
        return []


class WholeProofGenerator:
    """A whole-proof model that gets it wrong first and right after seeing Lean's error."""

    id = "whole"
    role = "whole-proof"

    def __init__(self) -> None:
        self.requests: list[GenerationRequest] = []

    async def generate(self, request, cancel=None):
        self.requests.append(request)
        if not request.feedback:
            return [Candidate("theorem three (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by\n  simp", -1.0, self.id, "proof")]
        return [Candidate("-- drop both zeros\nrw [Nat.add_zero]\nrw [Nat.add_zero]\nexact h -- done", -2.0, self.id, "proof")]

    def close(self) -> None:
        pass


def _target(tmp_path: Path, text: str) -> CheckTarget:
    return CheckTarget.for_sorry((tmp_path / "A.lean").as_uri(), text, locate_sorries(text)[0])


TACTICS = ["simp", "rw [Nat.add_zero]", "exact h", "omega", "sorry", "skip"]


async def test_finds_a_three_step_proof_and_reverifies_it(tmp_path: Path) -> None:
    """rw, rw, exact h is found through two incomplete steps, re-checked alone at the end,
    and returned laid out for the sorry's position."""
    log = tmp_path / "double.jsonl"
    generator = ListGenerator(TACTICS)
    assert isinstance(generator, TacticGenerator)
    target = _target(tmp_path, THREE_STEP)
    async with double_client(SCENARIOS / "search.json", "--log", str(log)) as client:
        checker = Checker(client)
        result = await search(checker, target, [generator], config=SearchConfig(time_budget=30))
        await checker.close()
    assert result.status == "proved", result.message
    assert result.steps == ["rw [Nat.add_zero]", "rw [Nat.add_zero]", "exact h"]
    assert result.new_text == THREE_STEP.replace("  sorry", "  rw [Nat.add_zero]\n  rw [Nat.add_zero]\n  exact h")
    assert result.replacement == "rw [Nat.add_zero]\n  rw [Nat.add_zero]\n  exact h"
    assert result.stats.expansions == 3
    assert result.stats.rejected_unsafe >= 1  # "sorry" was proposed and refused
    assert result.stats.proof_sources == ["list"] * 3
    assert generator.requests[0].goal == "a b : Nat\nh : a ≤ b\n⊢ a + 0 ≤ b + 0"
    assert generator.requests[1].proof_prefix == "rw [Nat.add_zero]"
    # the last document Lean saw is the whole proof alone: the final re-check
    texts = [
        c["text"]
        for e in map(json.loads, log.read_text(encoding="utf-8").splitlines())
        if e.get("method") == "textDocument/didChange"
        for c in e["params"]["contentChanges"]
    ]
    assert texts[-1].count("theorem _lc_cand_") == 1
    assert "rw [Nat.add_zero]\n  rw [Nat.add_zero]\n  exact h" in texts[-1]


async def test_does_not_find_a_proof_no_source_proposes(tmp_path: Path) -> None:
    """The goal needs `magic_closer`, which no generator proposes: the search exhausts its
    space (the rw cycle is cut by repeated-state detection) and reports failure."""
    generator = ListGenerator(["rw [Nat.mul_comm]", "simp", "omega", "skip"])
    async with double_client() as client:
        checker = Checker(client)
        result = await search(checker, _target(tmp_path, NEEDS_MAGIC), [generator], config=SearchConfig(time_budget=30))
        await checker.close()
    assert result.status == "failed"
    assert result.proof is None
    assert result.stats.repeated_states >= 2  # skip (same goal) and rw back to the start


async def test_term_sorry_becomes_a_by_block(tmp_path: Path) -> None:
    """A term-mode sorry gets its goal from plainTermGoal and is replaced by a by-block."""
    generator = ListGenerator(["constructor", "exact hp", "trivial"])
    async with double_client() as client:
        checker = Checker(client)
        result = await search(checker, _target(tmp_path, TERM_SORRY), [generator], config=SearchConfig(time_budget=30))
        await checker.close()
    assert result.status == "proved", result.message
    assert result.new_text == "theorem conj (p : Prop) (hp : p) : p ∧ True := by\n  constructor\n  exact hp\n  trivial\n"


async def test_failing_and_hanging_generators_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A generator that raises and one that hangs are skipped (logged, per-generator
    timeout) while the good one still finds the proof."""
    caplog.set_level(logging.WARNING, logger="copilot.suggest")
    generators = [RaisingGenerator([], "boom"), HangingGenerator([], "hang"), ListGenerator(TACTICS)]
    async with double_client() as client:
        checker = Checker(client)
        started = time.monotonic()
        result = await search(
            checker, _target(tmp_path, THREE_STEP), generators, config=SearchConfig(time_budget=30, generator_timeout=0.3)
        )
        await checker.close()
    assert result.status == "proved"
    assert result.stats.generator_failures == {"boom": 3, "hang": 3}
    assert time.monotonic() - started < 10
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "source boom failed" in messages and "source hang gave no candidates" in messages


async def test_cancellation_stops_the_search(tmp_path: Path) -> None:
    """Setting the cancel event stops a search promptly, mid-elaboration."""
    cancel = asyncio.Event()
    generator = ListGenerator(["rw [Nat.mul_comm]", "simp", "omega"])
    async with double_client(SCENARIOS / "search.json", "--per-decl-delay-ms", "400") as client:
        checker = Checker(client)
        task = asyncio.create_task(
            search(checker, _target(tmp_path, NEEDS_MAGIC), [generator], config=SearchConfig(time_budget=60), cancel=cancel)
        )
        await asyncio.sleep(1.0)
        cancel.set()
        started = time.monotonic()
        result = await asyncio.wait_for(task, 5)
        stopped_in = time.monotonic() - started
        await checker.close()
    assert result.status == "cancelled"
    assert stopped_in < 1.0


async def test_time_budget_gives_timeout(tmp_path: Path) -> None:
    """A search that runs out of wall time says so."""
    generator = ListGenerator(["rw [Nat.mul_comm]", "simp"])
    async with double_client(SCENARIOS / "search.json", "--per-decl-delay-ms", "300") as client:
        checker = Checker(client)
        result = await search(checker, _target(tmp_path, NEEDS_MAGIC), [generator], config=SearchConfig(time_budget=0.8))
        await checker.close()
    assert result.status == "timeout"
    assert result.stats.elapsed_s < 3


async def test_whole_proof_generator_gets_error_feedback(tmp_path: Path) -> None:
    """A whole-proof model's failed attempt is fed back with Lean's message and goal; its
    second attempt (with comments, which are stripped) is verified and returned."""
    generator = WholeProofGenerator()
    async with double_client() as client:
        checker = Checker(client)
        result = await search(checker, _target(tmp_path, THREE_STEP), [generator], config=SearchConfig(time_budget=30))
        await checker.close()
    assert result.status == "proved", result.message
    assert result.steps == ["rw [Nat.add_zero]", "rw [Nat.add_zero]", "exact h"]
    assert len(generator.requests) == 2
    first, second = generator.requests
    assert first.statement == "theorem three (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by"
    assert second.feedback[0].proof == "simp"
    assert second.feedback[0].error == "simp made no progress"
    assert "⊢ a + 0 ≤ b + 0" in second.feedback[0].goal
    assert result.stats.proof_sources == ["whole"]


async def test_search_at_a_cursor_on_the_line_after_the_proof(tmp_path: Path) -> None:
    """A cursor on the blank line where the next tactic goes: goals come from Lean there and
    the proof continues what is already written."""
    text = "theorem three (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by\n  rw [Nat.add_zero]\n  \n"
    target = CheckTarget.at_cursor((tmp_path / "C.lean").as_uri(), text, 2, 2)
    generator = ListGenerator(TACTICS)
    async with double_client() as client:
        checker = Checker(client)
        goals, kind = await checker.initial_goals(target)
        result = await search(checker, target, [generator], config=SearchConfig(time_budget=30))
        await checker.close()
    assert (goals, kind) == (["a b : Nat\nh : a ≤ b\n⊢ a ≤ b + 0"], "tactic")
    assert result.status == "proved", result.message
    assert result.steps == ["rw [Nat.add_zero]", "exact h"]
    assert result.new_text == text.replace("  \n", "  rw [Nat.add_zero]\n  exact h\n")
