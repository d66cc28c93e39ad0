"""Lean 4 source lexing for extraction: blank out comments and strings, keep doc comments.

``blank_comments_and_strings`` returns a text of the same length and the same line breaks
in which comments, string and char literals are spaces, so offsets and line numbers carry
over, plus the doc comments (``/-- ... -/``) by the offset where each ends. Identifier
character classes follow Lean's ``isLetterLike`` / ``isSubScriptAlnum``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_LETTER_LIKE = (
    "\u03b1-\u03ba\u03bc-\u03c9"  # Greek small letters except λ
    "\u0391-\u039f\u03a1\u03a4-\u03a8\u03a9"  # Greek capitals except Π and Σ
    "\u03ca-\u03fb"  # Coptic
    "\u1f00-\u1ffe"  # Polytonic Greek
    "\u2100-\u214f"  # Letterlike symbols (ℕ ℤ ℝ ...)
    "\U0001d49c-\U0001d59f"  # Mathematical script, fraktur, double-struck
)
_SUBSCRIPT = "\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a\u2c7c"
ID_BEGIN = f"A-Za-z_{_LETTER_LIKE}"
ID_REST = f"{ID_BEGIN}0-9'!?{_SUBSCRIPT}"
IDENT_ATOM = f"(?:«[^»\\n]*»|[{ID_BEGIN}][{ID_REST}]*)"
#: A possibly dotted Lean identifier such as ``Nat.add_comm`` or ``«my lemma».foo``.
IDENT = f"{IDENT_ATOM}(?:\\.{IDENT_ATOM})*"
IDENT_RE = re.compile(IDENT)
_ID_REST_CHAR = re.compile(f"[{ID_REST}]")

_NORMAL = re.compile(r"/-|--|\"|'|«")
_IN_COMMENT = re.compile(r"/-|-/")
_STRING_BODY = re.compile(r'(?:[^"\\]|\\.)*"', re.S)
_CHAR_LIT = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)|[^\\'\n])'")
_NON_NEWLINE = re.compile(r"[^\n]")


class LexError(ValueError):
    """The text cannot be lexed as Lean (unterminated comment or string)."""


@dataclass
class LexedText:
    """Blanked text plus the doc comments, keyed by the offset just past their ``-/``."""

    clean: str
    docs: dict[int, str] = field(default_factory=dict)


def _blank(segment: str) -> str:
    return _NON_NEWLINE.sub(" ", segment)


def _doc_text(raw: str) -> str:
    """Doc comment body without the ``/--``/``-/`` markers, dedented and stripped."""
    body = raw[3:-2]
    lines = body.strip("\n").splitlines()
    indents = [len(ln) - len(ln.lstrip()) for ln in lines[1:] if ln.strip()]
    cut = min(indents) if indents else 0
    out = [lines[0].strip()] + [ln[cut:].rstrip() for ln in lines[1:]] if lines else []
    return "\n".join(out).strip()


def blank_comments_and_strings(text: str) -> LexedText:
    """Blank comments and literals in ``text``; raise ``LexError`` if one is unterminated."""
    parts: list[str] = []
    docs: dict[int, str] = {}
    pos = 0
    n = len(text)
    while True:
        m = _NORMAL.search(text, pos)
        if m is None:
            parts.append(text[pos:])
            break
        start = m.start()
        tok = m.group()
        if tok == "--":
            end = text.find("\n", start)
            end = n if end < 0 else end
            parts.append(text[pos:start])
            parts.append(_blank(text[start:end]))
            pos = end
        elif tok == "/-":
            depth = 1
            scan = start + 2
            while depth:
                c = _IN_COMMENT.search(text, scan)
                if c is None:
                    raise LexError(f"unterminated comment starting at offset {start}")
                depth += 1 if c.group() == "/-" else -1
                scan = c.end()
            raw = text[start:scan]
            if raw.startswith("/--") and not raw.startswith("/--/") and len(raw) >= 5:
                docs[scan] = _doc_text(raw)
            parts.append(text[pos:start])
            parts.append(_blank(raw))
            pos = scan
        elif tok == '"':
            s = _STRING_BODY.match(text, start + 1)
            if s is None:
                raise LexError(f"unterminated string starting at offset {start}")
            end = s.end()
            parts.append(text[pos:start])
            parts.append('"' + _blank(text[start + 1 : end - 1]) + '"')
            pos = end
        elif tok == "«":
            end = text.find("»", start)
            if end < 0:
                raise LexError(f"unterminated «» identifier at offset {start}")
            parts.append(text[pos : end + 1])
            pos = end + 1
        else:  # a quote: a char literal only when it does not continue an identifier
            if start > 0 and _ID_REST_CHAR.match(text, start - 1):
                parts.append(text[pos : start + 1])
                pos = start + 1
                continue
            c = _CHAR_LIT.match(text, start)
            if c is None:
                parts.append(text[pos : start + 1])
                pos = start + 1
                continue
            parts.append(text[pos:start])
            parts.append("'" + _blank(text[start + 1 : c.end() - 1]) + "'")
            pos = c.end()
    return LexedText("".join(parts), docs)
