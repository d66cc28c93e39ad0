"""A Lean-aware tokenizer for lexical retrieval.

Identifiers are split on ``.``, ``_`` and camelCase and lower-cased; subscripts and primes
are dropped; one-letter pieces (bound variables such as ``a``, ``n``, ``h``) are dropped.
Notation is mapped to the words Mathlib's naming convention uses for it (``≤`` -> ``le``,
``∣`` -> ``dvd``, ``::`` -> ``cons``...), so a goal ``a ∣ b * c`` meets a name like
``dvd_mul_right``; the symbol itself is kept as a token too.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .source_text import ID_BEGIN, ID_REST

#: Notation -> naming-convention word (Mathlib's "Naming conventions" table).
SYMBOL_WORDS: dict[str, str] = {
    "≤": "le", "≥": "le", "<": "lt", ">": "lt", "=": "eq", "≠": "ne", "+": "add", "*": "mul",
    "-": "sub", "/": "div", "%": "mod", "∣": "dvd", "^": "pow", "⁻¹": "inv", "∘": "comp",
    "++": "append", "::": "cons", "∈": "mem", "∉": "mem", "⊆": "subset", "⊂": "ssubset",
    "∪": "union", "∩": "inter", "¬": "not", "∧": "and", "∨": "or", "↔": "iff", "→": "imp",
    "∀": "forall", "∃": "exists", "∑": "sum", "∏": "prod", "•": "smul", "⊤": "top", "⊥": "bot",
    "∅": "empty", "⌊": "floor", "⌈": "ceil", "‖": "norm", "ℕ": "nat", "ℤ": "int", "ℚ": "rat",
    "ℝ": "real", "ℂ": "complex", "≃": "equiv", "≅": "iso", "⁅": "lie", "⊔": "sup", "⊓": "inf",
    "ᶜ": "compl", "×": "prod", "⊕": "sum", "∫": "integral", "√": "sqrt", "!": "factorial",
    "&&": "and", "||": "or", "==": "beq", "!=": "bne", "<|>": "orelse", ">>=": "bind",
    "<$>": "map", "⬝": "dot", "∆": "symmdiff", "⊗": "tensor", "∂": "deriv",
}
# Multi-character symbols first (longest first, so `++` wins over `+`), then one character class.
_MULTI = "|".join(re.escape(s) for s in sorted((s for s in SYMBOL_WORDS if len(s) > 1), key=len, reverse=True))
_SINGLE = "".join(re.escape(s) for s in SYMBOL_WORDS if len(s) == 1)
_TOKEN = re.compile(rf"«[^»]*»|[{ID_BEGIN}][{ID_REST}]*(?:\.[{ID_BEGIN}][{ID_REST}]*)*|{_MULTI}|[{_SINGLE}]|[0-9]+")
_SORT_STAR = re.compile(r"\b(Type|Sort)\*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[^\x00-\x7f]+")
_STRIP = re.compile(r"[₀-₉ₐ-ₜᵢ-ᵪⱼ'!?]")
_NUMBER_WORDS = {"0": "zero", "1": "one", "2": "two"}
_GREEK_MAP = {"ℕ": "nat", "ℤ": "int", "ℚ": "rat", "ℝ": "real", "ℂ": "complex"}

#: Words that carry no retrieval signal (declaration keywords, universe/sort noise).
STOPWORDS = frozenset(
    [
        "theorem", "lemma", "def", "abbrev", "instance", "structure", "class", "inductive", "axiom",
        "opaque", "where", "by", "fun", "let", "have", "show", "from", "at", "in", "with", "do",
        "then", "else", "if", "match", "type", "sort", "prop", "true", "false"
    ]
)


@lru_cache(maxsize=200_000)
def split_identifier(ident: str) -> tuple[str, ...]:
    """``Nat.add_comm`` -> ``('nat', 'add', 'comm')``; ``List.toArray`` -> ``('list', 'to', 'array')``."""
    out: list[str] = []
    for part in ident.strip("«»").replace(".", "_").split("_"):
        part = _STRIP.sub("", part)
        if not part:
            continue
        if part in _GREEK_MAP:
            out.append(_GREEK_MAP[part])
            continue
        for piece in _CAMEL.findall(part):
            low = piece.lower()
            if len(low) > 1 and low not in STOPWORDS:
                out.append(low)
    return tuple(out)


@lru_cache(maxsize=500_000)
def _token_words(tok: str, keep_symbols: bool) -> tuple[str, ...]:
    """Retrieval tokens of one raw token (identifier, symbol or number), cached."""
    word = SYMBOL_WORDS.get(tok)
    if word is not None:
        return (word, tok) if keep_symbols and tok != word else (word,)
    if tok in _NUMBER_WORDS:
        return (_NUMBER_WORDS[tok],)
    return split_identifier(tok)


def tokenize(text: str, *, keep_symbols: bool = True) -> list[str]:
    """Retrieval tokens of Lean text (signature, goal, name or natural language)."""
    out: list[str] = []
    if "*" in text:
        text = _SORT_STAR.sub(r"\1", text)  # `Type*` is a universe binder, not multiplication
    for tok in _TOKEN.findall(text):
        out.extend(_token_words(tok, keep_symbols))
    return out

