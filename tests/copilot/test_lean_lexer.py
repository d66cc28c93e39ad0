"""The Lean lexer follows Lean's token rules (src/Lean/Parser/Basic.lean, Lean 4.35): where a
number stops, what an identifier may contain, comments, strings, raw and interpolated strings,
char literals."""
from __future__ import annotations

import pytest

from copilot.lean_lexer import is_id_first, is_id_rest, tokenize


def _kinds(text: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a number stops at the first character Lean's number parser does not take
        ("0axiom", [("number", "0"), ("ident", "axiom")]),
        ("1set_option", [("number", "1"), ("ident", "set_option")]),
        ("123", [("number", "123")]),
        ("1_000_000", [("number", "1_000_000")]),
        ("1__0", [("number", "1__0")]),
        ("1_axiom", [("number", "1"), ("ident", "_axiom")]),  # `_` needs a digit after it
        ("0x1F", [("number", "0x1F")]),
        ("0xff_ffg", [("number", "0xff_ff"), ("ident", "g")]),
        ("0x1faxiom", [("number", "0x1fa"), ("ident", "xiom")]),  # `a` is a hex digit
        ("0b1012", [("number", "0b101"), ("number", "2")]),
        ("0b_axiom", [("number", "0"), ("ident", "b_axiom")]),  # `0b` with no digit is an error
        ("0o17", [("number", "0o17")]),
        ("0o8", [("number", "0"), ("ident", "o8")]),
        ("1.5", [("number", "1.5")]),
        ("2.", [("number", "2.")]),  # Lean takes the dot: a scientific literal
        ("2.foo", [("number", "2."), ("ident", "foo")]),
        ("1e10", [("number", "1e10")]),
        ("1.5e-3x", [("number", "1.5e-3"), ("ident", "x")]),
        ("2eaxiom", [("number", "2"), ("ident", "eaxiom")]),  # `e` without digits is an error
        ("٣", [("symbol", "٣")]),  # Lean's isDigit is ASCII only
    ],
)
def test_numbers_follow_lean(text: str, expected: list[tuple[str, str]]) -> None:
    """Numbers: decimal, 0x/0b/0o, scientific, `_` separators, and where each one stops."""
    assert _kinds(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("h.def", [("ident", "h.def")]),
        ("List.Sublist.end", [("ident", "List.Sublist.end")]),
        ("x₁ aⱼ α' f! p?", [("ident", "x₁"), ("ident", "aⱼ"), ("ident", "α'"), ("ident", "f!"), ("ident", "p?")]),
        ("é Ω ℕ 𝔽", [("ident", "é"), ("ident", "Ω"), ("ident", "ℕ"), ("ident", "𝔽")]),
        # not identifier characters in Lean: notation symbols
        ("sᶜ", [("ident", "s"), ("symbol", "ᶜ")]),
        ("αᵒᵈ", [("ident", "α"), ("symbol", "ᵒ"), ("symbol", "ᵈ")]),
        ("Aᵀ", [("ident", "A"), ("symbol", "ᵀ")]),
        ("λ x", [("symbol", "λ"), ("ident", "x")]),
        ("ѕorry", [("symbol", "ѕ"), ("ident", "orry")]),  # Cyrillic ѕ is not an identifier letter
        ("h.2.1", [("ident", "h"), ("symbol", "."), ("number", "2.1")]),
        ("«a b».c.«d»", [("ident", "«a b».c.«d»")]),
        ("«foo»axiom", [("ident", "«foo»"), ("ident", "axiom")]),
        ("Foo.«x", [("ident", "Foo.«x")]),
    ],
)
def test_identifiers_follow_lean(text: str, expected: list[tuple[str, str]]) -> None:
    """Identifiers use Lean's isIdFirst/isIdRest (letter-like, Latin-1, subscripts), «»
    escapes and dotted components; modifier letters and Cyrillic are not identifier parts."""
    assert _kinds(text) == expected


