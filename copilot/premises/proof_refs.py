"""What a proof mentions, read from source: the identifiers of a declaration's body.

``body_refs`` turns the identifiers of a proof (tokens from ``copilot.lean_lexer``, comments
and literals already out) into the ``refs`` of a ``Declaration``: unique, in order, tactic
keywords and one-letter locals dropped, ``@``/``_root_`` handled by the resolver. Dot notation
on a binder whose type is evident from the statement (``(h : l₁ <+ l₂)`` then ``h.trans``) is
rewritten to the type's head (``Sublist.trans``; ``List.Sublist.trans`` once resolved).
"""
from __future__ import annotations

import bisect
import re

from .source_text import IDENT

#: Notation heads: the constant a binder's type is an application of, for ``h.foo``.
NOTATION_HEADS: dict[str, str] = {
    "≤": "LE.le", "≥": "GE.ge", "<": "LT.lt", ">": "GT.gt", "=": "Eq", "≠": "Ne", "↔": "Iff",
    "∣": "Dvd.dvd", "∈": "Membership.mem", "⊆": "HasSubset.Subset", "<+:": "List.IsPrefix",
    "<:+": "List.IsSuffix", "<:+:": "List.IsInfix", "<+": "List.Sublist", "~": "List.Perm",
    "∧": "And", "∨": "Or", "¬": "Not", "∃": "Exists", "→": "",
}
_HEAD_ORDER = sorted(NOTATION_HEADS, key=len, reverse=True)
_PRIORITY = {"↔": 0, "→": 1, "∨": 2, "∧": 3, "¬": 4}
#: Words of the tactic and term language that are never premises.
KEYWORDS = frozenset(
    [
        "by", "fun", "λ", "let", "have", "show", "from", "at", "in", "with", "do", "then", "else",
        "if", "match", "calc", "exact", "apply", "intro", "intros", "rw", "rwa", "rewrite", "simp",
        "simp_all", "simpa", "dsimp", "unfold", "cases", "rcases", "obtain", "induction", "refine",
        "refine'", "constructor", "exists", "use", "left", "right", "omega", "decide", "rfl",
        "assumption", "contradiction", "exfalso", "trivial", "norm_num", "linarith", "positivity",
        "aesop", "split", "next", "case", "all_goals", "any_goals", "first", "try", "repeat",
        "sorry", "only", "using", "generalizing", "with_reducible", "subst", "injection", "funext",
        "ext", "congr", "specialize", "change", "suffices", "nofun", "nomatch", "termination_by",
        "decreasing_by", "this", "Type", "Sort", "Prop", "where", "true", "false", "True", "False",
        "mod_cast", "push_cast", "exact_mod_cast", "conv", "arg", "lhs", "rhs", "enter", "revert",
        "clear", "rename_i", "set", "exact?", "apply?", "rfl'", "infer_instance", "inferInstance"
    ]
)
_BINDER = re.compile(r"[(\[{⦃]([^:()\[\]{}⦃⦄]{1,120}):([^()\[\]{}⦃⦄]*(?:\([^()]*\)[^()\[\]{}⦃⦄]*)*)[)\]}⦄]")
_TOP_SCAN = re.compile("[([{⟨)\\]}⟩]|" + "|".join(re.escape(s) for s in _HEAD_ORDER))
_FIRST_IDENT = re.compile(IDENT)


def type_head(type_text: str) -> str | None:
    """The constant ``type_text`` is an application of: a top-level notation's, else its head."""
    t = type_text.strip()
    depth = 0
    best = None
    for m in _TOP_SCAN.finditer(t):
        tok = m.group()
        if tok in "([{⟨":
            depth += 1
        elif tok in ")]}⟩":
            depth -= 1
        elif depth == 0 and (best is None or _PRIORITY.get(tok, 9) < _PRIORITY.get(best, 9)):
            best = tok  # the loosest-binding notation is the head (`↔` over `=`, `→` over `≤`)
    if best is not None:
        return NOTATION_HEADS[best] or None
    m = _FIRST_IDENT.match(t)
    return m.group() if m else None


def binder_heads(signature: str) -> dict[str, str]:
    """``{binder name: head constant}`` for the explicit/implicit binders of ``signature``."""
    out: dict[str, str] = {}
    for m in _BINDER.finditer(signature):
        head = type_head(m.group(2))
        if head:
            for name in m.group(1).split():
                out[name] = head
    return out


def body_refs(
    idents: list[tuple[int, str]],
    starts: list[int],
    lo: int,
    hi: int,
    *,
    heads: dict[str, str] | None = None,
    exclude: str = "",
) -> tuple[str, ...]:
    """Identifiers at offsets ``[lo, hi)`` (``starts`` are ``idents``' offsets) as ``refs``."""
    seen: dict[str, None] = {}
    for i in range(bisect.bisect_left(starts, lo), bisect.bisect_left(starts, hi)):
        text = idents[i][1]
        if text in KEYWORDS or (len(text) == 1 and text.isalpha()):
            continue
        if heads and "." in text:
            first, rest = text.split(".", 1)
            head = heads.get(first)
            if head:
                text = f"{head}.{rest}"
        if text != exclude:
            seen.setdefault(text, None)
    return tuple(seen)
