"""Units of the checker that need no Lean: other sorries replaced by our own axiom in the shadow
text, term candidates, and the decoding of Lean's view (symbols, semantic tokens)."""
from __future__ import annotations

from copilot.checker import (
    OTHER_SORRY,
    OTHER_SORRY_AXIOM,
    CheckerConfig,
    CheckTarget,
    _flatten_symbols,
    _keywords,
    _token_types,
    build_shadow_text,
)
from copilot.proof_text import fill_hole, hole_edit, locate_sorries

TWO = """import Foo

theorem two (p q : Prop) (hp : p) (hq : q) : p ∧ q ∧ True := by
  refine ⟨sorry, ?_⟩
  constructor
  · sorry
  · sorry
"""


def test_other_sorries_become_our_axiom_in_every_copy() -> None:
    """The declaration's other sorries become `_lc_other_sorry` (a term) or
    `exact _lc_other_sorry` (tactics) in each copy; the axiom is declared once after the
    prefix; the hole gets the candidate; the user's prefix is unchanged."""
    locations = locate_sorries(TWO)
    target = CheckTarget.for_sorry("file:///p/Two.lean", TWO, locations[1])
    assert target.other_sorries
    text, slots = build_shadow_text(target, ["exact hq", "simp"], CheckerConfig())
    assert text.startswith("import Foo\n\n" + OTHER_SORRY_AXIOM)
    assert text.count(OTHER_SORRY_AXIOM) == 1
    for slot, candidate in zip(slots, ["exact hq", "simp"], strict=True):
        copy = text[slot.start : slot.end]
        assert f"refine ⟨{OTHER_SORRY}, ?_⟩" in copy
        assert f"  · {candidate}\n  · exact {OTHER_SORRY}" in copy
        assert "sorry" not in copy.replace(OTHER_SORRY, "")
        assert text[slot.cand_start : slot.cand_end] == candidate


def test_a_declaration_without_other_sorries_gets_no_axiom() -> None:
    text = "theorem one (p : Prop) (hp : p) : p := by\n  sorry\n"
    target = CheckTarget.for_sorry("file:///p/One.lean", text, locate_sorries(text)[0])
    shadow, _ = build_shadow_text(target, ["exact hp"], CheckerConfig())
    assert OTHER_SORRY not in shadow


def test_term_candidates_go_in_as_terms() -> None:
    """`as_terms()`: a term hole gets the candidate as a term, parenthesised where needed,
    instead of a `by` block."""
    text = "theorem a : And True True := sorry\n\ntheorem b : And True True := And.intro sorry True.intro\n"
    first, second = locate_sorries(text)
    target = CheckTarget.for_sorry("file:///p/T.lean", text, first).as_terms()
    assert target.apply("And.intro True.intro True.intro").startswith(
        "theorem a : And True True := And.intro True.intro True.intro\n")
    tactic = CheckTarget.for_sorry("file:///p/T.lean", text, first)
    assert tactic.apply("exact foo").startswith("theorem a : And True True := by exact foo\n")
    inner = CheckTarget.for_sorry("file:///p/T.lean", text, second).as_terms()
    assert "And.intro (True.intro) True.intro" in inner.apply("True.intro")
    filled = fill_hole(text, inner.hole, "f\n  x", as_term=True)
    assert filled.text[filled.start - 1 : filled.end + 1] == "(f\n    x)"
    # the edit the search returns for a term target (copilot.search uses hole_edit)
    start, end, new = hole_edit(text, target.hole, "And.intro True.intro True.intro", as_term=True)
    assert (text[start:end], new) == ("sorry", "And.intro True.intro True.intro")


def test_lean_view_decoding() -> None:
    """Document symbols (nested, both shapes) flatten to names and starts; semantic tokens
    decode to keyword texts at their offsets (UTF-16 positions); the legend is read from
    Lean's initialize result."""
    symbols = [
        {"name": "Foo", "range": {"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}},
         "children": [{"name": "Foo.bar", "range": {"start": {"line": 1, "character": 2}, "end": {}}}]},
        {"name": "baz", "location": {"uri": "u", "range": {"start": {"line": 4, "character": 0}}}},
        "junk",
    ]
    assert list(_flatten_symbols(symbols)) == [("Foo", 0, 0), ("Foo.bar", 1, 2), ("baz", 4, 0)]
    text = "theorem 𝔽x : True := trivial\naxiom c : False\n"
    legend = ["keyword", "variable"]
    # `theorem` at (0,0) len 7; `𝔽x` (variable) at (0,8) len 3 (UTF-16); `axiom` at (1,0) len 5
    data = [0, 0, 7, 0, 0, 0, 8, 3, 1, 0, 1, 0, 5, 0, 0]
    assert _keywords(text, {"data": data}, legend.index("keyword")) == [(0, "theorem"), (text.index("axiom"), "axiom")]
    assert _keywords(text, None, 0) == []
    init = {"capabilities": {"semanticTokensProvider": {"legend": {"tokenTypes": legend}}}}
    assert _token_types(init) == legend and _token_types(None) == [] and _token_types({"capabilities": {}}) == []
