"""The project's one Lean 4 lexer: token structure for the safety filter, for finding ``sorry``s
and declarations (:mod:`copilot.proof_text`) and for the premise extractor
(:mod:`copilot.premises.source_text`).

It follows Lean's own token rules (``src/Lean/Parser/Basic.lean`` and ``isLetterLike`` /
``isSubScriptAlnum`` in ``src/Init/Meta/Defs.lean``, Lean 4.35):

* **numbers** (``numberFnAux``): ``0b``/``0o``/``0x`` prefixes, decimal digits, a scientific
  tail (``1.5``, ``2.``, ``1e-3``); ``_`` separators between digits. A number stops at the first
  character Lean would not take, so ``0axiom`` is the number ``0`` then the identifier
  ``axiom``, as Lean reads it. Where Lean reports an error (``0b`` with no digit, ``1e`` with no
  exponent, a trailing ``_``) the number stops before the offending part;
* **identifiers** (``identFnAux``): first character an ASCII letter, ``_`` or letter-like
  (Greek except ``λΠΣ``, Coptic, polytonic Greek, the letter-like block, mathematical
  script/fraktur/double-struck, Latin-1 and Latin Extended-A letters); then also ASCII digits,
  ``'``, ``!``, ``?`` and subscripts (``₀``–``₉``, ``ₐ``–``ₜ``, ``ᵢ``–``ᵪ``, ``ⱼ``);
  ``«…»`` escaped parts; dotted components. Anything else (``ᶜ``, ``ᵒᵈ``, ``ᵀ``, Cyrillic) is not
  part of an identifier: it is a symbol, as Lean's token table would make it (or reject it);
* **comments**: ``--`` to the end of the line, nested ``/- … -/`` (doc comments included);
* **strings**: ``"…"`` with escapes, raw strings ``r"…"``/``r#"…"#`` (any number of ``#``), and
  interpolated strings after ``s!``/``m!``/``f!`` and friends, whose ``{…}`` parts may hold
  strings and braces of their own; **char literals** ``'a'``/``'\\n'`` (a ``'`` followed by a
  second ``'`` is the symbol ``''``; inside a name ``'`` is part of the identifier).

Public API (kept stable for its users): :class:`Token`, :func:`tokenize`,
:func:`is_letter_like`, :func:`is_subscript`, :func:`is_id_first`, :func:`is_id_rest`,
:func:`line_starts`, :func:`column_of`, :func:`line_indent`.

The lexer never raises: what it could not close (comment, string, char, ``«``) is marked
``unterminated`` so callers can refuse it.
"""
from __future__ import annotations

import functools
import re
from typing import Literal, NamedTuple

TokenKind = Literal["ident", "number", "string", "char", "comment", "symbol"]

# Multi-character symbols that matter to this project's callers; any other character is a
# one-character symbol.
_SYMBOLS = (":=", "=>", "<;>", "@[", "#[", "::", "..", "<|>", "<|", "|>.", "|>", "->", "<-", "''")
_SYMBOL_FIRST = frozenset(sym[0] for sym in _SYMBOLS)
# Words after which a string literal is interpolated (``{term}`` parts): `s!`, `m!`, `f!` and
# every other `…!` macro, and the logging/error functions of Lean.Elab that take `m!`-style text.
_INTERPOLATING = frozenset({"throwError", "throwErrorAt", "logInfo", "logInfoAt", "logWarning", "logWarningAt",
                            "logError", "logErrorAt", "dbg_trace", "panic", "trace"})


def is_letter_like(ch: str) -> bool:
    """Lean's ``isLetterLike`` (Lean 4.35): Greek except λ Π Σ, Coptic, polytonic Greek, the
    letter-like block, mathematical script/fraktur/double-struck, Latin-1 letters (not × ÷)
    and Latin Extended-A."""
    code = ord(ch)
    return (
        (0x3B1 <= code <= 0x3C9 and code != 0x3BB)
        or (0x391 <= code <= 0x3A9 and code not in (0x3A0, 0x3A3))
        or 0x3CA <= code <= 0x3FB
        or 0x1F00 <= code <= 0x1FFE
        or 0x2100 <= code <= 0x214F
        or 0x1D49C <= code <= 0x1D59F
        or (0xC0 <= code <= 0xFF and code not in (0xD7, 0xF7))
        or 0x100 <= code <= 0x17F
    )


def is_subscript(ch: str) -> bool:
    """Lean's ``isSubScriptAlnum``: ``₀``–``₉``, ``ₐ``–``ₜ``, ``ᵢ``–``ᵪ`` and ``ⱼ``."""
    code = ord(ch)
    return 0x2080 <= code <= 0x2089 or 0x2090 <= code <= 0x209C or 0x1D62 <= code <= 0x1D6A or code == 0x2C7C


def _ascii_letter(ch: str) -> bool:
    return "a" <= ch <= "z" or "A" <= ch <= "Z"


def _digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def is_id_first(ch: str) -> bool:
    """Lean's ``isIdFirst``: can ``ch`` start an identifier (``Char.isAlpha`` is ASCII only)."""
    return _ascii_letter(ch) or ch == "_" or is_letter_like(ch)


def is_id_rest(ch: str) -> bool:
    """Lean's ``isIdRest``: can ``ch`` continue an identifier."""
    return is_id_first(ch) or _digit(ch) or ch in "'!?" or is_subscript(ch)


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


def _string_end(text: str, i: int, interpolated: bool = False) -> int:
    """Index after the closing quote of the string starting at ``text[i] == '"'``; -1 if none.
    In an interpolated string a ``{`` opens a term, lexed as such up to its ``}``."""
    n = len(text)
    i += 1
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        if ch == "{" and interpolated:
            _tokens, end, closed = _scan(text, i + 1, True, until_brace=True)
            if not closed:
                return -1
            i = end
            continue
        i += 1
    return -1


