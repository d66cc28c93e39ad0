"""Token-aware sorry location, declaration finding, hole filling and statement stripping."""
from __future__ import annotations

import pytest

from copilot.proof_text import (
    declarations,
    fill_hole,
    find_declaration,
    hole_at_cursor,
    hole_edit,
    hole_for_sorry,
    locate_sorries,
    lsp_to_offset,
    offset_to_lsp,
    strip_statement,
)

SOURCE = '''import Foo

/-- A doc comment that mentions sorry. -/
@[simp]
theorem foo (n : Nat) : n + 0 = n := by
  sorry

theorem bar : True := sorry -- sorry in a comment

def sorry_lemma := "sorry"

/- a block comment
   with sorry inside /- nested sorry -/ still comment -/
theorem baz (p q : Prop) (hp : p) (hq : q) : p ∧ q := by
  constructor
  · sorry
  · have h : q := by sorry
    exact (sorry)

namespace X
theorem qux : 1 = 1 := by simp; sorry
end X

set_option maxHeartbeats 400 in
theorem w : True := by
  have h : True := sorry
  exact h
'''


def test_declarations_include_decorations_and_statement() -> None:
    """Declarations start at their doc comment/attributes/set_option prefix, end at their last
    token, and carry the statement up to ``:=``."""
    decls = {d.name: d for d in declarations(SOURCE)}
    assert set(decls) == {"foo", "bar", "sorry_lemma", "baz", "qux", "w"}
    foo = decls["foo"]
    assert SOURCE[foo.start:].startswith("/-- A doc comment")
    assert SOURCE[: foo.end].endswith("  sorry")
    assert foo.statement == "theorem foo (n : Nat) : n + 0 = n"
    assert foo.signature == "(n : Nat) : n + 0 = n"
    assert SOURCE[decls["w"].start:].startswith("set_option maxHeartbeats 400 in")
    assert SOURCE[: decls["bar"].end].endswith(":= sorry")  # trailing comment excluded
    offset = SOURCE.index("exact (sorry)")
    assert find_declaration(SOURCE, offset).name == "baz"
    assert find_declaration(SOURCE, 0) is None


def test_locate_sorries_ignores_comments_strings_and_identifiers() -> None:
    """Only real sorry tokens are found: not in comments, strings or ``sorry_lemma``."""
    found = locate_sorries(SOURCE)
    assert [s.declaration for s in found] == ["foo", "bar", "baz", "baz", "baz", "qux", "w"]
    for s in found:
        assert SOURCE[s.start:s.end] == "sorry"
        assert lsp_to_offset(SOURCE, s.line, s.character) == s.start


def test_locate_sorries_classifies_tactic_term_and_have() -> None:
    """Tactic vs term sorries and the have context are told apart."""
    kinds = [(s.kind, s.in_have) for s in locate_sorries(SOURCE)]
    assert kinds == [
        ("tactic", False),  # foo: alone in a by block
        ("term", False),  # bar: := sorry
        ("tactic", False),  # baz: after ·
        ("tactic", True),  # baz: have … := by sorry
        ("term", False),  # baz: exact (sorry)
        ("tactic", False),  # qux: after ;
        ("term", True),  # w: have … := sorry
    ]


def _fill(nth: int, tactics: str) -> str:
    loc = locate_sorries(SOURCE)[nth]
    filled = fill_hole(SOURCE, hole_for_sorry(SOURCE, loc), tactics)
    assert filled.text[filled.start:filled.end].split("\n")[0] == tactics.split("\n")[0]
    return filled.text


def test_fill_hole_keeps_indentation_for_every_kind_of_hole() -> None:
    """Multi-line proofs are laid out validly wherever the sorry was."""
    assert "n + 0 = n := by\n  intro x\n  simp\n" in _fill(0, "intro x\nsimp")
    assert "theorem bar : True := by\n  intro x\n  simp" in _fill(1, "intro x\nsimp")
    assert "theorem bar : True := by trivial" in _fill(1, "trivial")
    assert "  · intro x\n    simp\n" in _fill(2, "intro x\nsimp")
    assert "have h : q := by\n      intro x\n      simp\n    exact" in _fill(3, "intro x\nsimp")
    assert "exact (by\n      intro x\n      simp)" in _fill(4, "intro x\nsimp")
    assert "by simp; (intro x\n                                 simp)" in _fill(5, "intro x\nsimp")
    assert "have h : True := by\n    intro x\n    simp\n  exact h" in _fill(6, "intro x\nsimp")


