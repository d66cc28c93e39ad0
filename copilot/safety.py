"""The safety filter every candidate passes before Lean sees it.

A candidate is a tactic (or tactic sequence, or proof body) that will be pasted into a shadow
copy of the user's declaration. It must not be able to prove things by fiat (``sorry``,
``admit``, axioms, ``native_decide``), run code (``#eval``, ``run_tac``, ``IO``, ``extern``),
change the environment (declarations, attributes, notations, macros, ``set_option`` beyond a
small allow-list, ``open`` without ``in``) or escape its context (``end``, ``namespace``,
unbalanced brackets, comments that swallow what follows, strings and char literals).

The check is token-level (:mod:`copilot.lean_lexer`, which follows Lean's own token rules), not
substring: ``sorry_lemma`` and ``IO_thing`` are ordinary identifiers and pass (a premise proved
with ``sorry`` is caught later by the checker's ``#print axioms`` pass), while ``Foo.sorry``,
``«sorry»`` and ``IO.println`` are refused. Command keywords (``def``, ``end``, ``omit``, …) are
refused where Lean could read them as keywords (an identifier's first component), not as a later
component (``h.def``, ``List.Sublist.end``). Two checks do not depend on the tokens: a banned
word starting inside the characters of a number (``0axiom``, ``1_axiom``: Lean's number stops
or fails there and a new token, even a new command, starts) and banned words spelled in
superscript letters. Look-alikes are refused too: letters outside Latin, Greek and Lean's
letter-like/mathematical blocks (modifier letters of notations such as ``sᶜ``, ``αᵒᵈ``, ``Aᵀ``
are allowed: Lean reads them as symbols), invisible and bidirectional characters, and any
identifier whose NFKC/confusable skeleton is a banned word. False positives are acceptable;
false negatives are not. The checker adds a second line of defence that does not use this
module at all (Lean's own view of the commands of the checked text, ``copilot.checker``).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from copilot.lean_lexer import Token, is_id_first, is_id_rest, is_letter_like, tokenize

MAX_CANDIDATE_CHARS = 4000
# Names the checker gives its declaration copies (copilot.checker); a candidate must not
# refer to another candidate's copy.
RESERVED_PREFIX = "_lc_"


def _table(groups: tuple[tuple[tuple[str, ...], str], ...]) -> dict[str, str]:
    """word -> reason, from (words, reason) groups."""
    return {word: reason for words, reason in groups for word in words}


# Two kinds of banned words. *Names* are banned as any dotted component of any identifier
# (``Foo.sorry``, ``«sorry»``, ``Lean.Elab.Command``): they name things a proof must not reach.
_BANNED_NAMES: dict[str, str] = _table((
    (("sorry", "sorryAx", "admit", "stop"), "proves by `sorry`"),
    (("axiom", "axioms"), "adds an axiom"),
    (("lcProof", "lcUnreachable", "lcCast", "lcAny", "lcErased"), "uses a compiler-internal axiom"),
    (("implemented_by", "extern", "unsafe", "unsafeCast", "unsafeIO", "unsafeBaseIO", "unsafeEIO",
      "ptrAddrUnsafe", "IO", "EIO", "BaseIO", "dbg_trace", "dbgTrace", "dbgTraceIfShared", "polyrith"),
     "runs or trusts compiled code / does I/O"),
    (("run_cmd", "run_tac", "run_elab", "run_meta", "by_elab", "Elab", "Meta", "MetaM", "TacticM",
      "TermElabM", "CommandElabM", "CoreM", "evalTactic"), "metaprogramming"),
))

# *Keywords* are banned where Lean could read them as a keyword: an identifier token whose
# first component is the word (``def``, ``end x``, also the conservative ``def.x``), but not a
# later component (``h.def``, ``List.Sublist.end``, ``h.omit`` are field names / lemma names).
# A command keyword anywhere in a tactic block ends the declaration and runs as a command:
# commands need not start at column 0, and after a parse error Lean resumes at the next token
# that starts a command. The list is derived from the command syntax of:
# * Lean 4.35: src/Lean/Parser/Command.lean (declaration keywords and modifiers, `deriving`,
#   `section`/`namespace`/`end`, `with_weak_namespace`, `end_local_scope`, `variable`,
#   `universe`, `assert_not_exists`, `assert_not_imported`, `init_quot`, `docs_to_verso`,
#   `set_option`, `attribute`, `export`, `import`, `open`, `mutual`, `initialize`,
#   `builtin_initialize`, `add_decl_doc`, `register_tactic_tag`, `tactic_extension`,
#   `recommended_spelling`, `gen_injective_theorems%`, `include`, `omit`,
#   `register_error_explanation`; `#…` commands are refused as `#` tokens),
#   src/Lean/Parser/Term.lean (`local`/`scoped` attribute kinds, `termination_by`,
#   `decreasing_by`, `partial_fixpoint`), src/Lean/Parser/Syntax.lean (`syntax`, `macro`,
#   `macro_rules`, `elab`, `elab_rules`, `notation`, `infix*`, `prefix`, `postfix`,
#   `declare_syntax_cat`, `binder_predicate`), src/Init/Simproc.lean and src/Lean/Elab/Tactic/
#   Simproc.lean (`simproc`, `dsimproc`, `simproc_decl`, `dsimproc_decl`, `simproc_pattern%`),
#   src/Init/Grind (`grind_pattern`, `grind_propagator`, `init_grind_norm`),
#   src/Init/NotationExtra.lean (`unif_hint`), src/Lean/Util/TestExtern.lean (`test_extern`),
#   src/Lean/Widget/UserWidget.lean (`show_panel_widgets`), src/Lean/Elab/Tactic/... (`seal`,
#   `unseal`), the `register_*`/`declare_*`/`initialize_*`/`builtin_*` families (prefixes);
# * Batteries: `alias`, `proof_wanted`, `library_note`, `open private`/`export private`
#   (Batteries/Tactic/Alias.lean, Batteries/Util/ProofWanted.lean, Batteries/Util/LibraryNote.lean);
# * Mathlib: Mathlib/Tactic/Lemma.lean (`lemma`), Mathlib/Tactic/IrreducibleDef.lean,
#   Mathlib/Tactic/MkIffOfInductiveProp.lean, Mathlib/Tactic/Variable.lean (`variable?`),
#   Mathlib/Tactic/Recall.lean, Mathlib/Tactic/SudoSetOption.lean (`sudo`),
#   Mathlib/Tactic/UnsetOption.lean, Mathlib/Tactic/DeprecateTo.lean (`deprecate`),
#   Mathlib/Tactic/ExtendDoc.lean, Mathlib/Util/CompileInductive.lean,
#   Mathlib/Tactic/SuppressCompilation.lean, Mathlib/Tactic/Simps/Basic.lean,
#   Mathlib/Tactic/ToAdditive (`insert_to_additive_translation`, `to_additive_name_hint`),
#   Mathlib/Util/WhatsNew.lean, Mathlib/Tactic/Linter (`set_library_suggestions`),
#   Mathlib/Tactic/NotationX (`notation3`), Aesop (`add_aesop_rules`, `erase_aesop_rules`,
#   `declare_aesop_rule_sets`).
_BANNED_KEYWORDS: dict[str, str] = _table((
    (("macro", "syntax", "elab", "notation", "notation3", "macro_rules", "elab_rules", "infix", "infixl", "infixr",
      "prefix", "postfix", "declare_syntax_cat", "binder_predicate", "unif_hint"), "defines syntax"),
    (("theorem", "lemma", "def", "definition", "instance", "opaque", "abbrev", "example", "structure",
      "class", "inductive", "coinductive", "constant", "mutual", "deriving", "where", "private", "public",
      "protected", "partial", "nonrec", "noncomputable", "meta", "initialize", "builtin_initialize",
      "termination_by", "termination_by?", "decreasing_by", "partial_fixpoint"),
     "declares something"),
    (("attribute",), "changes attributes"),
    (("import", "end", "namespace", "section", "universe", "variable", "variable?", "variables", "export", "omit",
      "include", "local", "scoped", "with_weak_namespace", "end_local_scope", "sudo", "unset_option"),
     "changes the surrounding context"),
    (("alias", "irreducible_def", "simproc", "dsimproc", "simproc_decl", "dsimproc_decl", "simproc_pattern",
      "builtin_simproc", "builtin_dsimproc", "add_aesop_rules", "erase_aesop_rules", "initialize_simps_projections",
      "initialize_simps_projections?", "library_note", "unseal", "seal", "recall", "recall?", "grind_pattern",
      "grind_propagator", "init_grind_norm", "compile_inductive", "compile_def", "add_decl_doc",
      "assert_not_exists", "assert_not_imported", "suppress_compilation", "unsuppress_compilation",
      "proof_wanted", "def_wanted", "theorem_wanted", "instance_wanted", "derive_handler", "gen_injective_theorems",
      "test_extern", "mk_iff_of_inductive_prop", "init_quot", "docs_to_verso", "register_tactic_tag",
      "tactic_extension", "recommended_spelling", "register_error_explanation", "show_panel_widgets",
      "deprecate", "extend_docs", "insert_to_additive_translation", "to_additive_name_hint", "whatsnew",
      "set_library_suggestions", "stop_at_first_error", "declare_aesop_rule_sets", "open_private",
      # further command keywords of Lean 4.35 and Mathlib (grind, lrat, to_dual, notation helpers,
      # limits, evaluation and deprecation machinery)
      "library_note2", "to_dual_insert_cast", "to_dual_insert_cast_fun", "to_dual_name_hint", "name_poly_vars",
      "name_power_vars", "unlock_limits", "lrat_proof", "grind_annotated", "reset_grind_attrs",
      "make_elab_grind_config", "make_elab_simp_config", "family_def", "reprove", "guard_decl", "elab_stx_quot",
      "gen_cnstr_fns", "def_eval_config_item", "hydrate_opaque_type", "nonempty_type", "norm_cast_add_elim",
      "postprocess_traces", "guard_min_heartbeats", "deprecated_module", "deprecated_syntax",
      "ensure_eval_expr_instance", "ensure_eval_term_expr_instances", "ensure_eval_term_instance",
      "derive_eval_expr_instance_using_meta_eval", "wait_for_cancel_once_command"),
     "is a command that changes the environment"),
))
_BANNED_PREFIXES = ("register_", "declare_", "initialize_", "builtin_")
#: Keywords that start (or belong only to) a command or a declaration: where Lean itself shows
#: one of them as a keyword inside a candidate, the candidate escaped (used by the checker's
#: second line of defence, which reads Lean's semantic tokens rather than our lexer).
COMMAND_KEYWORDS = frozenset(_BANNED_KEYWORDS) | frozenset({"axiom", "run_cmd", "run_elab", "run_meta", "run_tac"})

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
    mathematical alphanumerics, and the modifier letters of Mathlib's postfix notations
    (``sᶜ``, ``αᵒᵈ``, ``Aᵀ``, ``αᵐᵒᵖ``, ``Mˣ``), which Lean reads as symbols."""
    code = ord(ch)
    return (code < 0x250 or 0x370 <= code <= 0x3FF or 0x1F00 <= code <= 0x1FFF or is_letter_like(ch)
            or is_modifier_letter(ch))


