"""The model-free tactic portfolio (local_models.portfolio) on real goal states."""
from __future__ import annotations

import asyncio
import json
import math

import pytest

from local_models.generation import Candidate, GenerationRequest, TacticGenerator
from local_models.goal_shape import arith_features, classify, goal_from_statement, parse_goal
from local_models.portfolio import (
    TACTICS,
    PortfolioGenerator,
    available_providers,
    imports_of,
    parse_lean_version,
    tactic_keywords,
)
from tests.conftest import shared_data

MATHLIB_ONLY = {k for k, v in TACTICS.items() if v.provider != "core"}


def texts(goal: str, n: int = 8, **kw) -> list[str]:
    return [c.text for c in PortfolioGenerator(kw.pop("lean_version", None)).suggest(
        GenerationRequest(goal=goal, n=n, **kw))]


def render(statement: str) -> str:
    g = goal_from_statement(statement)
    return "\n".join([f"{' '.join(h.names)} : {h.type}" for h in g.hypotheses] + ["⊢ " + g.target])


def transcript_goals() -> list[str]:
    """Every distinct goal state Lean's server returned in the plainGoal transcripts."""
    found: set[str] = set()
    for name in ("plainGoal.json", "2881.json", "6594.json"):
        data = json.loads(shared_data("lean-server-transcripts", name).read_text())
        found |= {"\n\n".join(e["result"]["goals"]) for e in data["exchanges"]
                  if e.get("method") == "$/lean/plainGoal" and e["result"] and e["result"].get("goals")}
    return sorted(found)