def test_hole_at_cursor_and_positions_are_utf16() -> None:
    """Cursor holes insert in place; LSP positions count UTF-16 units."""
    text = "theorem t : 𝔽 = 𝔽 := by\n  \n"
    offset = text.index("\n  \n") + 3
    filled = fill_hole(text, hole_at_cursor(text, offset), "rfl")
    assert filled.text == "theorem t : 𝔽 = 𝔽 := by\n  rfl\n"
    assert offset_to_lsp(text, text.index("=")) == (0, 15)
    assert lsp_to_offset(text, 0, 15) == text.index("=")


def test_strip_statement_for_whole_proof_candidates() -> None:
    """A whole-proof candidate may repeat the statement (stripped) but not change it."""
    decl = next(d for d in declarations(SOURCE) if d.name == "foo")
    assert strip_statement("theorem foo (n : Nat) : n + 0 = n := by\n  simp", decl) == "simp"
    assert strip_statement("theorem foo (n : Nat) :  n + 0 = n := by simp", decl) == "simp"
    assert strip_statement("theorem foo (n : Nat) : n = n := by simp", decl) is None
    assert strip_statement("by\n  simp\n  rfl", decl) == "  simp\n  rfl".strip("\n")
    assert strip_statement("simp", decl) == "simp"


def test_hole_edit_is_one_edit_that_reproduces_the_filled_text() -> None:
    """For every hole, applying (start, end, new_text) gives exactly the filled text, even
    when spaces before the sorry are removed (same-line `by`)."""
    for loc in locate_sorries(SOURCE):
        hole = hole_for_sorry(SOURCE, loc)
        for tactics in ("simp", "intro x\nsimp"):
            start, end, new = hole_edit(SOURCE, hole, tactics)
            assert start <= hole.start and end == hole.end
            assert SOURCE[:start] + new + SOURCE[end:] == fill_hole(SOURCE, hole, tactics).text
    have = locate_sorries(SOURCE)[3]  # `have h : q := by sorry`
    start, _, new = hole_edit(SOURCE, hole_for_sorry(SOURCE, have), "intro x\nsimp")
    assert start == have.start - 1 and new.startswith("\n      intro x")


# --------------------------------------------------------------------------- real-Lean corner cases


def test_combinator_prefixes_belong_to_the_declaration() -> None:
    """`open Foo in`, `omit … in` and stacked `set_option … in` scope the next declaration
    (Lean's generic `command in command`), so they are part of its start: copies keep them."""
    text = ("import Foo\n\nopen Nat in\ntheorem foo (n : Nat) : succ n = n + 1 := by\n  sorry\n\n"
            "set_option maxHeartbeats 400000 in\nomit [Foo] in\n@[simp] theorem bar : True := trivial\n")
    foo, bar = declarations(text)
    assert text[foo.start : foo.keyword_start] == "open Nat in\n"
    assert (foo.name, foo.signature) == ("foo", "(n : Nat) : succ n = n + 1")
    assert text[bar.start : bar.keyword_start] == "set_option maxHeartbeats 400000 in\nomit [Foo] in\n@[simp] "
    assert declarations("open Nat\n\ntheorem t : True := trivial\n")[0].keyword_start == len("open Nat\n\n")


def test_statement_stops_at_alternatives_and_where_but_not_at_abs_bars() -> None:
    """The statement of an equation-compiler definition ends before its first `|` alternative
    (and before `where`), so filling a sorry in an alternative leaves it unchanged; Mathlib's
    `|x|` inside a statement is no alternative."""
    text = (
        "def g : Nat → Nat\n  | 0 => sorry\n  | n+1 => g n\n\n"
        "theorem abs_nn (x : Int) : 0 ≤ |x| := by\n  sorry\n\n"
        "instance : Inhabited Nat where\n  default := sorry\n"
    )
    g, abs_nn, inst = declarations(text)
    assert (g.statement, g.signature, g.body_start) == ("def g : Nat → Nat", ": Nat → Nat", None)
    assert abs_nn.signature == "(x : Int) : 0 ≤ |x|" and text[abs_nn.body_start :].startswith(" by")
    assert inst.statement == "instance : Inhabited Nat"


def test_mutual_members_are_marked() -> None:
    """Members of a `mutual … end` block written at column 0 are marked `in_mutual` (they
    cannot be checked one by one); declarations after `end` are not."""
    text = ("mutual\ndef e : Nat → Bool\n  | 0 => true\n  | n+1 => o n\ndef o : Nat → Bool\n  | 0 => sorry\n"
            "  | n+1 => e n\nend\n\ntheorem t : True := sorry\n")
    assert [(d.name, d.in_mutual) for d in declarations(text)] == [("e", True), ("o", True), ("t", False)]


