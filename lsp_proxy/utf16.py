"""LSP positions: the one converter between UTF-16 code units and Python ``str`` indices.

LSP (and Lean) count a position's ``character`` in UTF-16 code units: an astral character
(``𝔽``, ``𝓝``) is two units, everything else one. One clamping behaviour, Lean's ``FileMap``'s:
a character past the end of a line means the end of that line; one inside a surrogate pair
rounds up to after the astral character; negative values mean 0; a line past the end of the
text means the end of the text, a negative line the start.
"""
from __future__ import annotations


def utf16_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def utf16_to_index(line: str, character: int) -> int:
    """The ``str`` index in ``line`` of a UTF-16 ``character`` offset (clamped, see module)."""
    if character <= 0:
        return 0
    if line.isascii():
        return min(character, len(line))
    units = 0
    for index, char in enumerate(line):
        if units >= character:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(line)


def index_to_utf16(line: str, index: int) -> int:
    """The UTF-16 offset of ``str`` index ``index`` in ``line`` (clamped to the line)."""
    return utf16_length(line[: max(0, index)])


def position_to_offset(text: str, line: int, character: int) -> int:
    """The ``str`` index in ``text`` of an LSP position (lines split at ``\\n``; clamped)."""
    if line < 0:
        return 0
    start = 0
    for _ in range(line):
        newline = text.find("\n", start)
        if newline < 0:
            return len(text)
        start = newline + 1
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    return start + utf16_to_index(text[start:end], character)


def offset_to_position(text: str, offset: int) -> tuple[int, int]:
    """The LSP (line, UTF-16 character) of a ``str`` index in ``text`` (clamped to the text)."""
    offset = min(max(0, offset), len(text))
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return line, utf16_length(text[start:offset])
