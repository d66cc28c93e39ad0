"""Document text handling: UTF-16 positions, ranged and full edits, CRLF, clamping."""
from __future__ import annotations

from tests.lean_double.documents import LineIndex, apply_change, normalize_newlines, utf16_len


def rng(l1: int, c1: int, l2: int, c2: int) -> dict:
    return {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}}


def test_astral_characters_count_two_utf16_units():
    """A character outside the BMP (𝔽) takes two UTF-16 units; ⊢ and α take one."""
    assert utf16_len("𝔽") == 2 and utf16_len("⊢α") == 2
    text = "x : 𝔽 ⊢ y"
    # Replace "y" at UTF-16 column 9 (code-point column 8).
    assert apply_change(text, {"range": rng(0, 9, 0, 10), "text": "z"}) == "x : 𝔽 ⊢ z"
    index = LineIndex(text)
    assert index.position(0, 8) == {"line": 0, "character": 9}
    assert index.cp_col(0, 9) == 8


def test_ranged_edits_apply_in_order_across_lines():
    """Ranged changes apply one after another, each against the previous result."""
    text = "theorem a : True := by\n  trivial\n"
    text = apply_change(text, {"range": rng(1, 2, 1, 9), "text": "exact True.intro"})
    text = apply_change(text, {"range": rng(0, 8, 0, 9), "text": "b"})
    assert text == "theorem b : True := by\n  exact True.intro\n"
    # A multi-line deletion joins lines.
    assert apply_change("ab\ncd\nef", {"range": rng(0, 1, 2, 1), "text": ""}) == "af"


def test_crlf_is_converted_to_lf_in_full_and_ranged_changes():
    """Lean converts CRLF to LF in opened text and in inserted text."""
    assert normalize_newlines("a\r\nb\r\n") == "a\nb\n"
    assert apply_change("x", {"text": "a\r\nb"}) == "a\nb"
    assert apply_change("ab", {"range": rng(0, 1, 0, 1), "text": "\r\n"}) == "a\nb"


def test_edits_at_and_past_end_of_file_clamp():
    """Positions past a line's end clamp to it; lines past the end clamp to the end of the text."""
    text = "abc\ndef"
    assert apply_change(text, {"range": rng(1, 3, 1, 3), "text": "!"}) == "abc\ndef!"
    assert apply_change(text, {"range": rng(5, 0, 9, 9), "text": "\nghi"}) == "abc\ndef\nghi"
    assert apply_change(text, {"range": rng(0, 10, 0, 99), "text": "X"}) == "abcX\ndef"
    # An insert whose range end is one past the line end (old runners echoed that) appends.
    assert apply_change("#check fal\n", {"range": rng(0, 10, 0, 11), "text": "s"}) == "#check fals\n"


def test_rangelength_is_ignored():
    """rangeLength is ignored; the range decides what is replaced."""
    assert apply_change("hello", {"range": rng(0, 0, 0, 1), "rangeLength": 4, "text": "J"}) == "Jello"
