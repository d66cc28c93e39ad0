"""The one UTF-16 position converter, property-tested against Python's own UTF-16 encoding."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lsp_proxy.utf16 import (
    index_to_utf16,
    offset_to_position,
    position_to_offset,
    utf16_length,
    utf16_to_index,
)

# ASCII, BMP (⊢ α ℕ), astral (𝔽 𝓝 😀) and newlines, so every branch is exercised.
chars = st.sampled_from(list("ab \t⊢αℕ→") + ["𝔽", "𝓝", "😀", "\n"]) | st.characters(
    blacklist_categories=("Cs",))
texts = st.text(chars, max_size=40)
lines = st.text(chars.filter(lambda c: c != "\n"), max_size=30)


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@given(texts)
def test_length_is_pythons_utf16_length(text):
    assert utf16_length(text) == units(text)


@given(lines, st.integers(-3, 80))
def test_index_to_utf16_counts_the_units_before_the_index(line, index):
    assert index_to_utf16(line, index) == units(line[: max(0, index)])


@given(lines, st.integers(-3, 80))
def test_utf16_to_index_is_the_first_index_at_or_after_the_unit_offset(line, character):
    index = utf16_to_index(line, character)
    assert 0 <= index <= len(line)
    if character <= 0:
        assert index == 0
    elif character >= units(line):
        assert index == len(line)  # past the end: end of line
    else:  # the smallest index whose prefix has at least `character` units (mid-pair rounds up)
        assert units(line[:index]) >= character
        assert index == 0 or units(line[: index - 1]) < character


@given(lines)
def test_round_trip_on_every_index(line):
    for index in range(len(line) + 1):
        assert utf16_to_index(line, index_to_utf16(line, index)) == index


@given(texts, st.integers(-3, 60))
def test_offset_and_position_round_trip(text, offset):
    line, character = offset_to_position(text, offset)
    clamped = min(max(0, offset), len(text))
    assert line == text.count("\n", 0, clamped)
    assert position_to_offset(text, line, character) == clamped


@given(texts, st.integers(-2, 10), st.integers(-2, 50))
def test_position_to_offset_clamps_like_lean(text, line, character):
    offset = position_to_offset(text, line, character)
    split = text.split("\n")
    if line < 0:
        assert offset == 0
    elif line >= len(split):
        assert offset == len(text)
    else:
        start = sum(len(s) + 1 for s in split[:line])
        assert offset == start + utf16_to_index(split[line], character)
        assert start <= offset <= start + len(split[line])
