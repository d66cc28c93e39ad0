"""Document text and LSP positions (UTF-16 code units, 0-based lines), as Lean keeps them.

Text is stored with LF line ends (Lean converts CRLF to LF on open and on every change).
Positions past the end of a line clamp to the line end; lines past the end clamp to the end of
the text.
"""
from __future__ import annotations

from typing import Any


def normalize_newlines(text: str) -> str:
    """CRLF to LF, as Lean does for opened text and inserted text."""
    return text.replace("\r\n", "\n")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (astral characters count two)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf16_to_index(line_text: str, units: int) -> int:
    """Code-point index in ``line_text`` for a UTF-16 column, clamped to the line's end."""
    count = 0
    for index, ch in enumerate(line_text):
        if count >= units:
            return index
        count += 2 if ord(ch) > 0xFFFF else 1
    return len(line_text)


def index_to_utf16(line_text: str, index: int) -> int:
    """UTF-16 column of code-point ``index`` in ``line_text``."""
    return utf16_len(line_text[:index])


class LineIndex:
    """Maps between absolute code-point offsets, (line, code-point column) and LSP positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.starts: list[int] = []
        offset = 0
        for line in self.lines:
            self.starts.append(offset)
            offset += len(line) + 1

    def offset(self, line: int, units: int) -> int:
        """Absolute code-point offset of an LSP position (clamped)."""
        if line < 0:
            return 0
        if line >= len(self.lines):
            return len(self.text)
        return self.starts[line] + utf16_to_index(self.lines[line], max(units, 0))

    def line_col(self, offset: int) -> tuple[int, int]:
        """(line, code-point column) of an absolute offset."""
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo, offset - self.starts[lo]

    def position(self, line: int, col: int) -> dict[str, int]:
        """LSP position of a (line, code-point column)."""
        text = self.lines[line] if 0 <= line < len(self.lines) else ""
        return {"line": line, "character": index_to_utf16(text, col)}

    def position_of_offset(self, offset: int) -> dict[str, int]:
        return self.position(*self.line_col(offset))

    def lsp_range(self, start: tuple[int, int], end: tuple[int, int]) -> dict[str, Any]:
        return {"start": self.position(*start), "end": self.position(*end)}

    def cp_col(self, line: int, units: int) -> int:
        """Code-point column of a UTF-16 column on ``line`` (clamped)."""
        text = self.lines[line] if 0 <= line < len(self.lines) else ""
        return utf16_to_index(text, units)

    def end_position(self) -> dict[str, int]:
        return self.position(len(self.lines) - 1, len(self.lines[-1]))


def apply_change(text: str, change: dict[str, Any]) -> str:
    """Apply one ``contentChanges`` entry: full text, or ranged (``rangeLength`` ignored)."""
    new_text = normalize_newlines(str(change.get("text", "")))
    rng = change.get("range")
    if not isinstance(rng, dict):
        return new_text
    index = LineIndex(text)
    start = index.offset(int(rng["start"]["line"]), int(rng["start"]["character"]))
    end = index.offset(int(rng["end"]["line"]), int(rng["end"]["character"]))
    if end < start:
        start, end = end, start
    return text[:start] + new_text + text[end:]