def is_modifier_letter(ch: str) -> bool:
    """Superscript and modifier letters (spacing modifiers, phonetic-extension superscripts,
    super/subscripts block): never identifier characters in Lean, only notation tokens."""
    code = ord(ch)
    return (0x2B0 <= code <= 0x2FF or 0x1D2C <= code <= 0x1D6A or code == 0x1D78 or 0x1D9B <= code <= 0x1DBF
            or 0x2070 <= code <= 0x209F or code == 0x2C7C or code == 0x2C7D)


def _check_characters(text: str) -> SafetyVerdict:
    for ch in text:
        if ch == "\n" or ch == " ":
            continue
        if ch in _INVISIBLE:
            return _refuse(f"invisible or bidirectional character U+{ord(ch):04X}")
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp", "Zs"):
            return _refuse(f"control, format or unusual space character U+{ord(ch):04X}")
        if category.startswith("L") and not _allowed_letter(ch):
            return _refuse(f"letter {ch!r} (U+{ord(ch):04X}) from an unexpected script (possible look-alike)")
        if category == "Mn" or category == "Me":
            return _refuse(f"combining mark U+{ord(ch):04X}")
    return _OK


def _banned_reason(word: str, policy: SafetyPolicy, *, first: bool) -> str | None:
    """Why ``word`` (one identifier component; ``first``: the first one) is banned, or None."""
    for candidate in {word, skeleton(word)}:
        reason = _BANNED_NAMES.get(candidate)
        if reason is not None:
            return reason
        if first:
            reason = _BANNED_KEYWORDS.get(candidate)
            if reason is not None:
                return reason
        if candidate.startswith(_BANNED_PREFIXES):
            return "is a command that changes the environment"
        if candidate in NATIVE_WORDS and not policy.allow_native:
            return "trusts the compiler (native_decide and friends are disabled)"
        if candidate in policy.extra_banned:
            return "forbidden by configuration"
    return None