def test_identifier_parts_and_unterminated_escape() -> None:
    """`parts` are the components without «»; an open « is marked unterminated."""
    (token,) = tokenize("«a b».c")
    assert token.parts == ("a b", "c")
    (open_,) = tokenize("Foo.«x")
    assert open_.unterminated


def test_character_classes() -> None:
    """The classes are Lean 4.35's: ASCII letters, `_`, letter-like and Latin-1/Extended-A
    start an identifier; digits, `'!?` and subscripts continue one; λ Π Σ × ÷ do neither."""
    assert all(is_id_first(c) for c in "aZ_αΩℕé" + "ā")
    assert not any(is_id_first(c) for c in "λΠΣ×÷1'ᶜж")
    assert all(is_id_rest(c) for c in "9'!?₁ₐᵢⱼ")
    assert not any(is_id_rest(c) for c in "ᶜᵒ⁻¹ ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('r#"a"b"# x', [("string", 'r#"a"b"#'), ("ident", "x")]),
        ('r"a\\" x', [("string", 'r"a\\"'), ("ident", "x")]),  # no escapes in raw strings
        ('r##"a"#b"## x', [("string", 'r##"a"#b"##'), ("ident", "x")]),
        ('"a\\"b" x', [("string", '"a\\"b"'), ("ident", "x")]),
        ('s!"a{"}"}b" x', [("ident", "s!"), ("string", '"a{"}"}b"'), ("ident", "x")]),
        ('m!"{ {a := 1}.a }" x', [("ident", "m!"), ("string", '"{ {a := 1}.a }"'), ("ident", "x")]),
        ("'a' 'b", [("char", "'a'"), ("symbol", "'"), ("ident", "b")]),
        ("'\\n' '\\x41' '\\u03b1'", [("char", "'\\n'"), ("char", "'\\x41'"), ("char", "'\\u03b1'")]),
        ("f '' s", [("ident", "f"), ("symbol", "''"), ("ident", "s")]),
        ("f ⁻¹' s", [("ident", "f"), ("symbol", "⁻"), ("symbol", "¹'"), ("ident", "s")]),
        ("h' x'", [("ident", "h'"), ("ident", "x'")]),
    ],
)
def test_strings_and_chars(text: str, expected: list[tuple[str, str]]) -> None:
    """Strings with escapes, raw strings with any number of #, interpolated strings whose
    `{…}` parts hold strings of their own, char literals vs `'` in names and notations."""
    assert _kinds(text) == expected


def test_comments_nest_and_unterminated_ones_are_marked() -> None:
    """Block comments nest; `--` runs to the end of the line; an open one is unterminated."""
    tokens = tokenize("a /- x /- y -/ z -/ b -- c\nd")
    assert [(t.kind, t.text) for t in tokens] == [
        ("ident", "a"), ("comment", "/- x /- y -/ z -/"), ("ident", "b"), ("comment", "-- c"), ("ident", "d")]
    (open_,) = [t for t in tokenize("a /- /- -/") if t.kind == "comment"]
    assert open_.unterminated
    assert [t.text for t in tokenize("a /- x -/ b", keep_comments=False)] == ["a", "b"]
    (doc,) = [t for t in tokenize("/-- doc -/ def") if t.kind == "comment"]
    assert doc.text == "/-- doc -/"


def test_unterminated_strings_are_marked() -> None:
    """An open string, raw string or interpolation is marked so callers can refuse it."""
    for text in ('"abc', 'r#"abc"', 's!"a{b"'):
        (token,) = [t for t in tokenize(text) if t.kind == "string"]
        assert token.unterminated, text


def test_offsets_cover_the_source() -> None:
    """Every token's text is source[start:end]."""
    source = 'theorem «x y» (h : 0x1F = 31) : sᶜ = r#"q"# := by\n  simp [h] -- done\n  exact 2.5e3'
    for token in tokenize(source):
        assert source[token.start : token.end] == token.text
