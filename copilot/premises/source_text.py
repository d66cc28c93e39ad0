"""Source text for extraction: comments and literals blanked, doc comments kept, on top of the
project's one Lean lexer (``copilot.lean_lexer``, the one the safety filter uses).

``blank_comments_and_strings`` returns a text of the same length and the same line breaks in
which comments, string (also raw ``r#"…"#``) and char literals are spaces, so offsets and line
numbers carry over, plus the doc comments (``/-- ... -/``) by the offset where each ends.
``IDENT``/``IDENT_RE`` are regular expressions for (dotted) identifiers with the character
classes of Lean's ``isLetterLike``/``isSubScriptAlnum``, used to read names out of blanked text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from copilot.lean_lexer import tokenize

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
_NON_NEWLINE = re.compile(r"[^\n]")


class LexError(ValueError):
    """The text cannot be lexed as Lean (unterminated comment, string or ``«»`` name)."""


@dataclass
class LexedText:
    """Blanked text, the doc comments (keyed by the offset just past their ``-/``) and the
    identifiers outside comments and literals as ``(offset, text)``, in order. Identifiers
    right after a ``.`` (``(f x).symm``, ``.cons``) are left out: their receiver is unknown."""

    clean: str
    docs: dict[int, str] = field(default_factory=dict)
    idents: list[tuple[int, str]] = field(default_factory=list)


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
    idents: list[tuple[int, str]] = []
    pos = 0
    prev = ""
    for tok in tokenize(text, keep_comments=True):
        kind = tok.kind
        if kind not in ("comment", "string", "char"):
            if tok.unterminated:
                raise LexError(f"unterminated «» identifier at offset {tok.start}")
            if kind == "ident" and prev != ".":
                idents.append((tok.start, tok.text))
            prev = tok.text
            continue
        if tok.unterminated:
            what = "comment" if kind == "comment" else "string"
            raise LexError(f"unterminated {what} starting at offset {tok.start}")
        raw = tok.text
        parts.append(text[pos : tok.start])
        if kind == "comment":
            if raw.startswith("/--") and not raw.startswith("/--/") and len(raw) >= 5:
                docs[tok.end] = _doc_text(raw)
            parts.append(_blank(raw))
        elif kind == "string":  # keep the quotes (and `r#`) so `"…"` still reads as one term
            first, last = raw.index('"'), raw.rindex('"')
            parts.append(raw[: first + 1] + _blank(raw[first + 1 : last]) + raw[last:])
        else:
            parts.append(raw[0] + _blank(raw[1:-1]) + raw[-1])
        pos = tok.end
    parts.append(text[pos:])
    return LexedText("".join(parts), docs, idents)
