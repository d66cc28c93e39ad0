"""The safety filter: a corpus of hostile candidates that must be refused (with a reason) and
benign ones that must pass."""
from __future__ import annotations

import pytest

from copilot.safety import SafetyPolicy, check_candidate, skeleton, strip_comments

HOSTILE = [
    # sorry and friends
    "sorry",
    "exact sorry",
    "  sorry  ",
    "simp; sorry",
    "all_goals sorry",
    "first | rfl | sorry",
    "exact (sorry : 1 = 1)",
    "exact @sorryAx _ false",
    "exact sorryAx _ true",
    "admit",
    "repeat admit",
    "stop",
    "exact Foo.sorry",
    "exact «sorry»",
    "exact _root_.sorryAx _ false",
    "exact lcProof",
    # look-alikes and invisible characters
    "ѕorry",  # Cyrillic s
    "sοrry",  # Greek omicron
    "exact ｓｏｒｒｙ",  # fullwidth
    "exact 𝐬𝐨𝐫𝐫𝐲",  # mathematical bold
    "so\u200brry",  # zero-width space
    "simp\u202e",  # right-to-left override
    "exact a\u00a0b",  # no-break space
    "simp\tonly",  # tab
    "rfl\r\nsorry",
    "exact 𝐈𝐎.println",
    "s\u0301orry",  # combining accent
    # native code and compiler trust
    "native_decide",
    "decide +native",
    "exact Lean.ofReduceBool _ _ rfl",
    "bv_decide",
    "exact Lean.trustCompiler",
    # commands
    "#eval 1",
    "#exit",
    "#print axioms foo",
    "rfl\n#check Nat",
    "run_tac pure ()",
    "run_cmd pure ()",
    "run_elab pure ()",
    "by_elab pure ()",
    "exact (IO.println \"x\")",
    "exact IO.Process.exit 0",
    "exact unsafeCast ()",
    # environment changes
    "set_option maxHeartbeats 0 in simp",
    "set_option maxHeartbeats 100000000 in simp",
    "set_option debug.skipKernelTC true in rfl",
    "set_option maxHeartbeats 1000",
    "set_option pp.all true in rfl",
    "attribute [simp] foo",
    "@[simp] theorem x : True := trivial",
    "macro \"foo\" : tactic => `(tactic| sorry)",
    "syntax \"foo\" : tactic",
    "elab \"foo\" : tactic => pure ()",
    "notation \"⊤⊤\" => True",
    "macro_rules | `(tactic| trivial) => `(tactic| sorry)",
    "elab_rules : tactic | `(tactic| foo) => pure ()",
    "infixl:65 \" +++ \" => HAppend.hAppend",
    # declarations inside a candidate
    "rfl\ntheorem cheat : False := sorry",
    "exact foo\nwhere foo : True := trivial",
    "exact h\ndef x := 1",
    "exact h\ninstance : Inhabited Nat := ⟨0⟩",
    "exact h\nopaque x : Nat",
    "exact h\naxiom cheat : False",
    "exact h\nlemma x : True := trivial",
    "exact h\nabbrev y := 2",
    "exact h\nstructure S where",
    "exact h\ninductive T | a",
    "exact h\nmutual end",
    "open Classical",
    "open Lean Elab in run_tac pure ()",
    "open Foo in exact sorry",
    "import Mathlib",
    "rfl\nend Foo",
    "rfl\nnamespace Foo",
    "rfl\nsection",
    "rfl\nuniverse u",
    "rfl\nvariable (x : Nat)",
    "exact h\nnoncomputable def z := 1",
    "exact h\nprivate def z := 1",
    "unsafe def z := 1",
    "implemented_by foo",
    "exact h\n@[extern \"c\"] def f : Nat := 1",
    # brackets, comments, strings
    "exact (foo",
    "exact foo)",
    "exact ⟨a, b",
    "exact [a)",
    "simp /- hide the rest",
    "simp -- the checker appends nothing here",
    "/-- doc -/ rfl",
    "exact \"string\"",
    "exact 'a'",
    "exact r#\"raw\"#",
    "exact `(foo)",
    "exact `foo",
    "exact f $ x",
    "exact «unterminated",
    "",
    "   \n  ",
    "simp" + " " * 5000,
    # commands that escape a tactic block (they need not start at column 0)
    "exact h\nalias cheat := h",
    "exact h\n  irreducible_def c : Nat := 1",
    "exact h\nregister_simp_attr my_simp",
    "exact h\nsimproc reduceFoo (foo _) := fun _ => pure none",
    "exact h\nlocal notation \"x\" => 1",
    "exact h\ndeclare_aesop_rule_sets [Foo]",
    # issue 11: glued numbers (Lean's number stops at the first non-digit) and missing bans
    "first | omega | exact 0axiom cheat : False",
    "1set_option debug.skipKernelTC true",
    "1attribute [simp] foo",
    "1run_cmd pure ()",
    "1instance : Inhabited False := ⟨h⟩",
    "1open Classical",
    "exact h\nvariable? [Group G]",
    "exact h\ntest_extern Nat.add 1 2",
    "exact h\nmk_iff_of_inductive_prop Foo foo_iff",
    "exact h\ngen_injective_theorems% Foo",
    # the checker's own copies
    "exact _lc_cand_0",
    "simp [Foo._lc_cand_3]",
]