# Where Lean reads a number it may stop, or fail, inside a run of characters (`0axiom`,
# `1_axiom`, `0b_axiom`, `2eaxiom`, `0x1faxiom`) and resume there; after a parse error it
# resumes at the next token that starts a command. These are the characters a number can take.
_NUMBER_START = re.compile(r"(?<![\w'!?\u00c0-\u024f\u0370-\u03ff\u1f00-\u1fff\u2080-\u209c\u2100-\u214f])[0-9]")
_NUMBERISH = frozenset("0123456789abcdefABCDEF_.eE+-xXoObB")


def _check_glued(text: str, policy: SafetyPolicy) -> SafetyVerdict:
    """Lexer-independent: a banned word that starts anywhere inside the characters a number
    could take, or right after them (``0axiom``, ``1_axiom``, ``0x1faxiom``), and a banned word
    spelled in superscript letters (``ˢᵒʳʳʸ``) are refused, whatever the tokens say."""
    n = len(text)
    for match in _NUMBER_START.finditer(text):
        end = match.start()
        while end < n and text[end] in _NUMBERISH:
            end += 1
        for p in range(match.start() + 1, min(end + 1, n)):
            if not is_id_first(text[p]):
                continue
            k = p + 1
            while k < n and is_id_rest(text[k]):
                k += 1
            reason = _banned_reason(text[p:k], policy, first=True)
            if reason is not None:
                return _refuse(f"`{text[p:k]}` glued to a number (Lean reads a new token there): {reason}")
    modifiers = "".join(ch if is_modifier_letter(ch) else " " for ch in text)
    for run in modifiers.split():
        if len(run) > 1 and _banned_reason(skeleton(run), policy, first=True):
            return _refuse(f"superscript letters spelling a banned word: {run!r}")
    return _OK


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