def test_module_files_are_recognised() -> None:
    """A file of Lean's module system starts with `module` (after comments)."""
    from copilot.proof_text import is_module_file

    assert is_module_file("/-! Header. -/\nmodule\n\npublic import Foo\n")
    assert not is_module_file("import Foo\n\ndef module := 1\n")
    assert not is_module_file("-- module\nimport Foo\n")


def test_decreasing_by_sorry_is_a_tactic_hole() -> None:
    """A sorry after `decreasing_by` (same line or next) stands for tactics, and a multi-line
    proof goes on new lines under it."""
    same = "def f (n : Nat) : Nat := if h : n = 0 then 0 else f (n - 1)\ndecreasing_by sorry\n"
    below = "def f (n : Nat) : Nat := match n with\n  | 0 => 0\n  | n+1 => f n\ntermination_by n\ndecreasing_by\n  sorry\n"
    for text in (same, below):
        (loc,) = locate_sorries(text)
        assert loc.kind == "tactic" and loc.declaration == "f"
    filled = fill_hole(same, hole_for_sorry(same, locate_sorries(same)[0]), "simp_wf\nomega").text
    assert filled.endswith("decreasing_by\n  simp_wf\n  omega\n")


def test_sorry_inside_syntax_quotations_is_not_a_hole() -> None:
    """`sorry` inside a syntax quotation (macro_rules, elab) is syntax, not a proof hole."""
    text = "macro_rules | `(tactic| mytac) => `(tactic| sorry)\n\ntheorem a : True := by\n  sorry\n"
    assert [(loc.line, loc.declaration) for loc in locate_sorries(text)] == [(3, "a")]


def test_calc_step_hole_does_not_swallow_the_next_step() -> None:
    """Filling a sorry in a `calc` step with several tactics indents them past the next step
    (`_ = …`), so the tactic block ends where the original step did."""
    for text in (
        "theorem a (x y : Nat) (h : x = y) : x = y := by\n  calc x = y := sorry\n    _ = y := rfl\n",
        "theorem a (x y : Nat) (h : x = y) : x = y := by\n  calc x = y := by sorry\n    _ = y := rfl\n",
    ):
        filled = fill_hole(text, hole_for_sorry(text, locate_sorries(text)[0]), "skip\nexact h").text
        assert "calc x = y := by\n      skip\n      exact h\n    _ = y := rfl\n" in filled


def test_header_end_covers_module_and_import_forms() -> None:
    """The header is `module`/`prelude` and every `import` form (public, meta, all), up to the
    last imported module; a file without imports has an empty header."""
    from copilot.proof_text import header_end

    text = "/-! doc -/\nmodule\n\npublic import Foo\nimport all Bar.Baz\nmeta import Q\n\ndef x := 1\n"
    assert text[: header_end(text)].endswith("meta import Q")
    assert header_end("-- c\ntheorem a : True := trivial\n") == 0
    source = "prelude\nimport Init.Core\nnamespace X\n"
    assert "import Init.Core" in source[: header_end(source)]


def test_other_commands_at_column_zero_end_the_previous_declaration() -> None:
    """Commands of Lean, Batteries and Mathlib at column 0 (`proof_wanted`, `simproc`,
    `suppress_compilation`, …) end the previous declaration, so a sorry after them is not
    attributed to it; `irreducible_def` is itself a declaration."""
    text = (
        "theorem a : True := trivial\n\nproof_wanted hard : 1 = 2\n\nsuppress_compilation\n\n"
        "irreducible_def f (n : Nat) : Nat := sorry\n"
    )
    decls = declarations(text)
    assert [(d.keyword, d.name) for d in decls] == [("theorem", "a"), ("irreducible_def", "f")]
    assert decls[0].end == len("theorem a : True := trivial")
    assert [loc.declaration for loc in locate_sorries(text)] == ["f"]


def test_module_system_modifiers_start_declarations() -> None:
    """In module-system files `public`/`meta` modifiers (and `@[expose]`) start a declaration
    at column 0 like `private` does; `public section` and `public import` are no declarations."""
    text = (
        "module\n\npublic import Foo\n\npublic section\n\ntheorem a : True := trivial\n\n"
        "@[expose] public def b : Nat := 1\n\nmeta def c : Nat := 2\n\npublic theorem d : True := by\n  sorry\n"
    )
    decls = declarations(text)
    assert [(d.keyword, d.name) for d in decls] == [("theorem", "a"), ("def", "b"), ("def", "c"), ("theorem", "d")]
    assert text[decls[1].start : decls[1].keyword_start] == "@[expose] public "
    assert decls[0].end == text.index("trivial") + len("trivial")
    assert [loc.declaration for loc in locate_sorries(text)] == ["d"]


