"""Goal-state parsing and target classification (local_models.goal_shape)."""
from __future__ import annotations

import json

import pytest

from local_models.goal_shape import (
    Goal,
    arith_features,
    binder_names,
    classify,
    goal_from_statement,
    normalize,
    number_type,
    parse_goal,
    parse_goals,
)
from tests.conftest import shared_data


def _transcript_goal_lists() -> list[list[str]]:
    data = json.loads(shared_data("lean-server-transcripts", "plainGoal.json").read_text())
    out = []
    for exchange in data["exchanges"]:
        result = exchange["result"]
        if result and result.get("goals"):
            out.append(result["goals"])
    return out


def test_parses_case_tags_inaccessible_names_and_multiple_goals():
    """Blank-line separated goals each keep their case tag, hypotheses and ✝ names."""
    text = "case zero\n⊢ 0 + 0 = 0\n\ncase succ\nn✝ : Nat\na✝ : 0 + n✝ = n✝\n⊢ 0 + (n✝ + 1) = n✝ + 1"
    goals = parse_goals(text)
    assert [g.case for g in goals] == ["zero", "succ"]
    assert goals[0].hypotheses == ()
    assert goals[0].target == "0 + 0 = 0"
    assert goals[1].names() == ["n✝", "a✝"]
    assert goals[1].type_of("a✝") == "0 + n✝ = n✝"
    assert goals[1].target == "0 + (n✝ + 1) = n✝ + 1"


def test_groups_names_sharing_a_type_and_keeps_colons_inside_types():
    """``a b : α`` is one entry with two names; ``∀ {p : α → Prop}`` stays inside the type."""
    g = parse_goal(
        "α : Sort u_1\np : α → Prop\na b : α\ninst✝ : DecidablePred p\n"
        "h : ∀ {p : α → Prop} [DecidablePred p], p a → p b\n⊢ p a"
    )
    assert g.type_of("a") == g.type_of("b") == "α"
    assert g.type_of("h") == "∀ {p : α → Prop} [DecidablePred p], p a → p b"
    assert g.type_of("inst✝") == "DecidablePred p"
    assert g.target == "p a"


def test_wrapped_lines_join_and_let_values_split():
    """Indented continuation lines belong to the entry above; ``x : T := v`` has a value."""
    g = parse_goal("x : ℕ := 5\nh : x + 1 =\n    6\n⊢ x = 5 ∧\n    True")
    assert g.hypotheses[0].names == ("x",)
    assert g.hypotheses[0].type == "ℕ" and g.hypotheses[0].value == "5"
    assert g.type_of("h") == "x + 1 = 6"
    assert g.target == "x = 5 ∧ True"


def test_conv_goal_and_no_goals_and_fences():
    """``| e`` is a conv goal; ``no goals`` is empty; Markdown fences and --- are ignored."""
    assert parse_goal("| True = True").conv
    assert parse_goals("no goals") == []
    assert parse_goals("") == []
    fenced = "```lean\n⊢ True\n```\n---\n```lean\n⊢ False\n```"
    assert [g.target for g in parse_goals(fenced)] == ["True", "False"]
    with pytest.raises(ValueError):
        parse_goal("no goals")


def test_every_real_transcript_goal_parses_to_a_target():
    """Every goal Lean returned in the plainGoal transcript yields a non-empty target."""
    lists = _transcript_goal_lists()
    assert len(lists) > 20
    for goals in lists:
        parsed = parse_goals("\n\n".join(goals))
        assert len(parsed) == len(goals)
        for g in parsed:
            assert g.target, goals


@pytest.mark.parametrize(
    ("term", "kind"),
    [
        ("∀ a b : Nat, a = b", "forall"),
        ("α → α", "implies"),
        ("∃ m, (m > n ∧ ∃ p, m * p ≤ m + p)", "exists"),
        ("p ∧ q ∨ r", "or"),
        ("p ∧ (q ∨ r)", "and"),
        ("x ∈ S ↔ x > 0", "iff"),
        ("¬7 ∣ 2 ^ n + 1", "not"),
        ("¬a ∧ b", "and"),
        ("(a = b)", "eq"),
        ("a ≠ b", "ne"),
        ("2 ∣ 4 ^ n", "dvd"),
        ("a ≡ b [MOD 3]", "modeq"),
        ("x ∉ s", "notmem"),
        ("s ⊆ t", "subset"),
        ("True", "true"),
        ("False", "false"),
        ("Nat.Prime 7", "app"),
        ("f = fun x => x + 1", "eq"),
        ("a <;> b", "app"),
    ],
)
def test_classify_top_level_connective(term: str, kind: str):
    """The top-level connective respects precedence, brackets and binder scope."""
    assert classify(term).kind == kind


