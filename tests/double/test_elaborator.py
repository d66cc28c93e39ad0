"""The scripted mini-elaborator, in-process: tactic tables, diagnostics and goal positions."""
from __future__ import annotations

import pytest

from tests.lean_double import BASIC_SCENARIO
from tests.lean_double.elaborator import ElabOptions, elaborate
from tests.lean_double.scenario import ScenarioError, load_scenario, scenario_from_dict


@pytest.fixture(scope="module")
def basic():
    return load_scenario(BASIC_SCENARIO)


def lsp(elab):
    return [d.to_lsp(elab.index) for d in elab.diagnostics()]


SWAP = """theorem swap (p q : Prop) : p ∧ q → q ∧ p := by
  intro h
  constructor
  · exact h.2
  · exact h.1
"""


def test_three_step_proof_closes_with_no_diagnostics(basic):
    """intro/constructor/exact steps from the table close the goal: nothing is reported."""
    elab = elaborate(SWAP, basic)
    assert lsp(elab) == []
    assert elab.goals_at(1, 2) == ["p q : Prop\n⊢ p ∧ q → q ∧ p"]  # before `intro h`
    assert elab.goals_at(1, 9) == ["p q : Prop\nh : p ∧ q\n⊢ q ∧ p"]  # end of `intro h`
    assert elab.goals_at(3, 4) == ["case left\np q : Prop\nh : p ∧ q\n⊢ q"]  # inside the first bullet
    assert elab.goals_at(4, 13) == []  # after the last tactic: "no goals"
    assert elab.goals_at(0, 5) is None  # before `by`: no tactic state


def test_copies_under_fresh_names_are_elaborated_independently(basic):
    """Statements match by the text after the name, so renamed copies get the same goal."""
    text = SWAP + "\n" + SWAP.replace("swap", "swap_1").replace("exact h.1", "exact h.2") + "\n" + \
        SWAP.replace("swap", "swap_2").replace("\n  ", "\n    ")
    elab = elaborate(text, basic)
    diags = lsp(elab)
    assert len(diags) == 1, diags
    assert diags[0]["range"]["start"]["line"] == 10  # only the wrong copy fails, at its tactic
    assert diags[0]["message"].startswith("type mismatch")


def test_unknown_tactic_and_unscripted_known_tactic_errors(basic):
    """An unknown head gives `unknown tactic`; a known tactic without a rule a Lean-like failure."""
    elab = elaborate("theorem t (n : Nat) : n + 0 = n := by\n  frobnicate n\n", basic)
    [diag] = lsp(elab)
    assert diag["message"] == "unknown tactic" and diag["severity"] == 1
    assert diag["range"] == {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 14}}
    elab = elaborate("theorem t (n : Nat) : n + 0 = n := by\n  ring_nf\n", basic)
    [diag] = lsp(elab)
    assert diag["message"] == "tactic 'ring_nf' failed\nn : Nat\n⊢ n + 0 = n"


def test_scripted_error_stops_the_block_without_unsolved_goals(basic):
    """The first failing tactic reports the scenario's message and the rest is not run."""
    text = "example (x y : Nat) (h : x * y = 6) (hx : 0 < x) : y ≤ 6 := by\n  linarith\n  omega\n"
    [diag] = lsp(elaborate(text, basic))
    assert diag["message"].startswith("linarith failed to find a contradiction")
    assert diag["source"] == "Lean 4" and diag["fullRange"] == diag["range"]


def test_unsolved_goals_carry_lean_tags_and_a_cut_range(basic):
    """Leftover goals: `unsolved goals` at `by`, leanTags [1], range cut at the first line."""
    text = "theorem t (p q : Prop) : p ∧ q → q ∧ p := by\n  intro h\n  constructor\n  exact h.2\n"
    [diag] = lsp(elaborate(text, basic))
    assert diag["message"] == "unsolved goals\ncase right\np q : Prop\nh : p ∧ q\n⊢ p"
    assert diag["leanTags"] == [1] and diag["severity"] == 1
    assert diag["range"] == {"start": {"line": 0, "character": 42}, "end": {"line": 1, "character": 0}}
    assert diag["fullRange"] == {"start": {"line": 0, "character": 42}, "end": {"line": 3, "character": 11}}


def test_several_unsolved_goals_are_separated_by_blank_lines(basic):
    """Goals in an `unsolved goals` message are joined by an empty line."""
    text = "theorem z (n : Nat) : 0 + n = n := by\n  induction n\n"
    [diag] = lsp(elaborate(text, basic))
    assert diag["message"] == ("unsolved goals\ncase zero\n⊢ 0 + 0 = 0\n\n"
                               "case succ\nn✝ : Nat\na✝ : 0 + n✝ = n✝\n⊢ 0 + (n✝ + 1) = n✝ + 1")


