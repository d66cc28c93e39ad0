"""The safety filter every candidate passes before Lean sees it.

A candidate is a tactic (or tactic sequence, or proof body) that will be pasted into a shadow
copy of the user's declaration. It must not be able to prove things by fiat (``sorry``,
``admit``, axioms, ``native_decide``), run code (``#eval``, ``run_tac``, ``IO``, ``extern``),
change the environment (declarations, attributes, notations, macros, ``set_option`` beyond a
small allow-list, ``open`` without ``in``) or escape its context (``end``, ``namespace``,
unbalanced brackets, comments that swallow what follows, strings and char literals).

The check is token-level (:mod:`copilot.lean_lexer`), not substring: ``sorry_lemma`` and
``IO_thing`` are ordinary identifiers and pass (a premise proved with ``sorry`` is caught later
by the checker's ``#print axioms`` pass), while ``Foo.sorry``, ``«sorry»`` and ``IO.println``
are refused. Look-alikes are refused too: letters outside Latin, Greek and Lean's
letter-like/mathematical blocks, invisible and bidirectional characters, backslashes, and any
identifier whose NFKC/confusable skeleton is a banned word. False positives are acceptable;
false negatives are not.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from copilot.lean_lexer import Token, is_letter_like, tokenize

MAX_CANDIDATE_CHARS = 4000
# Names the checker gives its declaration copies (copilot.checker); a candidate must not
# refer to another candidate's copy.
RESERVED_PREFIX = "_lc_"

# component -> reason; checked against every dotted component of every identifier.
_ALWAYS_BANNED: dict[str, str] = {}
for _words, _reason in (
    (("sorry", "sorryAx", "admit", "stop"), "proves by `sorry`"),
    (("axiom", "axioms"), "adds an axiom"),
    (("lcProof", "lcUnreachable", "lcCast", "lcAny", "lcErased"), "uses a compiler-internal axiom"),
    (("implemented_by", "extern", "unsafe", "unsafeCast", "unsafeIO", "unsafeBaseIO", "unsafeEIO",
      "ptrAddrUnsafe", "IO", "EIO", "BaseIO", "dbg_trace", "dbgTrace", "dbgTraceIfShared", "polyrith"),
     "runs or trusts compiled code / does I/O"),
    (("run_cmd", "run_tac", "run_elab", "run_meta", "by_elab", "Elab", "Meta", "MetaM", "TacticM",
      "TermElabM", "CommandElabM", "CoreM", "evalTactic"), "metaprogramming"),
    (("macro", "syntax", "elab", "notation", "macro_rules", "elab_rules", "infix", "infixl", "infixr",
      "prefix", "postfix", "declare_syntax_cat", "binder_predicate"), "defines syntax"),
    (("theorem", "lemma", "def", "definition", "instance", "opaque", "abbrev", "example", "structure",
      "class", "inductive", "coinductive", "constant", "mutual", "deriving", "where", "private",
      "protected", "partial", "nonrec", "noncomputable", "initialize", "builtin_initialize"),
     "declares something"),
    (("attribute",), "changes attributes"),
    (("import", "end", "namespace", "section", "universe", "variable", "export", "omit", "include",
      "local", "scoped"),
     "changes the surrounding context"),
    # Commands need not start at column 0: one inside a tactic block ends the declaration and
    # runs as a command. These (Lean, Batteries, Mathlib) change the environment.
    (("alias", "irreducible_def", "simproc", "dsimproc", "builtin_simproc", "builtin_dsimproc",
      "add_aesop_rules", "erase_aesop_rules", "initialize_simps_projections", "library_note", "unseal",
      "seal", "recall", "grind_pattern", "compile_inductive", "add_decl_doc", "assert_not_exists",
      "suppress_compilation", "proof_wanted", "derive_handler", "gen_injective_theorems%"),
     "is a command that changes the environment"),
):
    for _word in _words:
        _ALWAYS_BANNED[_word] = _reason

NATIVE_WORDS = frozenset(
    {"native_decide", "native", "ofReduceBool", "ofReduceNat", "reduceBool", "reduceNat", "trustCompiler", "bv_decide"}
)
DEFAULT_SET_OPTION_ALLOW = frozenset({"maxHeartbeats", "maxRecDepth", "synthInstance.maxHeartbeats", "synthInstance.maxSize"})

_OPEN_BRACKETS = {"(": ")", "[": "]", "{": "}", "⟨": "⟩", "⦃": "⦄", "‹": "›", "⌊": "⌋", "⌈": "⌉", "⟪": "⟫", "⁅": "⁆"}
_CLOSE_BRACKETS = {v: k for k, v in _OPEN_BRACKETS.items()}

# Characters that render as nothing or reorder text.
_INVISIBLE = set("\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
                 "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069"
                 "\u206a\u206b\u206c\u206d\u206e\u206f\u3164\ufeff\uffa0")

# Common letters that look like Latin ones (Cyrillic, Greek, …) -> the Latin letter.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ѕ": "s", "і": "i",
        "ј": "j", "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ɡ": "g", "А": "A", "В": "B",
        "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X",
        "І": "I", "Ј": "J", "Ѕ": "S", "ο": "o", "ν": "v", "α": "a", "ι": "i", "κ": "k", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I",
        "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "ı": "i",
        "ℓ": "l", "ſ": "s",
    }
)


@dataclass(frozen=True)
class SafetyPolicy:
    """What the filter allows. ``allow_native`` admits ``native_decide`` and friends (they
    trust the compiler: off by default). ``max_heartbeats`` caps ``set_option maxHeartbeats``
    inside a candidate (0, "unlimited", is always refused). ``extra_banned`` adds words."""

    allow_native: bool = False
    set_option_allow: frozenset[str] = DEFAULT_SET_OPTION_ALLOW
    max_heartbeats: int = 400_000
    max_rec_depth: int = 10_000
    max_chars: int = MAX_CANDIDATE_CHARS
    extra_banned: frozenset[str] = field(default_factory=frozenset)


DEFAULT_POLICY = SafetyPolicy()


@dataclass(frozen=True)
class SafetyVerdict:
    """``ok`` or not, with a human-readable ``reason`` for refusals."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