def minif2f_goals() -> list[tuple[str, str]]:
    path = shared_data("benchmarks", "minif2f-lean4.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(r["name"], render(r["statement"])) for r in records]


async def test_is_a_tactic_generator_with_sorted_unique_scored_candidates():
    """generate() returns at most n distinct Candidates, best first, scores finite and ≤ 0."""
    gen = PortfolioGenerator()
    assert isinstance(gen, TacticGenerator)
    assert (gen.id, gen.role) == ("portfolio", "tactic")
    req = GenerationRequest(goal="n m : Nat\nh1 : n = m\nh2 : m = 0\n⊢ 0 = n", n=5)
    out = await gen.generate(req)
    assert 1 <= len(out) <= 5
    assert all(isinstance(c, Candidate) and c.source == "portfolio" and c.kind == "tactic" for c in out)
    scores = [c.score for c in out]
    assert scores == sorted(scores, reverse=True)
    assert all(math.isfinite(s) and s <= 0 for s in scores)
    assert len({c.text for c in out}) == len(out)
    big = await gen.generate(GenerationRequest(goal=req.goal, n=100))
    assert len(big) > 5 and [c.text for c in big[:5]] == [c.text for c in out]
    gen.close()


async def test_deterministic_and_cancel_and_empty():
    """Same request → same answer; a set cancel event or a finished goal gives []."""
    gen = PortfolioGenerator()
    req = GenerationRequest(goal="x y : ℝ\nh : x < y\n⊢ x ≤ y", n=8, imports=["Mathlib"])
    assert await gen.generate(req) == await gen.generate(req)
    cancel = asyncio.Event()
    cancel.set()
    assert await gen.generate(req, cancel) == []
    assert await gen.generate(GenerationRequest(goal="no goals")) == []
    assert await gen.generate(GenerationRequest(goal="⊢ True", n=0)) == []


def test_forall_and_implication_intro_first():
    """∀ and → targets put intro (with the binder names) first."""
    assert texts("α : Sort ?u\n⊢ α → α")[0] == "intro a"
    assert texts("⊢ ∀ a b : Nat, a + b = b + a")[0] == "intro a b"
    assert texts("s : Set ℕ\n⊢ ∀ x ∈ s, x ≥ 0")[0] == "intro x hx"
    assert texts("p q : Prop\n⊢ p ∧ q → q")[:3].count("rintro ⟨h1, h2⟩") == 1


def test_matching_hypothesis_is_exact_first():
    """A hypothesis whose type is the target gives `exact h` first (real transcript goal)."""
    assert texts("α : Sort ?u\na : α\n⊢ α")[0] == "exact a"
    assert texts("a b : ℕ\nh : b ≥ a\n⊢ a ≤ b")[0] == "exact h"
    assert texts("n m : Nat\nh1 : n = m\nh2 : m = 0\n⊢ 0 = m")[0] == "exact h2.symm"


def test_conjunction_of_hypotheses_and_true():
    """∧ of known facts is closed by an anonymous constructor; True by trivial."""
    assert texts("p q : Prop\nhp : p\nhq : q\nthis : q ∧ p\n⊢ p ∧ q")[0] == "exact ⟨hp, hq⟩"
    assert texts("case left\n⊢ True")[0] == "trivial"
    assert "constructor" in texts("p q : Prop\n⊢ p ∧ q", 3)


def test_hypothesis_destructuring():
    """∧, ∨, ∃ and False hypotheses give obtain / rcases / contradiction."""
    out = texts("a b : ℕ\nh : a < b ∧ b < 5\n⊢ a < 5", 30)
    assert "obtain ⟨h_1, h_2⟩ := h" in out
    assert "rcases h with h | h" in texts("p q : Prop\nh : p ∨ q\n⊢ q ∨ p", 30)
    assert "obtain ⟨k, hk⟩ := h" in texts("n : ℕ\nh : ∃ k, n = 2 * k\n⊢ Even n", 30)
    assert "obtain ⟨k, hk, hk'⟩ := h" in texts("n : ℕ\nh : ∃ k > 0, n = 2 * k\n⊢ 0 < n", 30)
    top = texts("p : Prop\nh : False\n⊢ p", 3)
    assert "contradiction" in top and "exact h.elim" in top
    neg = texts("p q : Prop\nhp : p\nhnp : ¬p\n⊢ q", 3)
    assert "exact absurd hp hnp" in neg


def test_disjunction_and_existential_targets():
    """∨ offers left/right (or Or.inl with a matching fact); ∃ offers witnesses."""
    assert texts("p q : Prop\nhq : q\n⊢ p ∨ q")[0] == "exact Or.inr hq"
    plain = texts("p q : Prop\n⊢ p ∨ q", 4)
    assert "left" in plain and "right" in plain
    ex = texts("n : ℕ\n⊢ ∃ m, m > n", 6, imports=["Mathlib"])
    assert "use n" in ex and "refine ⟨?_, ?_⟩" in ex
    core = texts("n : ℕ\n⊢ ∃ m, m > n", 8)
    assert "exists n" in core and not any(t.startswith("use ") for t in core)


def test_nat_linear_arithmetic_has_omega_near_top_on_real_goals():
    """ℕ/ℤ linear (in)equalities from Lean's transcript and miniF2F have omega in the top 3."""
    checked = 0
    goals = [("transcript", g) for g in transcript_goals()] + minif2f_goals()
    for name, goal_text in goals:
        goal = parse_goal(goal_text)
        shape, ar = classify(goal.target), arith_features(goal.target, goal)
        if shape.kind in ("eq", "le", "lt") and ar.domain in ("ℕ", "ℤ") and ar.linear \
                and not ar.has_casts and not ar.has_transcendental:
            for imports in ((), ("Mathlib",)):
                assert "omega" in texts(goal_text, 3, imports=list(imports)), (name, goal_text)
            checked += 1
    assert checked >= 20


def test_real_field_goals_rank_linarith_family_with_mathlib():
    """Over ℝ/ℚ with Mathlib, (in)equalities rank linarith/nlinarith/norm_num/positivity first."""
    family = {"linarith", "nlinarith", "norm_num", "positivity", "field_simp", "ring"}
    checked = 0
    for name, goal_text in minif2f_goals():
        goal = parse_goal(goal_text)
        if classify(goal.target).kind in ("le", "lt") and arith_features(goal.target, goal).domain == "ℝ":
            top = texts(goal_text, 3, imports=["Mathlib"])
            assert any(t.split()[0] in family for t in top), (name, top)
            checked += 1
    assert checked >= 20
    assert texts("x : ℝ\n⊢ 0 < x ^ 2 + 1", 3, imports=["Mathlib"])[0] == "positivity"


def test_no_library_tactics_without_the_import():
    """Without Mathlib/Aesop imports no Mathlib/Aesop/Batteries tactic is proposed (all goals)."""
    goals = transcript_goals() + [g for _, g in minif2f_goals()]
    seen_library = set()
    for goal_text in goals:
        for t in texts(goal_text, 30):
            bad = set(tactic_keywords(t)) & MATHLIB_ONLY
            assert not bad, (goal_text, t)
            assert "sq_nonneg" not in t and "le_of_lt" not in t.replace("Nat.le_of_lt", "")
        for t in texts(goal_text, 30, imports=["Mathlib"]):
            seen_library |= set(tactic_keywords(t)) & MATHLIB_ONLY
    assert {"linarith", "nlinarith", "norm_num", "positivity", "aesop"} <= seen_library
    aesop_only = texts("p q : Prop\nhp : p\n⊢ p ∨ q", 40, imports=["Aesop"])
    assert "aesop" in aesop_only and "tauto" not in aesop_only


def test_every_candidate_starts_with_a_known_tactic():
    """Each candidate's first word is a tactic of the table (catches typos in the rules)."""
    goals = transcript_goals() + [g for _, g in minif2f_goals()]
    for goal_text in goals:
        for t in texts(goal_text, 40, imports=["Mathlib"], lean_version="v4.24.0",
                       premises=["Nat.add_comm : ∀ (n m : ℕ), n + m = m + n"]):
            assert t.split()[0] in TACTICS, (goal_text, t)


def test_version_gates_are_data():
    """grind needs a known Lean ≥ 4.22; omega is not offered for a Lean older than 4.7."""
    goal = "a b : ℕ\n⊢ a + b = b + a"
    assert "grind" not in texts(goal, 40)
    assert "grind" in texts(goal, 40, lean_version="leanprover/lean4:v4.24.0")
    assert "grind" not in texts(goal, 40, lean_version="v4.21.0")
    assert "omega" not in texts(goal, 40, lean_version="v4.6.0")
    assert "simp_arith" not in texts(goal, 40, lean_version="v4.20.0")
    assert parse_lean_version("leanprover/lean4:v4.24.0-rc1") == (4, 24, 0)
    assert parse_lean_version("nonsense") is None
    assert available_providers(["Mathlib.Tactic.Linarith"]) >= {"Mathlib", "Aesop", "Batteries"}
    assert available_providers(["MathlibX"]) == {"core"}


def test_imports_fall_back_to_the_file_header():
    """Without request.imports, the file context's import lines decide the libraries."""
    goal = "x : ℝ\nh : 0 < x\n⊢ 0 < x ^ 2"
    assert imports_of("import Mathlib.Tactic -- tactics\nimport Aesop\n\ntheorem t") == ["Mathlib.Tactic", "Aesop"]
    assert "positivity" in texts(goal, 3, file_context="import Mathlib\n\nopen Real\n")
    assert "positivity" not in texts(goal, 40, file_context="import Std\n")


def test_premise_templates_follow_rank_and_shape():
    """Premises give exact/apply/rw/simp templates; equations favour rw; names are cleaned."""
    goal = "a b : ℕ\n⊢ a + b = b + a"
    out = texts(goal, 60, premises=["Nat.add_comm : ∀ (n m : ℕ), n + m = m + n", "Nat.le_refl"])
    for t in ("rw [Nat.add_comm]", "simp [Nat.add_comm]", "exact Nat.add_comm", "apply Nat.le_refl"):
        assert t in out
    assert out.index("rw [Nat.add_comm]") < out.index("apply Nat.add_comm")
    assert out.index("exact Nat.add_comm") < out.index("exact Nat.le_refl")
    reprover = texts("n : ℕ\n⊢ Nat.gcd n n = n", 60,
                     premises=["<a>Nat.gcd_self</a> theorem Nat.gcd_self (n : ℕ) : gcd n n = n",
                               "not a name!", ""])
    assert "rw [Nat.gcd_self]" in reprover
    assert not any("not a name" in t or "<a>" in t for t in reprover)


def test_induction_and_case_splits_on_nat_and_list_variables():
    """ℕ and List variables of the target get induction/cases candidates."""
    nat = texts("n : ℕ\n⊢ 0 + n = n", 40)
    assert "induction n" in nat and "cases n" in nat
    assert "induction n with | zero => simp | succ n ih => simp_all" in nat
    lst = texts("α : Type u_1\nas bs : List α\n⊢ (as ++ bs).length = as.length + bs.length", 40)
    assert "induction as" in lst
    assert not any("n✝" in t for t in texts("case succ\nn✝ : Nat\n⊢ 0 + (n✝ + 1) = n✝ + 1", 40))


def test_conv_goal_and_multiple_goals_and_garbage():
    """Conv goals get conv-mode tactics; extra goals add all_goals; garbage does not raise."""
    conv = texts("| True = True", 10, imports=["Mathlib"])
    assert conv and "simp" in conv and not any(t.startswith("intro") for t in conv)
    multi = texts("case zero\n⊢ 0 + 0 = 0\n\ncase succ\nn✝ : Nat\n⊢ 0 + (n✝ + 1) = n✝ + 1", 40)
    assert "all_goals simp" in multi
    junk = texts("⊢ ((( ]] ∀∀ :=", 5)
    assert 1 <= len(junk) <= 5


@pytest.mark.parametrize(
    ("goal", "expected", "k"),
    [
        ("⊢ 2 + 2 = 4", "decide", 3),
        ("⊢ Nat.gcd 180 168 = 12", "decide", 3),
        ("f g : ℕ → ℕ\n⊢ f = g", "funext x", 2),
        ("s t : Set ℕ\n⊢ s ∩ t = t ∩ s", "ext x", 2),
        ("s t : Set ℕ\n⊢ s ∩ t ⊆ s", "intro x hx", 1),
        ("p : Prop\n⊢ ¬(p ∧ ¬p)", "intro h", 1),
        ("p q : Prop\n⊢ p ∧ q ↔ q ∧ p", "constructor", 1),
        ("x : ℕ\nh₀ : x < 3\n⊢ x ≠ 5", "omega", 2),
    ],
)
def test_shape_specific_first_choices(goal: str, expected: str, k: int):
    """Typical shapes put their textbook tactic in the top k."""
    assert expected in texts(goal, k, imports=["Mathlib"])


async def test_large_goal_states_are_ranked_off_the_event_loop():
    """A goal state beyond INLINE_LIMIT characters is ranked in a worker thread; small ones inline."""
    import threading

    from local_models.portfolio import INLINE_LIMIT

    threads: list[str] = []

    class Spy(PortfolioGenerator):
        def suggest(self, request):
            threads.append(threading.current_thread().name)
            return super().suggest(request)

    hyps = "\n".join(f"x{i} : ℕ\nh{i} : x{i} + {i} ≤ x{i + 1}" for i in range(200))
    big = hyps + "\n⊢ x0 ≤ x200 + 1"
    assert len(big) > INLINE_LIMIT
    gen = Spy()
    out = await gen.generate(GenerationRequest(goal=big, n=5))
    await gen.generate(GenerationRequest(goal="⊢ True", n=5))
    assert out and out[0].text == "omega"
    assert threads[0] != threading.current_thread().name
    assert threads[1] == threading.current_thread().name
