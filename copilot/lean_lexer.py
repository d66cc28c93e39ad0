"""A small Lean 4 lexer: just enough token structure for the safety filter and for finding
``sorry`` s and declarations in a file (comments, strings, char literals, identifiers with
``«»`` escapes and dotted components, numbers, symbols).

It is deliberately conservative: it never fails, and it marks what it could not close
(``unterminated``) so callers can refuse it.
"""
from __future__ import annotations

import re
from typing import Literal, NamedTuple

TokenKind = Literal["ident", "number", "string", "char", "comment", "symbol"]

# Multi-character symbols that matter to us; everything else is one character.
_SYMBOLS = (":=", "=>", "<;>", "@[", "#[", "::", "..", "<|>", "<|", "|>.", "|>", "->", "<-")
_SYMBOL_FIRST = frozenset(sym[0] for sym in _SYMBOLS)
_SUBSCRIPTS = set("₀₁₂₃₄₅₆₇₈₉ₐₑₒₓₔₕₖₗₘₙₚₛₜᵢᵣᵤᵥⱼᵦᵧᵨᵩᵪ")
_NOT_IDENT_GREEK = set("λΠΣ")


def is_letter_like(ch: str) -> bool:
    """Lean's ``isLetterLike`` (Greek, Coptic, letterlike symbols, math alphanumerics)."""
    code = ord(ch)
    return (
        (0x3B1 <= code <= 0x3C9 and code != 0x3BB)  # α-ω except λ
        or (0x391 <= code <= 0x3A9 and code not in (0x3A0, 0x3A3))  # Α-Ω except Π Σ
        or 0x3CA <= code <= 0x3FB  # Coptic
        or 0x1F00 <= code <= 0x1FFE  # polytonic Greek
        or 0x2100 <= code <= 0x214F  # letterlike block
        or 0x1D49C <= code <= 0x1D59F  # script, fraktur, double-struck
    )


def is_id_first(ch: str) -> bool:
    """Can ``ch`` start an identifier? (Any Unicode letter is accepted here, more than Lean
    does, so that look-alike letters from other scripts are seen as identifiers.)"""
    if ch in _NOT_IDENT_GREEK:
        return False
    return ch == "_" or ch.isalpha() or is_letter_like(ch)


def is_id_rest(ch: str) -> bool:
    return is_id_first(ch) or ch.isdigit() or ch in "'!?" or ch in _SUBSCRIPTS


class Token(NamedTuple):
    """One token: ``text`` spans ``source[start:end]``. For identifiers ``parts`` holds the
    dot-separated components with ``«»`` removed."""

    kind: TokenKind
    text: str
    start: int
    end: int
    unterminated: bool = False
    parts: tuple[str, ...] = ()