@pytest.mark.parametrize("wording,expected", [("new", "declaration uses `sorry`"), ("old", "declaration uses 'sorry'")])
def test_sorry_warning_at_the_name_in_both_wordings(basic, wording, expected):
    """sorry as a tactic or as a term gives one warning per declaration, at its name."""
    text = "theorem a (n : Nat) : n + 0 = n := by\n  sorry\n\ntheorem b (n : Nat) : n + 0 = n := sorry\n" \
           "example : True := by\n  exact sorry\n"
    diags = lsp(elaborate(text, basic, ElabOptions(sorry_wording=wording)))
    assert [d["message"] for d in diags] == [expected] * 3
    assert all(d["severity"] == 2 for d in diags)
    assert diags[0]["range"] == {"start": {"line": 0, "character": 8}, "end": {"line": 0, "character": 9}}
    assert diags[1]["range"]["start"] == {"line": 3, "character": 8}
    assert diags[2]["range"] == {"start": {"line": 4, "character": 0}, "end": {"line": 4, "character": 7}}


def test_bullet_errors_are_contained_and_unfinished_bullets_reported(basic):
    """An error inside a bullet admits that goal and continues; an unfinished bullet is unsolved."""
    text = "theorem s (p q : Prop) : p ∧ q → q ∧ p := by\n  intro h\n  constructor\n  · exact h.1\n  · skip\n"
    diags = lsp(elaborate(text, basic))
    assert [d["message"].split("\n")[0] for d in diags] == ["type mismatch", "unsolved goals"]
    assert diags[1]["leanTags"] == [1] and diags[1]["range"]["start"] == {"line": 4, "character": 2}


def test_try_this_info_and_new_format(basic):
    """A result with info gives an information diagnostic and a code-action suggestion."""
    text = "theorem c (a b : Nat) : a + b = b + a := by\n  exact?\n"
    elab = elaborate(text, basic)
    [diag] = lsp(elab)
    assert diag["severity"] == 3 and diag["message"] == "Try this: exact Nat.add_comm a b"
    assert elab.commands[0].try_this[0].suggestion == "exact Nat.add_comm a b"
    [diag] = lsp(elaborate(text, basic, ElabOptions(try_this_format="new")))
    assert diag["message"] == "Try this:\n  [apply] exact Nat.add_comm a b"


def test_one_line_by_semicolons_and_continuation_lines(basic):
    """`by tac` on one line, `;`-separated tactics and deeper-indented continuation lines all parse."""
    one_line = "theorem d (p q : Prop) : p ∧ q → q ∧ p := by intro h; exact ⟨h.2,\n    h.1⟩\n"
    elab = elaborate(one_line, basic)
    assert lsp(elab) == []
    assert elab.goals_at(0, 45) == ["p q : Prop\n⊢ p ∧ q → q ∧ p"]  # at `intro`
    assert elab.goals_at(0, 52) == ["p q : Prop\nh : p ∧ q\n⊢ q ∧ p"]  # at the end of `intro h`


def test_builtins_and_derived_goals_without_scenario_entries():
    """Without scenario entries the goal comes from the binders and built-ins handle simple steps."""
    sc = scenario_from_dict({})
    text = "theorem e {α : Type} (a : α) (h : a = a) : True ∧ (a = a) := by\n  constructor\n  · trivial\n  · rfl\n"
    elab = elaborate(text, sc)
    assert lsp(elab) == []
    assert elab.goals_at(1, 2) == ["α : Type\na : α\nh : a = a\n⊢ True ∧ (a = a)"]
    no_builtins = scenario_from_dict({"builtins": False})
    assert [d["message"] for d in lsp(elaborate(text, no_builtins))] == ["tactic 'constructor' failed\n"
                                                                          "α : Type\na : α\nh : a = a\n⊢ True ∧ (a = a)"]


def test_term_proofs_are_checked_as_exact(basic):
    """A theorem's term body is looked up as `exact <term>`; def bodies are accepted."""
    good = "theorem f (a b : Nat) : a + b = b + a := Nat.add_comm a b\ndef g : Nat := 5\n"
    assert lsp(elaborate(good, basic)) == []
    bad = "theorem f (a b : Nat) : a + b = b + a := Nat.mul_comm a b\n"
    [diag] = lsp(elaborate(bad, basic))
    assert diag["severity"] == 1 and diag["range"]["start"] == {"line": 0, "character": 41}
    elab = elaborate(good, basic)
    assert elab.term_goal_at(0, 45)["goal"] == "a b : Nat\n⊢ a + b = b + a"
    assert elab.goals_at(0, 45) is None


def test_comments_and_attributes_do_not_confuse_the_command_split(basic):
    """Comments (line, nested block, doc) are ignored; attribute lines join their declaration."""
    text = ("/-! module doc -/\n@[simp]\ntheorem h1 (n : Nat) : n + 0 = n := by\n  -- a comment /- x -/\n"
            "  simp -- trailing\n/- block\n  /- nested -/ sorry -/\ntheorem h2 (n : Nat) : n + 0 = n := by omega\n")
    elab = elaborate(text, basic)
    assert lsp(elab) == []
    assert [c.name for c in elab.commands] == ["h1", "h2"]


