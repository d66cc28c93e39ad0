"""Statement features for the learned signals: what a statement is *about*.

A declaration (or a query: statement, goal or text) becomes a set of string features:

* ``c:X`` constants: identifiers of the statement that are not its binders or bound variables
  (as written, and their last component), notation mapped to its naming word (``≤`` -> ``c:le``);
* ``w:x`` words: the statement's identifiers split into naming-convention words;
* ``n:x`` name parts: words of the declaration's own name (the query's name when it has one);
* ``m:X`` the namespace the declaration lives in;
* ``s:x`` shape: the conclusion's head relation and the number of hypotheses (bucketed).

k-NN similarity (MaSh) uses all of them; symbol relevance (MePo) uses the constants only.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .lean_tokens import SYMBOL_WORDS, split_identifier
from .proof_refs import KEYWORDS, type_head
from .query import looks_like_goal, looks_like_statement, parse_goal, split_statement
from .records import Declaration
from .source_text import IDENT

_IDENT_RE = re.compile(IDENT)
_SYMBOLS = re.compile("|".join(re.escape(s) for s in sorted(SYMBOL_WORDS, key=len, reverse=True) if not s[0].isalnum()))
_BINDER_NAMES = re.compile(r"[(\[{⦃]([^:()\[\]{}⦃⦄]{1,120}):")
_QUANT = re.compile(r"(?:∀|∃!?|fun|λ|∑|∏|⋃|⋂)([^,:=↦()]{1,80})(?:[,:]|=>|↦)")
_KEYWORD = re.compile(r"^\s*(?:theorem|lemma|def|abbrev|instance|example|axiom|opaque|structure|class|inductive)\s+")
_SKIP = KEYWORDS | {"Type", "Sort", "Prop", "theorem", "lemma", "def", "abbrev"}


def _bound_names(text: str) -> set[str]:
    out: set[str] = set()
    for m in _BINDER_NAMES.finditer(text):
        out.update(m.group(1).split())
    for m in _QUANT.finditer(text):
        out.update(m.group(1).split())
    return out


def _constants(text: str, bound: set[str]) -> list[str]:
    out: list[str] = []
    for ident in _IDENT_RE.findall(text):
        if ident in bound or ident in _SKIP or (len(ident) <= 2 and ident[0].islower()):
            continue
        first = ident.split(".", 1)[0]
        if first in bound:  # `h.1`, `l.length`: a projection of a bound variable
            ident = ident.split(".", 1)[1]
            if not ident or ident[0].isdigit():
                continue
        out.append(ident)
        if "." in ident:
            out.append(ident.rsplit(".", 1)[1])
    out += [SYMBOL_WORDS[s] for s in _SYMBOLS.findall(text)]
    return out


def _shape(binders: str, concl: str) -> list[str]:
    head = type_head(concl) if concl else None
    hyps = concl.count("→") + binders.count("(") + binders.count("⦃")
    out = [f"s:nhyp{min(hyps, 3)}"]
    if head:
        out.append(f"s:{head}")
    return out


def _parts(text: str) -> tuple[str, str, str]:
    """(own name, binders, conclusion) of a statement, a goal (no name) or plain text (all conclusion)."""
    if looks_like_goal(text):
        g = parse_goal(text)
        return "", " ".join(f"({h})" for h in g.hypotheses), g.target
    if looks_like_statement(text) or _KEYWORD.match(text):
        body = _KEYWORD.sub("", re.sub(r"^\s*@\[[^\]]*\]\s*", "", text), count=1)
        # `_ ` stands in for the keyword so split_statement reads the name as the name
        return split_statement("_ " + body)
    return "", "", text


@lru_cache(maxsize=65_536)
def _text_features(name: str, signature: str) -> tuple[str, ...]:
    own, binders, concl = _parts(signature)
    own = name or own
    bound = _bound_names(binders + " " + concl)
    feats = [f"c:{c}" for c in _constants(binders + " " + concl, bound)]
    words = set()
    for c in feats:
        words.update(split_identifier(c[2:]))
    feats += [f"w:{w}" for w in sorted(words)]
    if own:
        last = own.rsplit(".", 1)[-1]
        feats += [f"n:{w}" for w in split_identifier(last)]
        if "." in own:
            feats.append(f"m:{own.rsplit('.', 1)[0]}")
    if binders or own or looks_like_goal(signature):
        feats += _shape(binders, concl)
    return tuple(dict.fromkeys(feats))


def declaration_features(decl: Declaration) -> tuple[str, ...]:
    """Features of a declaration's statement (its full name gives the name parts and namespace)."""
    return _text_features(decl.name, decl.signature)


def query_features(text: str, name: str = "") -> tuple[str, ...]:
    """Features of a query: a statement (``theorem foo … : …``), a goal state or plain text.

    ``name`` (the full name being proved, when known) gives the name parts and namespace.
    """
    return _text_features(name, text)


def constants_only(features: tuple[str, ...]) -> list[str]:
    """The ``c:`` features (what symbol relevance uses)."""
    return [f for f in features if f.startswith("c:")]


_KEY_TOKEN = re.compile(rf"{IDENT}|\d+|\S")


def statement_key(text: str) -> str:
    """The conclusion with bound variables renamed by first appearance, spaces removed.

    ``theorem my_add_comm (a b : Nat) : a + b = b + a`` and the text ``x + y = y + x`` have
    the same key; it decides an exact statement match. ``""`` when there is no conclusion.
    """
    _, binders, concl = _parts(text)
    concl = concl.strip()
    while concl.startswith("∀") and "," in concl:  # `∀ a b : Nat, P` is `(a b : Nat) : P`
        head, concl = concl.split(",", 1)
        binders += f" ({head[1:]})"
        concl = concl.strip()
    while concl.startswith("(") and concl.endswith(")") and concl.count("(") == 1:
        concl = concl[1:-1].strip()
    if not concl:
        return ""
    bound = _bound_names(binders + " " + concl)
    names: dict[str, str] = {}
    out = []
    for tok in _KEY_TOKEN.findall(concl):
        if tok in bound or (len(tok) == 1 and tok.isalpha()) or (len(tok) == 2 and tok[0].isalpha() and tok[1] in "₀₁₂₃'"):
            tok = names.setdefault(tok, f"#{len(names)}")
        out.append(tok)
    return "".join(out)


def key_hash(key: str) -> int:
    """A stable 63-bit hash of a ``statement_key`` (0 for the empty key)."""
    if not key:
        return 0
    import hashlib

    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") >> 1