_OK = SafetyVerdict(True)


def _refuse(reason: str) -> SafetyVerdict:
    return SafetyVerdict(False, reason)


def skeleton(word: str) -> str:
    """NFKC-fold and map look-alike letters to Latin (``ѕоrrу`` → ``sorry``, ``𝐈𝐎`` → ``IO``)."""
    return unicodedata.normalize("NFKC", word).translate(_CONFUSABLES)


def _allowed_letter(ch: str) -> bool:
    """Letters Lean code legitimately uses: ASCII, Latin-1 letters, Greek, letter-like,
    mathematical alphanumerics."""
    code = ord(ch)
    return code < 0x250 or 0x370 <= code <= 0x3FF or 0x1F00 <= code <= 0x1FFF or is_letter_like(ch)


def _check_characters(text: str) -> SafetyVerdict:
    for ch in text:
        if ch == "\n" or ch == " ":
            continue
        if ch in _INVISIBLE:
            return _refuse(f"invisible or bidirectional character U+{ord(ch):04X}")
        if ch == "\\":
            return _refuse("backslash (escape sequences are not allowed)")
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp", "Zs"):
            return _refuse(f"control, format or unusual space character U+{ord(ch):04X}")
        if category.startswith("L") and not _allowed_letter(ch):
            return _refuse(f"letter {ch!r} (U+{ord(ch):04X}) from an unexpected script (possible look-alike)")
        if category == "Mn" or category == "Me":
            return _refuse(f"combining mark U+{ord(ch):04X}")
    return _OK


_BANNED_PREFIXES = ("register_", "declare_", "initialize_", "builtin_")


def _banned_reason(word: str, policy: SafetyPolicy) -> str | None:
    for candidate in {word, skeleton(word)}:
        reason = _ALWAYS_BANNED.get(candidate)
        if reason is not None:
            return reason
        if candidate.startswith(_BANNED_PREFIXES):
            return "is a command that changes the environment"
        if candidate in NATIVE_WORDS and not policy.allow_native:
            return "trusts the compiler (native_decide and friends are disabled)"
        if candidate in policy.extra_banned:
            return "forbidden by configuration"
    return None