def _block_comment_end(text: str, i: int) -> int:
    """Index after the ``-/`` closing the (nested) comment opened at ``i``; -1 if none."""
    depth = 0
    n = len(text)
    while i < n:
        if text.startswith("/-", i):
            depth += 1
            i += 2
        elif text.startswith("-/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return -1


def _string_end(text: str, i: int) -> int:
    """Index after the closing quote of the string starting at ``text[i] == '"'``; -1 if none."""
    n = len(text)
    i += 1
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        i += 1
    return -1


def _raw_string_end(text: str, i: int) -> int:
    """``r"…"`` / ``r#"…"#`` starting at ``text[i] == 'r'``; -1 if not a raw string or open."""
    j = i + 1
    hashes = 0
    while j < len(text) and text[j] == "#":
        hashes += 1
        j += 1
    if j >= len(text) or text[j] != '"':
        return -2
    close = '"' + "#" * hashes
    end = text.find(close, j + 1)
    return -1 if end < 0 else end + len(close)


def _char_end(text: str, i: int) -> int:
    """Index after a char literal at ``text[i] == "'"``; -1 if it is not one."""
    if i + 2 < len(text) and text[i + 1] == "\\":
        end = text.find("'", i + 2)
        return end + 1 if 0 < end <= i + 12 else -1
    if i + 2 < len(text) and text[i + 2] == "'" and text[i + 1] != "'":
        return i + 3
    return -1


def _ident(text: str, i: int) -> tuple[int, tuple[str, ...], bool]:
    """Scan a dotted identifier at ``i``; returns (end, parts, unterminated)."""
    n = len(text)
    parts: list[str] = []
    while True:
        if i < n and text[i] == "«":
            close = text.find("»", i + 1)
            if close < 0:
                return n, tuple(parts + [text[i + 1 :]]), True
            parts.append(text[i + 1 : close])
            i = close + 1
        else:
            j = _ASCII_IDENT_REST.match(text, i + 1).end()  # type: ignore[union-attr]
            while j < n and is_id_rest(text[j]):
                j = _ASCII_IDENT_REST.match(text, j + 1).end()  # type: ignore[union-attr]
            parts.append(text[i:j])
            i = j
        if i + 1 < n and text[i] == "." and (is_id_first(text[i + 1]) or text[i + 1] == "«"):
            i += 1
            continue
        return i, tuple(parts), False


_SPACES = re.compile(r"\s+")
_ASCII_IDENT_REST = re.compile(r"[A-Za-z0-9_'!?]*")


def tokenize(text: str, *, keep_comments: bool = True) -> list[Token]:
    """Split Lean source into tokens (whitespace dropped)."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i = _SPACES.match(text, i).end()  # type: ignore[union-attr]
            continue
        if ch == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            if keep_comments:
                tokens.append(Token("comment", text[i:end], i, end))
            i = end
            continue
        if ch == "/" and text.startswith("/-", i):
            end = _block_comment_end(text, i)
            open_ = end < 0
            end = n if open_ else end
            if keep_comments:
                tokens.append(Token("comment", text[i:end], i, end, unterminated=open_))
            i = end
            continue
        if ch == '"':
            end = _string_end(text, i)
            open_ = end < 0
            end = n if open_ else end
            tokens.append(Token("string", text[i:end], i, end, unterminated=open_))
            i = end
            continue
        if ch == "r" and i + 1 < n and text[i + 1] in '"#':
            end = _raw_string_end(text, i)
            if end != -2:
                open_ = end < 0
                end = n if open_ else end
                tokens.append(Token("string", text[i:end], i, end, unterminated=open_))
                i = end
                continue
        if ch == "'":
            end = _char_end(text, i)
            if end > 0:
                tokens.append(Token("char", text[i:end], i, end))
                i = end
                continue
        if is_id_first(ch) or ch == "«":
            end, parts, open_ = _ident(text, i)
            tokens.append(Token("ident", text[i:end], i, end, unterminated=open_, parts=parts))
            i = end
            continue
        if ch.isdigit():
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_" or (text[j] == "." and j + 1 < n and text[j + 1].isdigit())):
                j += 1
            tokens.append(Token("number", text[i:j], i, j))
            i = j
            continue
        if ch in _SYMBOL_FIRST:
            symbol = next((sym for sym in _SYMBOLS if text.startswith(sym, i)), ch)
        else:
            symbol = ch
        tokens.append(Token("symbol", symbol, i, i + len(symbol)))
        i += len(symbol)
    return tokens


def line_starts(text: str) -> list[int]:
    """Offsets at which each line starts."""
    starts = [0]
    index = text.find("\n")
    while index >= 0:
        starts.append(index + 1)
        index = text.find("\n", index + 1)
    return starts


def column_of(text: str, offset: int) -> int:
    """Column (in characters) of ``offset`` within its line."""
    return offset - (text.rfind("\n", 0, offset) + 1)


def line_indent(text: str, offset: int) -> int:
    """Indentation (leading spaces) of the line containing ``offset``."""
    start = text.rfind("\n", 0, offset) + 1
    end = start
    while end < len(text) and text[end] == " ":
        end += 1
    return end - start