def test_orders_are_flipped_to_le_lt():
    """``a ≥ b`` is ``b ≤ a`` and ``a > b`` is ``b < a``; ASCII operators are understood."""
    ge = classify("a + 1 ≥ b")
    assert (ge.kind, ge.lhs, ge.rhs) == ("le", "b", "a + 1")
    gt = classify("x > 0")
    assert (gt.kind, gt.lhs, gt.rhs) == ("lt", "0", "x")
    assert classify("a <= b").kind == "le"
    assert classify("p -> q").kind == "implies"


def test_binders_of_quantifiers():
    """Binder names and type are read from ∀/∃, including bounded binders."""
    s = classify("∀ x y : ℝ, x + y = y + x")
    assert s.binders == ("x", "y") and s.binder_type == "ℝ" and s.body == "x + y = y + x"
    b = classify("∃ k > 0, 2 ^ k = n")
    assert b.binders == ("k",) and b.bounded
    assert binder_names("(a : α) (b : β)") == (("a", "b"), "β")


def test_number_type_and_arith_features():
    """Number types come from hypotheses, ascriptions and real functions; linearity is textual."""
    g = goal_from_statement("theorem t (n x : ℝ) (h₀ : n + x = 97) : n + 2 * x = 139 := by sorry")
    a = arith_features(g.target, g)
    assert a.domain == "ℝ" and a.linear and not a.closed and set(a.variables) == {"n", "x"}
    nat = Goal(target="a * b ≤ a ^ 2", hypotheses=parse_goal("a b : ℕ\n⊢ a ≤ b").hypotheses)
    an = arith_features(nat.target, nat)
    assert an.domain == "ℕ" and not an.linear
    closed = arith_features("((1 : ℚ) / 2 + 1 / 3) * (1 / 2 - 1 / 3) = 5 / 36")
    assert closed.closed and closed.domain == "ℚ" and closed.linear
    assert arith_features("Real.sqrt x < 2").has_transcendental
    assert number_type("ℕ → ℝ") == "ℝ" and number_type("Nat") == "ℕ" and number_type("Set ℕ") is None


def test_goal_from_statement_reads_binders_comments_and_instances():
    """Statements become goals: explicit, implicit, instance binders; comments are ignored."""
    g = goal_from_statement(
        "theorem foo {α : Type*} [Fintype α] (S : Finset ℕ)\n"
        "  -- a comment with : colon\n"
        "  (h₀ : ∀ n : ℕ, n ∈ S ↔ 0 < n) :\n  S.card = 1 := by sorry"
    )
    assert g.names() == ["α", "inst✝", "S", "h₀"]
    assert g.type_of("h₀") == "∀ n : ℕ, n ∈ S ↔ 0 < n"
    assert g.target == "S.card = 1"
    with pytest.raises(ValueError):
        goal_from_statement("def x := 3")


def test_every_minif2f_statement_converts():
    """All 488 miniF2F statements give a goal whose target is non-empty and round-trips."""
    path = shared_data("benchmarks", "minif2f-lean4.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len(records) == 488
    for r in records:
        g = goal_from_statement(r["statement"])
        assert g.target and ":= by" not in g.target, r["name"]
        rendered = "\n".join([f"{' '.join(h.names)} : {h.type}" for h in g.hypotheses] + ["⊢ " + g.target])
        assert normalize(parse_goal(rendered).target) == normalize(g.target), r["name"]


def test_section_variables_bundled_homs_and_open_real():
    """Short names outside the context are variables (not closed); ``→+*`` is no implication;
    bare ``log``/``exp`` (``open Real``) mean ℝ."""
    assert not arith_features("a * 2 = c").closed
    assert arith_features("Nat.gcd 180 168 = 12").closed
    assert classify("(R ⧸ I) →+* S").kind not in ("implies", "forall")
    assert arith_features("log (1 + exp a) ≤ log (1 + exp b)").domain == "ℝ"
    assert arith_features("Nat.log 2 8 = 3").domain is None