BENIGN = [
    "rfl",
    "simp",
    "simp only [Nat.add_comm, Nat.mul_comm] at h ⊢",
    "exact h.1",
    "exact sorry_lemma",  # an identifier, not `sorry` (axioms are checked later)
    "simp [IO_thing]",  # an identifier, not `IO`
    "exact Nat.le_of_lt_succ h'",
    "intro x y\nexact ⟨x, y⟩",
    "induction n with\n| zero => rfl\n| succ n ih => simp [ih]",
    "constructor <;> omega",
    "rcases h with ⟨x, hx⟩",
    "exact fun x => x",
    "exact fun α (a : α) => a",
    "nlinarith [sq_nonneg (a - b), sq_nonneg (a + b)]",
    "set_option maxHeartbeats 200000 in simp",
    "set_option maxRecDepth 2000 in decide",
    "open Classical in exact em p",
    "exact absurd h (by decide)",
    "norm_num [Finset.sum_range_succ]",
    "apply le_antisymm <;> assumption",
    "exact ‹P›",
    "exact ⌊x⌋₊",
    "calc a = b := by rw [h]\n  _ = c := hc",
    "have h2 : 0 < 𝔽 := by positivity\nexact h2",
    "exact h₁.trans h₂",
    "decide",
    "omega",
    "exact?",
    "show ∀ ε > 0, ∃ δ > 0, δ < ε\nintro ε hε\nexact ⟨ε / 2, by positivity, by linarith⟩",
    "exact Classical.choice ⟨0⟩",
    "exact Nat.succ_le_of_lt (Nat.lt_of_le_of_lt h₀ h₁)",
    # issue 11: false positives (a keyword as a later component; Mathlib's postfix notations)
    "rw [h.def]",
    "exact List.Sublist.end h",
    "exact h.omit",
    "simp [Set.compl_compl sᶜ]",
    "exact (αᵒᵈ)",
    "rw [Matrix.transpose_transpose Aᵀ]",
    "exact MulOpposite.op_injective (α := αᵐᵒᵖ)",
    "exact Units.val (u : Mˣ)",
    "rw [Set.diff_eq S \\ T]",
    "exact h.1.intersection",
    "exact hx.2.le",
    "simp [Set.mem_def, Nat.not_def]",
]


def test_corpus_is_large_enough() -> None:
    """The hostile corpus has at least 60 entries (the issue's floor)."""
    assert len(HOSTILE) >= 60


@pytest.mark.parametrize("candidate", HOSTILE)
def test_hostile_candidates_are_refused_with_a_reason(candidate: str) -> None:
    """Every hostile candidate is refused, and the verdict says why."""
    verdict = check_candidate(candidate)
    assert not verdict.ok, candidate
    assert verdict.reason


@pytest.mark.parametrize("candidate", BENIGN)
def test_benign_candidates_pass(candidate: str) -> None:
    """Ordinary tactics, including identifiers that merely contain a banned word, pass."""
    verdict = check_candidate(candidate)
    assert verdict.ok, (candidate, verdict.reason)


def test_native_decide_is_configurable() -> None:
    """native_decide passes only when the policy allows compiler trust."""
    assert not check_candidate("native_decide").ok
    assert check_candidate("native_decide", SafetyPolicy(allow_native=True)).ok
    assert not check_candidate("simp [foo]", SafetyPolicy(extra_banned=frozenset({"foo"}))).ok


def test_skeleton_maps_look_alikes() -> None:
    """The confusable skeleton turns Cyrillic/fullwidth/bold look-alikes into Latin."""
    assert skeleton("ѕоrrу") == "sorry"
    assert skeleton("ｓｏｒｒｙ") == "sorry"
    assert skeleton("𝐈𝐎") == "IO"


def test_strip_comments_cleans_model_output_but_keeps_open_comments() -> None:
    """Complete comments are removed (and then the text passes); an unterminated block
    comment stays and is still refused."""
    cleaned = strip_comments("-- first split\nconstructor /- left -/\n  · simp -- easy\n")
    assert cleaned == "constructor\n  · simp"
    assert check_candidate(cleaned).ok
    still_open = strip_comments("simp /- and the rest")
    assert not check_candidate(still_open).ok
    assert strip_comments("rfl") == "rfl"