def _raw_string_end(text: str, i: int) -> int:
    """``r"…"`` / ``r#"…"#`` starting at ``text[i] == 'r'``: index after it, -1 if it is not
    closed, -2 if this is not a raw string (``isRawStrLitStart``)."""
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
    """Index after a char literal at ``text[i] == "'"`` (``charLitFnAux``); -1 if it is not one."""
    n = len(text)
    if i + 1 >= n or text[i + 1] == "'":
        return -1
    if text[i + 1] == "\\":
        j = i + 2
        if j < n and text[j] == "x":
            j += 3
        elif j < n and text[j] == "u":
            j += 5
        else:
            j += 1
        return j + 1 if j < n and text[j] == "'" else -1
    return i + 3 if i + 2 < n and text[i + 2] == "'" else -1


def _ident(text: str, i: int) -> tuple[int, tuple[str, ...], bool]:
    """Scan a dotted identifier at ``i``; returns (end, parts, unterminated)."""
    n = len(text)
    parts: list[str] = []
    while True:
        if text[i] == "«":
            close = text.find("»", i + 1)
            if close < 0:
                return n, tuple([*parts, text[i + 1 :]]), True
            parts.append(text[i + 1 : close])
            i = close + 1
        else:
            j = _ASCII_ID_REST.match(text, i + 1).end()  # type: ignore[union-attr]
            while j < n and is_id_rest(text[j]):
                j = _ASCII_ID_REST.match(text, j + 1).end()  # type: ignore[union-attr]
            parts.append(text[i:j])
            i = j
        if i + 1 < n and text[i] == "." and (is_id_first(text[i + 1]) or text[i + 1] == "«"):
            i += 1
            continue
        return i, tuple(parts), False


_ASCII_ID_REST = re.compile(r"[A-Za-z0-9_'!?]*")
_SPACES = re.compile(r"\s+")


def _digits(text: str, i: int, ok) -> int:
    """``takeDigitsFn``: digits with ``_`` separators from ``i``; a ``_`` is taken only when a
    digit follows the run of ``_`` s (Lean reports an error otherwise)."""
    n = len(text)
    while i < n:
        if ok(text[i]):
            i += 1
            continue
        if text[i] == "_":
            j = i
            while j < n and text[j] == "_":
                j += 1
            if j < n and ok(text[j]):
                i = j
                continue
        break
    return i


def _hex(ch: str) -> bool:
    return _digit(ch) or "a" <= ch <= "f" or "A" <= ch <= "F"


def _number_end(text: str, i: int) -> int:
    """``numberFnAux`` from ``text[i]`` (a digit): the index after the number."""
    n = len(text)
    if text[i] == "0" and i + 1 < n and text[i + 1] in "bBoOxX":
        ok = {"b": lambda c: c in "01", "o": lambda c: "0" <= c <= "7", "x": _hex}[text[i + 1].lower()]
        end = _digits(text, i + 2, ok)
        return end if end > i + 2 and ok(text[i + 2]) else i + 1
    end = _digits(text, i, _digit)
    if end < n and text[end] == ".":
        end += 1  # Lean takes the dot even without digits after it (`2.` is a scientific literal)
        if end < n and _digit(text[end]):
            end = _digits(text, end, _digit)
    if end < n and text[end] in "eE":
        j = end + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and _digit(text[j]):
            end = _digits(text, j, _digit)
    return end


def _scan(text: str, i: int, keep_comments: bool, until_brace: bool = False) -> tuple[list[Token], int, bool]:
    """Tokens from ``i``; with ``until_brace`` stop after the ``}`` that closes an
    interpolation. Returns (tokens, end, closed)."""
    tokens: list[Token] = []
    n = len(text)
    depth = 0
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
            previous = tokens[-1] if tokens else None
            interpolated = previous is not None and previous.kind == "ident" and (
                previous.text.endswith("!") or previous.text in _INTERPOLATING)
            end = _string_end(text, i, interpolated)
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
            previous = tokens[-1] if tokens else None
            if previous is not None and previous.kind == "symbol" and previous.end == i:
                # part of a symbol token such as Mathlib's preimage `⁻¹'`
                tokens[-1] = previous._replace(text=previous.text + "'", end=i + 1)
                i += 1
                continue
        if is_id_first(ch) or ch == "«":
            end, parts, open_ = _ident(text, i)
            tokens.append(Token("ident", text[i:end], i, end, unterminated=open_, parts=parts))
            i = end
            continue
        if _digit(ch):
            end = _number_end(text, i)
            tokens.append(Token("number", text[i:end], i, end))
            i = end
            continue
        if until_brace:
            if ch == "{":
                depth += 1
            elif ch == "}":
                if depth == 0:
                    return tokens, i + 1, True
                depth -= 1
        if ch in _SYMBOL_FIRST:
            symbol = next((sym for sym in _SYMBOLS if text.startswith(sym, i)), ch)
        else:
            symbol = ch
        tokens.append(Token("symbol", symbol, i, i + len(symbol)))
        i += len(symbol)
    return tokens, n, not until_brace


def tokenize(text: str, *, keep_comments: bool = True) -> list[Token]:
    """Split Lean source into tokens (whitespace dropped; comments kept unless asked not to)."""
    return list(_tokenize_cached(text, keep_comments))


@functools.lru_cache(maxsize=4)
def _tokenize_cached(text: str, keep_comments: bool) -> tuple[Token, ...]:
    # The checker asks for the same document's tokens once per candidate copy (sorry scan,
    # header, declarations): a few recent texts are kept so a batch lexes each one once.
    return tuple(_scan(text, 0, keep_comments)[0])


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