class SafeText(str):
    """Candidate text that :func:`screen_text` passed under ``policy``. The checker does not
    filter a ``SafeText`` again for the same policy; any edit of it (a plain ``str``) is
    filtered again."""

    policy: SafetyPolicy

    def __new__(cls, text: str, policy: SafetyPolicy) -> SafeText:
        obj = super().__new__(cls, text)
        obj.policy = policy
        return obj


def screen_text(text: str, policy: SafetyPolicy = DEFAULT_POLICY) -> SafeText | SafetyVerdict:
    """:func:`check_candidate` once: the text as a :class:`SafeText` if it passes, else the
    refusal."""
    verdict = check_candidate(text, policy)
    return SafeText(text, policy) if verdict.ok else verdict


def is_screened(text: str, policy: SafetyPolicy) -> bool:
    """Whether ``text`` already passed the filter under ``policy``."""
    return isinstance(text, SafeText) and text.policy == policy


def check_candidate(text: str, policy: SafetyPolicy = DEFAULT_POLICY) -> SafetyVerdict:
    """Decide whether ``text`` may be shown to Lean. Never raises."""
    if not text.strip():
        return _refuse("empty candidate")
    if len(text) > policy.max_chars:
        return _refuse(f"longer than {policy.max_chars} characters")
    verdict = _check_characters(text)
    if not verdict:
        return verdict
    verdict = _check_glued(text, policy)
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
        for position, part in enumerate(token.parts):
            if skeleton(part).startswith(RESERVED_PREFIX):
                return _refuse(f"`{part}` uses the checker's reserved prefix {RESERVED_PREFIX}")
            reason = _banned_reason(part, policy, first=position == 0)
            if reason is not None:
                return _refuse(f"`{part}` {reason}")
    if stack:
        return _refuse(f"unbalanced {stack[-1]!r}")
    return _OK
