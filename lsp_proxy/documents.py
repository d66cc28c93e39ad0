"""A mirror of the documents the editor has open, kept exactly as Lean keeps them.

Lean applies ``didChange`` ranges in UTF-16 code units, in order, and converts CRLF to LF after
every change (lean-lsp-protocol.md §2). This mirror does the same, so its text is what Lean sees.
Out-of-range positions are clamped like Lean's ``FileMap`` (:mod:`lsp_proxy.utf16`, the one
converter): a character past the end of a line means the end of that line, a line past the end
of the file means the end of the file, and a character that falls inside a surrogate pair rounds
up to after the astral character.

Text is stored as a list of UTF-8 lines (without ``\\n``) so that an edit only touches the
lines it spans; ``Document.text`` joins them on demand and is not cached (a cached copy of
every open file would double the proxy's memory).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from lsp_proxy.utf16 import index_to_utf16, utf16_length, utf16_to_index

__all__ = ["Document", "DocumentMirror", "index_to_utf16", "utf16_length", "utf16_to_index"]  # converters: lsp_proxy.utf16

logger = logging.getLogger(__name__)


def crlf_to_lf(text: str) -> str:
    return text.replace("\r\n", "\n") if "\r" in text else text


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


@dataclass
class Document:
    """One open document: URI, language id, version and text (as Lean has it).

    Lines are kept as UTF-8 ``bytes`` (about half the memory of ``str`` for Lean text, which
    Python stores at four bytes per character as soon as a line holds an astral symbol).
    """

    uri: str
    language_id: str
    version: int
    _lines: list[bytes] = field(default_factory=lambda: [b""], repr=False)

    @classmethod
    def from_text(cls, uri: str, language_id: str, version: int, text: str) -> Document:
        return cls(uri, language_id, version, _encode(crlf_to_lf(text)).split(b"\n"))

    @property
    def text(self) -> str:
        """The whole text (joined on each access)."""
        return _decode(b"\n".join(self._lines))

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def lines(self) -> list[str]:
        """All lines, decoded (a fresh list on each access)."""
        return [_decode(line) for line in self._lines]

    def line(self, number: int) -> str:
        """Line ``number`` (0-based) without its newline; '' past the end."""
        return _decode(self._lines[number]) if 0 <= number < len(self._lines) else ""

    def clamp(self, line: int, character: int) -> tuple[int, int]:
        """(line, str index in that line) of an LSP position, clamped as Lean does."""
        if line < 0:
            return 0, 0
        if line >= len(self._lines):
            last = len(self._lines) - 1
            return last, len(self.line(last))
        return line, utf16_to_index(self.line(line), character)

    def offset_at(self, line: int, character: int) -> int:
        """``str`` index in :attr:`text` of an LSP (UTF-16) position."""
        line, index = self.clamp(line, character)
        return sum(len(self.line(n)) + 1 for n in range(line)) + index

    def position_at(self, offset: int) -> tuple[int, int]:
        """LSP (line, UTF-16 character) of a ``str`` index in :attr:`text`."""
        offset = max(0, offset)
        for number in range(len(self._lines)):
            text = self.line(number)
            if offset <= len(text):
                return number, index_to_utf16(text, offset)
            offset -= len(text) + 1
        return len(self._lines) - 1, utf16_length(self.line(len(self._lines) - 1))

    def apply_change(self, change: dict[str, Any]) -> None:
        """Apply one ``TextDocumentContentChangeEvent`` (ranged or full text)."""
        new_text = change.get("text", "")
        if not isinstance(new_text, str):
            raise ValueError("contentChanges[].text must be a string")
        rng = change.get("range")
        if rng is None:
            self._lines = _encode(crlf_to_lf(new_text)).split(b"\n")
            return
        start, end = rng["start"], rng["end"]
        sl, sc = self.clamp(int(start["line"]), int(start["character"]))
        el, ec = self.clamp(int(end["line"]), int(end["character"]))
        if (el, ec) < (sl, sc):
            sl, sc, el, ec = el, ec, sl, sc
        combined = self.line(sl)[:sc] + new_text + self.line(el)[ec:]
        replacement = crlf_to_lf(combined).split("\n")
        if el + 1 < len(self._lines) and replacement[-1].endswith("\r"):
            # The edit left a '\r' right before an existing line break: a CRLF Lean would fold.
            replacement[-1] = replacement[-1][:-1]
        self._lines[sl : el + 1] = [_encode(line) for line in replacement]


class DocumentMirror:
    """The editor's open documents, fed with ``didOpen``/``didChange``/``didClose`` params.

    A document whose message could not be applied is *unknown* (:meth:`mark_unknown`): it is
    not mirrored (nor re-opened after a restart) until a full ``didOpen`` or a ``didChange``
    with a full-text change brings its text back."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}
        self._unknown: dict[str, str] = {}  # uri -> language id

    def __contains__(self, uri: object) -> bool:
        return uri in self._docs

    def __len__(self) -> int:
        return len(self._docs)

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def is_unknown(self, uri: str) -> bool:
        """Whether ``uri`` is open in the editor but its text is not known to the mirror."""
        return uri in self._unknown

    def documents(self) -> list[Document]:
        """All open documents, in the order they were opened."""
        return list(self._docs.values())

    def mark_unknown(self, uri: str | None) -> None:
        """Forget the text of ``uri`` (a message about it could not be applied)."""
        if not isinstance(uri, str):
            return
        doc = self._docs.pop(uri, None)
        self._unknown[uri] = doc.language_id if doc is not None else "lean4"

    def did_open(self, params: dict[str, Any]) -> Document:
        item = params["textDocument"]
        text = item.get("text", "")
        if not isinstance(text, str):
            raise TypeError("textDocument.text must be a string")
        doc = Document.from_text(item["uri"], item.get("languageId", "lean4"), int(item.get("version") or 0), text)
        self._unknown.pop(doc.uri, None)
        self._docs[doc.uri] = doc
        return doc

    def did_change(self, params: dict[str, Any]) -> Document | None:
        """Apply a didChange; unknown URIs and empty ``contentChanges`` are ignored, as by Lean."""
        ident = params["textDocument"]
        uri = ident["uri"]
        changes = params.get("contentChanges") or []
        if not isinstance(changes, list) or not all(isinstance(change, dict) for change in changes):
            raise TypeError("contentChanges must be an array of objects")
        doc = self._docs.get(uri)
        if doc is None and uri in self._unknown:
            doc, changes = self._resync(uri, changes)
        if doc is None or not changes:
            return doc
        for change in changes:
            doc.apply_change(change)
        doc.version = int(ident.get("version") or 0)
        return doc

    def _resync(self, uri: str, changes: list[dict[str, Any]]) -> tuple[Document | None, list[dict[str, Any]]]:
        """An unknown document comes back with its last full-text change (and those after it)."""
        full = [k for k, change in enumerate(changes) if change.get("range") is None]
        if not full:
            return None, []
        doc = Document.from_text(uri, self._unknown.pop(uri), 0, "")
        self._docs[uri] = doc
        return doc, changes[full[-1] :]

    def did_close(self, params: dict[str, Any]) -> None:
        uri = params["textDocument"]["uri"]
        self._docs.pop(uri, None)
        self._unknown.pop(uri, None)

    def clear(self) -> None:
        self._docs.clear()
        self._unknown.clear()
