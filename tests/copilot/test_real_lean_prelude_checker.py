"""The checker against real Lean 4.35 (``lean --server``, prelude mode: the file declares the
few types it uses; no tactics exist, so candidates are terms, checked with
``CheckTarget.as_terms()``), driven through ``LeanClient`` headless.

Covers what the test double cannot show: shadow documents and ``set_option … in`` copies
elaborated by Lean, Lean's ``#print axioms`` answers parsed, accepted / rejected / sorry /
axiom verdicts, the attribution of ``sorryAx`` in a declaration that keeps other sorries
(issue 11), and the second line of defence that reads Lean's own view of the checked text
(documentSymbol, semantic tokens) instead of our lexer (issue 11)."""
from __future__ import annotations

from pathlib import Path

import pytest

import copilot.checker as checker_module
from copilot.checker import Checker, CheckerConfig, CheckTarget
from copilot.proof_text import locate_sorries
from copilot.safety import SafetyVerdict
from lsp_proxy.headless import start_lean

pytestmark = [pytest.mark.real_lean]

# `sorry` needs PUnit, Nat, OfNat, String, Lean.Name and sorryAx; the compiler errors these
# declarations get in prelude mode are in the user's prefix and do not concern the copies.
PRELUDE = """prelude
universe u v
set_option bootstrap.inductiveCheckResultingUniverse false in
inductive PUnit : Sort u where | unit : PUnit
inductive True : Prop where | intro : True
inductive False : Prop
inductive Bool : Type where | false | true
inductive Nat where | zero | succ (n : Nat)
class OfNat (α : Type u) (_ : Nat) where ofNat : α
instance instOfNatNat (n : Nat) : OfNat Nat n where ofNat := n
structure String where data : Nat
inductive Lean.Name where | anonymous | str (pre : Lean.Name) (s : String) | num (pre : Lean.Name) (i : Nat)
axiom sorryAx (α : Sort u) (synthetic : Bool) : α
inductive And (a b : Prop) : Prop where | intro (left : a) (right : b) : And a b
axiom cheatAnd : And True True
theorem helper_sorried : True := sorry
def idProp (p : Prop) : Prop := p
"""
USER = PRELUDE + """
theorem goal1 : And True True := sorry

theorem goal2 : And True True := And.intro sorry sorry

set_option maxRecDepth 400 in
theorem goal3 : True := sorry
"""
TIMEOUT = 120.0


def _target(path: Path, declaration: str, index: int = 0) -> CheckTarget:
    text = path.read_text()
    locations = [loc for loc in locate_sorries(text) if loc.declaration == declaration]
    return CheckTarget.for_sorry(path.as_uri(), text, locations[index]).as_terms()


@pytest.fixture
async def lean(real_lean: Path, tmp_path: Path):
    path = tmp_path / "Goals.lean"
    path.write_text(USER)
    client = await start_lean([str(real_lean), "--server"], tmp_path, request_timeout=TIMEOUT)
    checker = Checker(client, CheckerConfig(open_timeout=TIMEOUT, wall_timeout=TIMEOUT, require_axiom_report=True))
    try:
        yield path, checker
    finally:
        await checker.close()
        await client.shutdown()


async def test_verdicts_of_term_candidates(lean) -> None:
    """Accepted (Lean printed its axioms: none), rejected with Lean's error, a proof through
    a lemma proved by sorry (sorryAx in Lean's `#print axioms` answer) and one through an
    axiom of the file: batched and one at a time alike."""
    path, checker = lean
    target = _target(path, "goal1")
    assert await checker.initial_goals(target) == (["⊢ And True True"], "term")  # plainTermGoal in a shadow
    candidates = ["And.intro True.intro True.intro", "And.intro True.intro nonsense",
                  "And.intro helper_sorried True.intro", "cheatAnd"]
    for results in (await checker.check_many(target, candidates), await checker.check_many(target, candidates, batch=False)):
        assert [r.status for r in results] == ["accepted", "error", "error", "error"], results
        assert "nonsense" in results[1].message
        assert "sorryAx" in results[2].message
        assert "non-standard axioms: cheatAnd" in results[3].message


async def test_set_option_in_declarations_are_copied(lean) -> None:
    """A declaration under `set_option … in` is copied with it and checked by Lean."""
    path, checker = lean
    (result,) = await checker.check_many(_target(path, "goal3"), ["True.intro"])
    assert result.status == "accepted", result


async def test_other_sorries_do_not_hide_the_candidates_own(lean) -> None:
    """In a declaration that keeps another sorry, the candidate is judged on its own: a
    candidate that reaches a lemma proved by sorry is refused (before: accepted, since the
    declaration's own sorry made sorryAx expected); an honest one is accepted."""
    path, checker = lean
    target = _target(path, "goal2", index=1)
    assert target.other_sorries
    honest, through_sorry = await checker.check_many(target, ["True.intro", "helper_sorried"])
    assert honest.status == "accepted", honest
    assert through_sorry.status == "error" and "sorryAx" in through_sorry.message, through_sorry


async def test_lean_view_refuses_commands_the_filter_missed(lean, monkeypatch) -> None:
    """The second line of defence works without the safety filter: with the filter switched
    off, candidates that add a declaration, a namespace, or an attribute command after an
    accepted proof are refused from Lean's own view of the checked text."""
    path, checker = lean
    monkeypatch.setattr(checker_module, "check_candidate", lambda text, policy=None: SafetyVerdict(True))
    target = _target(path, "goal3")
    hostile = ["True.intro\naxiom cheat : False", "True.intro\nnamespace Foo", "True.intro\nattribute [irreducible] idProp"]
    results = await checker.check_many(target, [*hostile, "True.intro"], batch=False)
    assert [r.status for r in results] == ["error", "error", "error", "accepted"], results
    assert "cheat" in results[0].message
    assert "Foo" in results[1].message or "namespace" in results[1].message
    assert "attribute" in results[2].message
    # batched, behind an honest copy (later acceptances are confirmed alone, with Lean's view)
    batched = await checker.check_many(target, ["True.intro", *reversed(hostile)])
    assert [r.status for r in batched] == ["accepted", "error", "error", "error"], batched