def test_scripted_pattern_diagnostics():
    """Scenario diagnostics land at every regex match, with code and tags."""
    sc = scenario_from_dict({"diagnostics": [{"pattern": "#check (tru)\\b", "group": 1,
                                              "message": "unknown identifier 'tru'", "code": "lean.unknownIdentifier"},
                                             {"pattern": "old_name", "severity": 2, "tags": [2],
                                              "message": "`old_name` has been deprecated"}]})
    diags = lsp(elaborate("#check tru\n#check old_name\n", sc))
    assert diags[0]["range"] == {"start": {"line": 0, "character": 7}, "end": {"line": 0, "character": 10}}
    assert diags[0]["code"] == "lean.unknownIdentifier"
    assert diags[1]["tags"] == [2] and diags[1]["severity"] == 2


def test_bad_scenarios_name_the_key():
    """Malformed scenarios raise ScenarioError naming the offending key."""
    with pytest.raises(ScenarioError, match=r"tactics\[0\]\.result"):
        scenario_from_dict({"tactics": [{"goal": "⊢ True", "tactic": "simp"}]})
    with pytest.raises(ScenarioError, match="unknown keys"):
        scenario_from_dict({"tactic": []})
    with pytest.raises(ScenarioError, match=r"diagnostics\[0\]\.pattern"):
        scenario_from_dict({"diagnostics": [{"pattern": "(", "message": "x"}]})


def test_case_tags_nest_unless_written_in_full():
    """New goals' tags nest under the focused goal's tag; a fully written tag is kept."""
    from tests.lean_double.goals import with_parent_tag
    assert with_parent_tag("case left\n⊢ p", "case a\n⊢ p ∧ q") == "case a.left\n⊢ p"
    assert with_parent_tag("case a.left\n⊢ p", "case a\n⊢ p ∧ q") == "case a.left\n⊢ p"
    assert with_parent_tag("h : p\n⊢ q", "case a\n⊢ p → q") == "case a\nh : p\n⊢ q"
    assert with_parent_tag("case left\n⊢ p", "⊢ p ∧ q") == "case left\n⊢ p"


def test_a_docstring_on_the_declaration_line_starts_the_command(basic):
    """`/-- doc -/ theorem …` on one line is a new command, not part of the previous one."""
    text = "theorem a (n : Nat) : n + 0 = n := by\n  simp\n/-- doc -/ theorem b (n : Nat) : n + 0 = n := by\n  frobnicate\n"
    elab = elaborate(text, basic)
    assert [c.name for c in elab.commands] == ["a", "b"]
    [diag] = lsp(elab)
    assert diag["message"] == "unknown tactic" and diag["range"]["start"]["line"] == 3


def test_goals_derived_from_binders_name_anonymous_instances_like_lean():
    """Binder groups keep their names; anonymous instances are inst✝¹, inst✝ (newest last)."""
    from tests.lean_double.elaborator import binders_to_goal
    goal = binders_to_goal("{α : Type u} [DecidableEq α] [Inhabited α] (a b : α) (h : a ≠ b) : ∃ c, c ≠ a")
    assert goal == "α : Type u\ninst✝¹ : DecidableEq α\ninst✝ : Inhabited α\na b : α\nh : a ≠ b\n⊢ ∃ c, c ≠ a"
    assert binders_to_goal(": True") == "⊢ True"


def test_print_axioms_reports_like_lean():
    """`#print axioms` answers at `#print` with Lean's wording: none, sorryAx for sorried or
    broken declarations, scripted lists, and an error for unknown names."""
    from tests.lean_double.elaborator import elaborate
    from tests.lean_double.scenario import scenario_from_dict

    sc = scenario_from_dict({"axioms": {"choice_user": ["propext", "Classical.choice"]}}, "test")
    text = ("theorem good : True := by\n  trivial\n#print axioms good\n"
            "theorem bad : True := by\n  sorry\n#print axioms bad\n"
            "theorem choice_user : True := by\n  trivial\n#print axioms choice_user\n"
            "#print axioms nowhere\n")
    diags = {(d.start, d.severity, d.message) for d in elaborate(text, sc).diagnostics()}
    assert ((2, 0), 3, "'good' does not depend on any axioms") in diags
    assert ((5, 0), 3, "'bad' depends on axioms: [sorryAx]") in diags
    assert ((8, 0), 3, "'choice_user' depends on axioms: [Classical.choice, propext]") in diags
    assert ((9, 0), 1, "unknown constant 'nowhere'") in diags


def test_named_sorry_wording():
    """The newest wording names the declaration."""
    from tests.lean_double.elaborator import ElabOptions, elaborate
    from tests.lean_double.scenario import scenario_from_dict

    elab = elaborate("theorem foo : True := sorry\n", scenario_from_dict({}, "t"), ElabOptions(sorry_wording="named"))
    assert [d.message for d in elab.diagnostics()] == ["declaration `foo` uses `sorry`"]
