"""The one suggestion pipeline (copilot/suggest.py): ask every generator under a timeout and
merge; the safety filter once per candidate; Lean check; classification and ranking."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

import copilot.checker as checker_module
import copilot.safety as safety_module
from copilot.checker import Checker, CheckTarget
from copilot.proof_text import locate_sorries
from copilot.safety import DEFAULT_POLICY, SafeText, SafetyPolicy
from copilot.suggest import Ranked, ask_generators, merge_candidates, rank_key, screen, suggest
from local_models.generation import Candidate, GenerationRequest
from tests.copilot.double import double_client
from tests.copilot.test_search import HangingGenerator, ListGenerator, RaisingGenerator

THREE_STEP = """import Foo

theorem three (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by
  sorry
"""
GOAL = "a b : Nat\nh : a ≤ b\n⊢ a + 0 ≤ b + 0"


def _request() -> GenerationRequest:
    return GenerationRequest(goal=GOAL, n=8)


async def test_ask_generators_merges_and_isolates_failures(caplog: pytest.LogCaptureFixture) -> None:
    """Every generator is asked at once; a raising and a hanging one lose only their own
    candidates (logged, reported by name); duplicates fold to the best score, comments go."""
    caplog.set_level(logging.WARNING, logger="copilot.suggest")
    one = ListGenerator(["simp -- easy", "omega"], name="one")
    two = ListGenerator(["omega", "decide"], name="two")
    started = asyncio.get_running_loop().time()
    proposals = await ask_generators([one, two, RaisingGenerator([], name="boom"), HangingGenerator([], name="hang")],
                                     _request(), timeout=0.3)
    assert asyncio.get_running_loop().time() - started < 2.0
    assert [c.text for c in proposals.candidates] == ["simp", "omega", "decide"]
    assert proposals.candidates[1].score == 0.0  # "omega" from `two` (score 0) beats `one`'s (-0.1)
    assert set(proposals.failures) == {"boom", "hang"} and proposals.failures["hang"] == "timeout"
    assert proposals.per_source == {"one": 2, "two": 2}
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "source boom failed" in messages and "source hang gave no candidates" in messages


def test_merge_candidates_drops_empty_and_sorts() -> None:
    """Comment-only proposals vanish; the rest come best first."""
    merged = merge_candidates([[Candidate("-- nothing", 0.0, "a"), Candidate("rfl", -2.0, "a")],
                               [Candidate("simp", -1.0, "b")]])
    assert [c.text for c in merged] == ["simp", "rfl"]


def test_screen_marks_safe_text_and_gives_reasons() -> None:
    """Safe candidates come back as SafeText for the policy; refused ones with the reason."""
    safe, refused = screen([Candidate("omega", 0.0, "a"), Candidate("exact 0axiom c : False", 0.0, "a")], DEFAULT_POLICY)
    assert [c.text for c in safe] == ["omega"] and isinstance(safe[0].text, SafeText)
    assert safe[0].text.policy == DEFAULT_POLICY
    assert len(refused) == 1 and "axiom" in refused[0][1]


def test_rank_key_orders_closing_then_smaller_goals_then_score() -> None:
    items = [Ranked("b", "progress", ("x", "y"), "s", 0.9), Ranked("a", "closes", (), "s", 0.1),
             Ranked("c", "progress", ("x",), "s", 0.2), Ranked("d", "closes", (), "s", 0.5)]
    assert [i.tactic for i in sorted(items, key=rank_key)] == ["d", "a", "c", "b"]


async def test_suggest_filters_once_checks_and_ranks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole flow on the test double: the safety filter runs exactly once per candidate
    (the checker does not filter a screened candidate again), unsafe ones never reach Lean,
    the budget bounds what is checked (the rest is unchecked), steps that change the goal are
    `progress`, and the checked suggestions are ranked."""
    calls: list[str] = []
    original = safety_module.check_candidate

    def counting(text: str, policy: SafetyPolicy = DEFAULT_POLICY):
        calls.append(str(text))
        return original(text, policy)

    monkeypatch.setattr(safety_module, "check_candidate", counting)
    monkeypatch.setattr(checker_module, "check_candidate", counting)
    text = THREE_STEP
    path = tmp_path / "Three.lean"
    target = CheckTarget.for_sorry(path.as_uri(), text, locate_sorries(text)[0])
    tactics = ["rw [Nat.add_zero]", "simp only [Nat.add_zero]", "exact 0axiom c : False", "no_such_tactic", "omega"]
    async with double_client() as client:
        checker = Checker(client)
        outcome = await suggest(checker, target, [GOAL], [ListGenerator(tactics)], _request(), budget=3, timeout=5.0)
        await checker.close()
    assert sorted(calls) == sorted(tactics)  # once each, none again inside the checker
    assert outcome.rejected_unsafe == 1
    assert [(r.tactic, r.verdict) for r in outcome.ranked] == [("simp only [Nat.add_zero]", "progress"),
                                                                 ("rw [Nat.add_zero]", "progress")]
    assert [r.tactic for r in outcome.unchecked] == ["omega"]
    assert outcome.ranked[0].goals_after == ("a b : Nat\nh : a ≤ b\n⊢ a ≤ b",)


async def test_checker_filters_plain_text_and_other_policies(tmp_path: Path) -> None:
    """Only a SafeText screened under the checker's own policy skips the filter: a plain
    string, or a SafeText made under a laxer policy, is filtered by the checker."""
    text = THREE_STEP
    target = CheckTarget.for_sorry((tmp_path / "T.lean").as_uri(), text, locate_sorries(text)[0])
    lax = SafetyPolicy(allow_native=True)
    async with double_client() as client:
        checker = Checker(client)
        plain, laxly_screened = await checker.check_many(target, ["native_decide", SafeText("decide +native", lax)])
        await checker.close()
    assert plain.status == "rejected-unsafe" and laxly_screened.status == "rejected-unsafe"