def test_instance_names_after_a_priority() -> None:
    """`instance (priority := low) foo : C` is named `foo`; an anonymous instance with a
    priority, or with binders, has no name."""
    text = (
        "instance (priority := low) instFoo : Inhabited Nat := ⟨0⟩\n\n"
        "instance (priority := 100) : Inhabited Bool := ⟨true⟩\n\n"
        "instance (n : Nat) : Inhabited (Fin (n + 1)) := ⟨0⟩\n"
    )
    assert [d.name for d in declarations(text)] == ["instFoo", None, None]
    assert declarations(text)[0].signature == ": Inhabited Nat"



@pytest.mark.parametrize(
    "text,expected",
    [
        ("theorem a : True := by sorry\n", [("tactic", "a")]),
        ("theorem a : True := by\n  sorry\n", [("tactic", "a")]),
        ("theorem a : True ∧ True := by\n  constructor\n  · sorry\n  · exact sorry\n", [("tactic", "a"), ("term", "a")]),
        ("theorem a (n : Nat) : n = n := by\n  cases n\n  case zero => sorry\n  next m =>\n    sorry\n", [("tactic", "a")] * 2),
        ("theorem a : True ∧ True := by\n  constructor <;> sorry\n", [("tactic", "a")]),
        ("theorem a (n : Nat) : n = n := by\n  induction n with\n  | zero => sorry\n  | succ k ih => sorry\n",
         [("tactic", "a")] * 2),
        ("def a : Nat → Nat := fun x => sorry\n", [("term", "a")]),
        ("theorem a : True ∧ True := ⟨sorry, sorry⟩\n", [("term", "a")] * 2),
        ("theorem a : True ∧ True := ⟨by sorry, trivial⟩\n", [("tactic", "a")]),
        ("theorem a : True := by\n  have h : True := sorry\n  exact h\n", [("term", "a")]),
        ("theorem a : True := aux\nwhere aux : True := sorry\n", [("term", "a")]),
        ("namespace A\nsection\nvariable (n : Nat)\ntheorem a : n = n := by\n  sorry\nend\nend A\n", [("tactic", "a")]),
        ("/- /- sorry -/ sorry -/\ntheorem a : True := by\n  -- sorry\n  sorry\n", [("tactic", "a")]),
        ('def s := "sorry"\ndef «sorry» := 1\ntheorem a : s = "sorry" := by\n  sorry\n', [("tactic", "a")]),
        ("structure P where\n  x : Nat\nderiving Repr\n\n@[simp] theorem a : True := by\n  sorry\n", [("tactic", "a")]),
        ("private theorem a : True := by\n  sorry\n\nnoncomputable def b : Nat := sorry\n", [("tactic", "a"), ("term", "b")]),
        ("instance : Inhabited Nat := sorry\n", [("term", None)]),
        ("theorem a (x : Int) : 0 ≤ |x| := by\n  sorry\n", [("tactic", "a")]),
    ],
)
def test_real_lean_snippets_locate_and_classify(text: str, expected: list[tuple[str, str | None]]) -> None:
    """Real Lean 4 corner cases: every real sorry is found (none in comments, strings or
    `«sorry»`), classified tactic/term, and attributed to its declaration."""
    assert [(loc.kind, loc.declaration) for loc in locate_sorries(text)] == expected


@pytest.mark.parametrize("source", [
    "",
    "import A\nimport B\ntheorem x : True := trivial",
    "/-" + "x" * 5000 + "-/\nprelude\nimport A\n#check 1",
    "-- c\n" * 2000 + "import Mathlib\n" * 3000 + "def x := 1",
    "module\npublic import A\nimport all B\n" + "x" * 10000,
    " " * 4090 + "prelude\ntheorem t : True := trivial",
])
def test_header_end_of_a_prefix_equals_the_whole_file_answer(source):
    """header_end lexes only a growing prefix; the answer must equal lexing the whole file."""
    from copilot.proof_text import _header_end_in, header_end

    assert header_end(source) == _header_end_in(source)[0]


@pytest.mark.parametrize(("source", "expected"), [
    ("module\nimport A\n", True),
    ("/-" + "doc " * 400 + "-/\nmodule\n", True),
    ("\n" * 509 + "module", True),
    ("\n" * 509 + "modules", False),
    ("import A\nmodule", False),
    ("-- only a comment", False),
    ("", False),
])
def test_is_module_file_reads_only_the_first_token(source, expected):
    from copilot.proof_text import is_module_file

    assert is_module_file(source) is expected
