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

from .lean_lexer import ID_BEGIN, ID_REST

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
# Longest symbols first so `++` wins over `+`.
_SYM_ALT = "|".join(re.escape(s) for s in sorted(SYMBOL_WORDS, key=len, reverse=True))
_TOKEN = re.compile(rf"«[^»]*»|[{ID_BEGIN}][{ID_REST}]*(?:\.[{ID_BEGIN}][{ID_REST}]*)*|{_SYM_ALT}|[0-9]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[^\x00-\x7f]+")
_STRIP = re.compile(r"[₀-₉ₐ-ₜᵢ-ᵪⱼ'!?]")
_NUMBER_WORDS = {"0": "zero", "1": "one", "2": "two"}
_GREEK_MAP = {"ℕ": "nat", "ℤ": "int", "ℚ": "rat", "ℝ": "real", "ℂ": "complex"}

#: Words that carry no retrieval signal (declaration keywords, universe/sort noise).
STOPWORDS = frozenset(
    """theorem lemma def abbrev instance structure class inductive axiom opaque where by fun
    let have show from at in with do then else if match type sort prop true false""".split()
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


def tokenize(text: str, *, keep_symbols: bool = True) -> list[str]:
    """Retrieval tokens of Lean text (signature, goal, name or natural language)."""
    out: list[str] = []
    for tok in _TOKEN.findall(text):
        word = SYMBOL_WORDS.get(tok)
        if word is not None:
            out.append(word)
            if keep_symbols and tok != word:
                out.append(tok)
        elif tok in _NUMBER_WORDS:
            out.append(_NUMBER_WORDS[tok])
        else:
            out.extend(split_identifier(tok))
    return out


def tokenize_name(name: str) -> list[str]:
    """Tokens of a full declaration name (namespaces included)."""
    return list(split_identifier(name))