def _check_set_option(tokens: list[Token], i: int, policy: SafetyPolicy) -> SafetyVerdict:
    name = tokens[i + 1] if i + 1 < len(tokens) else None
    value = tokens[i + 2] if i + 2 < len(tokens) else None
    after = tokens[i + 3] if i + 3 < len(tokens) else None
    if name is None or name.kind != "ident" or value is None:
        return _refuse("malformed set_option")
    if name.text not in policy.set_option_allow:
        return _refuse(f"set_option {name.text} is not in the allow-list")
    if after is None or after.text != "in":
        return _refuse("set_option must be scoped with `in`")
    if value.kind != "number" or not value.text.isdigit():
        return _refuse(f"set_option {name.text} needs a plain number")
    number = int(value.text)
    limit = policy.max_rec_depth if name.text == "maxRecDepth" else policy.max_heartbeats
    if number <= 0 or number > limit:
        return _refuse(f"set_option {name.text} {number} is outside 1..{limit}")
    return _OK


def _check_open(tokens: list[Token], i: int) -> SafetyVerdict:
    for token in tokens[i + 1 :]:
        if token.kind == "ident" and token.text == "in":
            return _OK
        if token.kind != "ident" and token.text not in "()":
            break
    return _refuse("`open` is only allowed as `open … in`")


def strip_comments(text: str) -> str:
    """Remove complete comments (``--`` lines and closed ``/- -/`` blocks) from a model's
    candidate, drop the lines they leave empty and trailing spaces. An unterminated block
    comment is left in place, so :func:`check_candidate` still refuses it."""
    tokens = [t for t in tokenize(text) if t.kind == "comment" and not t.unterminated]
    if not tokens:
        return text
    pieces, last = [], 0
    for token in tokens:
        pieces.append(text[last : token.start])
        last = token.end
    pieces.append(text[last:])
    lines = [line.rstrip() for line in "".join(pieces).split("\n")]
    return "\n".join(line for line in lines if line.strip())


def check_candidate(text: str, policy: SafetyPolicy = DEFAULT_POLICY) -> SafetyVerdict:
    """Decide whether ``text`` may be shown to Lean. Never raises."""
    if not text.strip():
        return _refuse("empty candidate")
    if len(text) > policy.max_chars:
        return _refuse(f"longer than {policy.max_chars} characters")
    verdict = _check_characters(text)
    if not verdict:
        return verdict
    tokens = tokenize(text)
    stack: list[str] = []
    for index, token in enumerate(tokens):
        if token.unterminated:
            return _refuse(f"unterminated {token.kind}")
        if token.kind == "comment":
            return _refuse("comments are not allowed (they can hide what follows)")
        if token.kind in ("string", "char"):
            return _refuse(f"{token.kind} literals are not allowed")
        if token.kind == "symbol":
            if token.text.startswith("#"):
                return _refuse("`#` commands are not allowed")
            if token.text == "@[":
                return _refuse("attributes are not allowed")
            if token.text in ("`", "$"):
                return _refuse("quotations and antiquotations are not allowed")
            if token.text in _OPEN_BRACKETS:
                stack.append(token.text)
            elif token.text in _CLOSE_BRACKETS:
                if not stack or stack[-1] != _CLOSE_BRACKETS[token.text]:
                    return _refuse(f"unbalanced {token.text!r}")
                stack.pop()
            continue
        if token.kind != "ident":
            continue
        if token.text == "set_option":
            verdict = _check_set_option(tokens, index, policy)
            if not verdict:
                return verdict
            continue
        if token.text == "open":
            verdict = _check_open(tokens, index)
            if not verdict:
                return verdict
            continue
        for part in token.parts:
            if skeleton(part).startswith(RESERVED_PREFIX):
                return _refuse(f"`{part}` uses the checker's reserved prefix {RESERVED_PREFIX}")
            reason = _banned_reason(part, policy)
            if reason is not None:
                return _refuse(f"`{part}` {reason}")
    if stack:
        return _refuse(f"unbalanced {stack[-1]!r}")
    return _OK
