"""Finding things in Lean source text: ``sorry`` s, enclosing declarations, and where a proof
goes (a *hole*), plus filling a hole with a tactic sequence at the right indentation.

Everything is token-aware (:mod:`copilot.lean_lexer`): ``sorry`` in comments, strings or as part
of an identifier (``sorry_lemma``) is not a sorry. Positions are Python string offsets unless a
field says ``line``/``character`` (LSP: 0-based line, UTF-16 column).

Used by the checker, the proof search, the editor features and ``fill-sorries``.
"""
from __future__ import annotations

import bisect
import dataclasses
import re
import textwrap
from dataclasses import dataclass
from typing import Literal

from copilot.lean_lexer import Token, column_of, line_starts, tokenize
from lsp_proxy.utf16 import offset_to_position, position_to_offset, utf16_length

HoleKind = Literal["tactic", "term"]

DECL_KEYWORDS = frozenset(
    {
        "theorem", "lemma", "def", "example", "instance", "abbrev", "opaque", "structure", "class", "inductive",
        "axiom", "irreducible_def",
    }
)
# `public` and `meta` are the module system's (Lean 4.22+: `public theorem`, `meta def`).
MODIFIERS = frozenset(
    {"private", "protected", "noncomputable", "partial", "unsafe", "nonrec", "scoped", "local", "public", "meta"}
)
OTHER_COMMANDS = frozenset(
    {
        "namespace", "end", "section", "open", "variable", "universe", "set_option", "import", "attribute",
        "macro", "syntax", "elab", "notation", "macro_rules", "elab_rules", "mutual", "deriving", "export",
        "infix", "infixl", "infixr", "prefix", "postfix", "initialize", "omit", "include", "add_decl_doc",
        "open_locale", "alias", "compile_inductive", "assert_not_exists", "unseal", "seal",
        # Lean, Batteries and Mathlib commands seen at column 0 (they end the previous declaration)
        "module", "prelude", "builtin_initialize", "declare_syntax_cat", "register_option",
        "register_builtin_option", "register_simp_attr", "simproc", "dsimproc", "simproc_decl",
        "dsimproc_decl", "builtin_simproc", "suppress_compilation", "run_cmd", "run_meta", "run_elab",
        "notation3", "binder_predicate", "unif_hint", "proof_wanted", "recall", "grind_pattern",
        "library_note", "initialize_simps_projections", "declare_aesop_rule_sets", "add_aesop_rules",
        "declare_simp_like_tactic",
    }
)
# Commands that can scope the next declaration with Lean's `… in` combinator.
IN_COMBINATORS = frozenset({"set_option", "open", "attribute", "omit", "include", "variable", "unseal", "seal", "export"})
HAVE_LIKE = frozenset({"have", "haveI", "obtain", "suffices", "replace", "show", "let", "letI", "calc"})
_BLOCK_OPENERS = frozenset({"by", "decreasing_by"})  # followed by a tactic sequence
_TACTIC_AFTER = frozenset(
    {"by", "decreasing_by", ";", "<;>", "·", "first", "try", "repeat", "all_goals", "any_goals", "focus", "iterate", "|"}
)


@dataclass(frozen=True)
class Declaration:
    """A top-level declaration. ``start`` includes its doc comment, attributes, modifiers and a
    leading ``set_option … in``; ``end`` is just after its last token. ``statement`` is the
    text from the keyword up to ``:=`` (exclusive, stripped); ``signature`` is the part after
    the name. ``body_start`` is the offset just after ``:=`` (``None`` without one).
    ``in_mutual`` marks a member of a ``mutual … end`` block written at column 0 (such a
    declaration cannot be checked on its own)."""

    start: int
    end: int
    keyword: str
    keyword_start: int
    name: str | None
    name_start: int | None
    name_end: int | None
    statement: str
    signature: str
    body_start: int | None
    in_mutual: bool = False

    def text(self, source: str) -> str:
        return source[self.start : self.end]


@dataclass(frozen=True)
class SorryLocation:
    """One ``sorry`` token: offsets, LSP position, whether it stands for a tactic or a term,
    whether it sits in a ``have``-like step, and its declaration's name."""

    start: int
    end: int
    line: int
    character: int
    kind: HoleKind
    in_have: bool
    declaration: str | None


@dataclass(frozen=True)
class Hole:
    """Where a proof goes: ``text[start:end]`` is replaced. ``kind`` says whether the
    replacement is tactics (``tactic``) or a term (``term``: it becomes a ``by`` block).
    ``layout`` says how a multi-line tactic sequence is laid out: ``aligned`` (every line at
    the hole's column: the hole starts its line or follows ``·``/``=>``), ``newline`` (after a
    same-line ``by``: new lines indented past the step) or ``parens`` (after ``;``/``<;>``:
    a parenthesised sequence). ``needs_parens`` marks a term hole not right after ``:=``.
    ``indent`` is the column of the step holding the hole (ignoring ``·``), or of the next line
    when that is deeper (a continued step such as the next ``calc`` step): new lines of a
    ``newline`` or term layout go two columns past it."""

    start: int
    end: int
    kind: HoleKind
    layout: Literal["aligned", "newline", "parens"] = "aligned"
    needs_parens: bool = True
    indent: int = 0


@dataclass(frozen=True)
class FilledText:
    """The text with a hole filled, and where the inserted tactics start and end."""

    text: str
    start: int
    end: int


# --------------------------------------------------------------------------- positions


# One converter for the whole project (lsp_proxy/utf16.py, property-tested): the same clamping
# as the proxy's mirror and LeanClient.
utf16_len = utf16_length


def offset_to_lsp(text: str, offset: int) -> tuple[int, int]:
    """(line, UTF-16 character) of an offset."""
    return offset_to_position(text, offset)


def lsp_to_offset(text: str, line: int, character: int) -> int:
    """Offset of an LSP (line, UTF-16 character) position, clamped to the text."""
    return position_to_offset(text, line, character)


# --------------------------------------------------------------------------- declarations


def _is_command_head(token: Token, source: str) -> bool:
    if column_of(source, token.start) != 0:
        return False
    if token.kind == "comment":
        return token.text.startswith("/--") or token.text.startswith("/-!")
    if token.kind == "symbol":
        return token.text in ("@[", "#") or token.text.startswith("#")
    if token.kind == "ident":
        return token.text in DECL_KEYWORDS or token.text in MODIFIERS or token.text in OTHER_COMMANDS
    return False


def _is_prefix_segment(tokens: list[Token]) -> bool:
    """A segment that only decorates the next command (doc comment, attributes, modifiers,
    ``set_option … in``)."""
    if not tokens:
        return True
    first = tokens[0]
    if first.kind == "ident" and first.text in OTHER_COMMANDS:
        # `set_option … in`, `open … in`, `attribute […] … in`, `omit … in`, … : Lean's generic
        # `command in command` combinator scopes the first command to the declaration.
        return first.text in IN_COMBINATORS and tokens[-1].kind == "ident" and tokens[-1].text == "in"
    if first.kind == "comment" and first.text.startswith("/-!"):
        return False
    depth = 0
    for token in tokens:
        if token.kind == "comment":
            continue
        if token.text in ("@[", "[", "("):
            depth += 1
        elif token.text in ("]", ")"):
            depth -= 1
        elif depth == 0 and not (token.kind == "ident" and token.text in MODIFIERS):
            return False
    return True


def declarations(source: str, tokens: list[Token] | None = None) -> list[Declaration]:
    """Every top-level declaration in ``source``, in order (``tokens``: its tokens with
    comments, if already computed)."""
    tokens = tokenize(source) if tokens is None else tokens
    heads = [i for i, t in enumerate(tokens) if _is_command_head(t, source)]
    segments: list[tuple[int, int]] = []
    pending_start: int | None = None
    for n, head in enumerate(heads):
        stop = heads[n + 1] if n + 1 < len(heads) else len(tokens)
        seg = tokens[head:stop]
        if _is_prefix_segment([t for t in seg if t.kind != "comment" or t is seg[0]]) and n + 1 < len(heads):
            if pending_start is None:
                pending_start = head
            continue
        segments.append((head if pending_start is None else pending_start, stop))
        pending_start = None
    out = []
    in_mutual = False
    for first, stop in segments:
        head = tokens[first]
        if head.kind == "ident" and head.text == "mutual":
            in_mutual = stop - first == 1 or not any(t.kind == "ident" and t.text == "end" for t in tokens[first:stop])
            continue
        if head.kind == "ident" and head.text == "end":
            in_mutual = False
            continue
        decl = _declaration(source, tokens[first:stop])
        if decl is not None:
            if in_mutual:
                decl = dataclasses.replace(decl, in_mutual=True)
            out.append(decl)
    return out


def _declaration(source: str, seg: list[Token]) -> Declaration | None:
    keyword_index = None
    depth = 0
    skip_to = -1
    for i, token in enumerate(seg):
        if i <= skip_to:
            continue
        if token.text in ("@[", "[", "(", "{", "⟨"):
            depth += 1
        elif token.text in ("]", ")", "}", "⟩"):
            depth -= 1
        elif depth == 0 and token.kind == "ident" and token.text in DECL_KEYWORDS:
            keyword_index = i
            break
        elif depth == 0 and token.kind == "ident" and token.text in OTHER_COMMANDS:
            # `open Foo in`, `set_option … in`: skip to the `in`; any other command is no declaration.
            following = (j for j in range(i + 1, len(seg)) if seg[j].kind == "ident" and seg[j].text in ("in", *DECL_KEYWORDS))
            j = next(following, None)
            if token.text not in IN_COMBINATORS or j is None or seg[j].text != "in":
                return None
            skip_to = j
    if keyword_index is None:
        return None
    keyword = seg[keyword_index]
    code = [t for t in seg if t.kind != "comment"]
    end = code[-1].end if code else keyword.end
    name = name_start = name_end = None
    name_index = keyword_index + 1
    if (
        keyword.text == "instance"
        and name_index + 1 < len(seg)
        and seg[name_index].text == "("
        and seg[name_index + 1].text == "priority"
    ):
        # `instance (priority := low) foo : C` names the instance after its priority.
        depth = 0
        for j in range(name_index, len(seg)):
            depth += {"(": 1, ")": -1}.get(seg[j].text, 0)
            if depth == 0:
                name_index = j + 1
                break
    after = seg[name_index] if name_index < len(seg) else None
    if after is not None and after.kind == "ident" and keyword.text != "example":
        following = seg[name_index + 1] if name_index + 1 < len(seg) else None
        if keyword.text != "instance" or following is None or following.text in (":", "(", "[", "{", "⦃", "where"):
            name, name_start, name_end = after.text, after.start, after.end
    assign = None
    stmt_stop: int | None = None
    depth = 0
    for token in seg[keyword_index + 1 :]:
        if token.kind == "comment":
            continue
        if token.text in ("(", "[", "{", "⟨", "⦃"):
            depth += 1
        elif token.text in (")", "]", "}", "⟩", "⦄"):
            depth -= 1
        elif depth == 0 and token.text == ":=":
            assign = token
            break
        elif depth == 0 and (
            (token.kind == "ident" and token.text == "where")
            # an equation-compiler alternative starts its line; `|x|` (Mathlib's abs) does not
            or (token.text == "|" and not source[source.rfind("\n", 0, token.start) + 1 : token.start].strip())
        ):
            stmt_stop = token.start
            break
    stmt_end = assign.start if assign else (stmt_stop if stmt_stop is not None else end)
    statement = source[keyword.start : stmt_end].strip()
    sig_from = name_end if name_end is not None else keyword.end
    signature = source[sig_from:stmt_end].strip()
    return Declaration(
        start=seg[0].start,
        end=end,
        keyword=keyword.text,
        keyword_start=keyword.start,
        name=name,
        name_start=name_start,
        name_end=name_end,
        statement=statement,
        signature=signature,
        body_start=assign.end if assign else None,
    )


def find_declaration(source: str, offset: int) -> Declaration | None:
    """The declaration containing ``offset`` (``start <= offset <= end``), or ``None``."""
    for decl in declarations(source):
        if decl.start <= offset <= decl.end:
            return decl
    return None


def is_module_file(source: str) -> bool:
    """Whether ``source`` uses Lean's module system (its header starts with ``module``, Lean
    4.22+). In such a file ``#print axioms`` is an error (src/Lean/Elab/Print.lean: "cannot use
    `#print axioms` in a `module`")."""
    limit = 512
    while True:
        tokens = tokenize(source[:limit], keep_comments=False)
        # the first token decides, unless the prefix cut it (or a comment) short
        if tokens and (tokens[0].end < limit or limit >= len(source)):
            token = tokens[0]
            return token.kind == "ident" and token.text == "module" and column_of(source, token.start) == 0
        if limit >= len(source):
            return False
        limit *= 4


_HEADER_WORDS = frozenset({"module", "prelude", "import", "public", "meta", "private", "all", "runtime"})


def header_end(source: str) -> int:
    """Offset just after the file's header (``module``, ``prelude`` and the ``import`` lines,
    ``public``/``meta``/``all`` forms included); 0 when there is none."""
    # The header is at the top: lex a growing prefix rather than the whole file (the checker
    # asks this of every shadow text, which can be many thousand lines long).
    limit = 1024
    while True:
        end, complete = _header_end_in(source[:limit])
        if complete or limit >= len(source):
            return end
        limit *= 4


def _header_end_in(prefix: str) -> tuple[int, bool]:
    """``header_end`` of ``prefix``, and whether a token after the header was seen (so a longer
    prefix cannot change the answer)."""
    end = 0
    expect_module = False
    for token in tokenize(prefix, keep_comments=False):
        if expect_module and token.kind == "ident":
            if token.text == "all":
                continue
            end, expect_module = token.end, False
        elif token.kind == "ident" and token.text in _HEADER_WORDS:
            expect_module = token.text == "import"
            if token.text in ("module", "prelude"):
                end = token.end
        else:
            return end, token.end < len(prefix)  # a token cut by the prefix's end may be a header word
    return end, False


def normalize_statement(statement: str) -> str:
    """Whitespace-insensitive form of a statement, for the "statement unchanged" check."""
    return re.sub(r"\s+", " ", statement).strip()


# --------------------------------------------------------------------------- sorries


class _Lines:
    """Line number of an offset by bisection (files can be long)."""

    def __init__(self, source: str) -> None:
        self.starts = line_starts(source)

    def count(self, _newline: str, _zero: int, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1


def _classify(tokens: list[Token], index: int, source: str, lines: _Lines | None = None) -> tuple[HoleKind, bool]:
    """Heuristic tactic/term classification of ``tokens[index]`` plus an in-have flag.

    Tactic blocks are tracked by column: ``by`` opens a block whose column is that of the
    next token; a token starting a line at a block's column is a tactic; tokens after ``;``,
    ``<;>``, ``·``, ``by``, combinators (``try``, ``all_goals``…), and after ``=>`` of a
    ``case``/``next``/``|`` alternative inside a block are tactics."""
    lines = lines or _Lines(source)
    blocks: list[tuple[int, int]] = []  # (column, index of the 'by' token)
    line_first: dict[int, int] = {}
    for i, token in enumerate(tokens):
        line = lines.count("\n", 0, token.start)
        line_first.setdefault(line, i)
    prev_line = -1
    for i in range(index + 1):
        token = tokens[i]
        line = lines.count("\n", 0, token.start)
        first_on_line = line != prev_line
        prev_line = line
        col = column_of(source, token.start)
        if first_on_line:
            while blocks and col < blocks[-1][0]:
                blocks.pop()
        if i > 0 and tokens[i - 1].text in _BLOCK_OPENERS:
            blocks.append((col, i - 1))
        if i == index:
            break
    token = tokens[index]
    prev = tokens[index - 1] if index > 0 else None
    col = column_of(source, token.start)
    line = lines.count("\n", 0, token.start)
    first_on_line = line_first.get(line) == index
    in_block = bool(blocks)
    kind: HoleKind = "term"
    after_tactic = prev is not None and prev.text in _TACTIC_AFTER and (prev.text != "|" or in_block)
    if after_tactic or (in_block and first_on_line and col == blocks[-1][0]):
        kind = "tactic"
    elif in_block and prev is not None and prev.text == "=>":
        head = tokens[line_first[lines.count("\n", 0, prev.start)]]
        if head.text in ("case", "next", "|", "case'") :
            kind = "tactic"
    elif in_block and prev is not None and prev.text == "." and first_on_line is False:
        kind = "tactic"
    in_have = False
    own_index = line_first[line]
    while own_index < index and tokens[own_index].text in ("·", "."):
        own_index += 1
    own_head = tokens[own_index]
    if own_head.text in HAVE_LIKE:
        in_have = True
    elif blocks:
        by_token = tokens[blocks[-1][1]]
        by_head = tokens[line_first[lines.count("\n", 0, by_token.start)]]
        in_have = by_head.text in HAVE_LIKE
    return kind, in_have


def _quotation_spans(tokens: list[Token]) -> list[tuple[int, int]]:
    """Extents of syntax quotations `` `(…) `` / `` `(tactic| …) `` (comment-free tokens)."""
    spans = []
    i = 0
    while i < len(tokens) - 1:
        if tokens[i].text == "`" and tokens[i + 1].text == "(" and tokens[i + 1].start == tokens[i].end:
            depth, j = 0, i + 1
            while j < len(tokens):
                if tokens[j].text in ("(", "[", "{", "⟨", "@[", "#["):
                    depth += 1
                elif tokens[j].text in (")", "]", "}", "⟩"):
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            end = tokens[j].end if j < len(tokens) else tokens[-1].end
            spans.append((tokens[i].start, end))
            i = j + 1
        else:
            i += 1
    return spans


def locate_sorries(source: str) -> list[SorryLocation]:
    """Every ``sorry`` token in ``source`` (not in comments, strings or identifiers), with
    its tactic/term kind, ``have`` context and declaration name."""
    all_tokens = tokenize(source)
    decls = declarations(source, all_tokens)
    tokens = [t for t in all_tokens if t.kind != "comment"]
    lines = _Lines(source)
    decl_starts = [d.start for d in decls]
    token_starts = [t.start for t in tokens]
    quoted = _quotation_spans(tokens)
    out = []
    for index, token in enumerate(tokens):
        if token.kind != "ident" or token.text != "sorry":
            continue
        if any(start <= token.start < end for start, end in quoted):
            continue  # syntax inside `(…) (macro_rules, elab): not a proof hole
        at = bisect.bisect_right(decl_starts, token.start) - 1
        decl = decls[at] if at >= 0 and token.start < decls[at].end else None
        scope = tokens
        local_index = index
        if decl is not None:
            first = bisect.bisect_left(token_starts, decl.start)
            last = bisect.bisect_left(token_starts, decl.end)
            scope = tokens[first:last]
            local_index = index - first
        kind, in_have = _classify(scope, local_index, source, lines)
        line, character = offset_to_lsp(source, token.start)
        out.append(
            SorryLocation(
                start=token.start,
                end=token.end,
                line=line,
                character=character,
                kind=kind,
                in_have=in_have,
                declaration=decl.name if decl else None,
            )
        )
    return out


def step_indent(source: str, offset: int) -> int:
    """Column of the first token on the line of ``offset``, skipping focus dots ``·``."""
    start = source.rfind("\n", 0, offset) + 1
    i = start
    while i < len(source) and source[i] in " ·.":
        if source[i] in "·." and not (i + 1 < len(source) and source[i + 1] in " \n"):
            break
        i += 1
    return i - start


def _hole(source: str, start: int, end: int, kind: HoleKind) -> Hole:
    prev_tokens = tokenize(source[max(0, start - 400) : start], keep_comments=False)
    prev = prev_tokens[-1].text if prev_tokens else ""
    line_start = source.rfind("\n", 0, start) + 1
    first_on_line = not source[line_start:start].strip()
    if first_on_line or prev in ("·", ".", "=>"):
        layout = "aligned"
    elif prev in _BLOCK_OPENERS:
        layout = "newline"
    else:
        layout = "parens"
    following = source[end:].lstrip(" ")
    needs_parens = not (prev == ":=" or (prev == "(" and following.startswith(")")))
    indent = step_indent(source, start)
    # A deeper next line continues the same step (a `calc` step `_ = c := …`): new lines must go
    # deeper still, or the inserted tactic block would swallow it.
    indent = max(indent, _next_line_indent(source, end))
    return Hole(start, end, kind, layout=layout, needs_parens=needs_parens, indent=indent)


def _next_line_indent(source: str, offset: int) -> int:
    """Indentation of the first non-blank line after the line of ``offset`` (0 if none)."""
    position = source.find("\n", offset)
    while position >= 0:
        start = position + 1
        position = source.find("\n", start)
        line = source[start : position if position >= 0 else len(source)]
        if line.strip():
            return len(line) - len(line.lstrip(" "))
    return 0


def hole_for_sorry(source: str, location: SorryLocation, kind: HoleKind | None = None) -> Hole:
    """The hole a ``sorry`` leaves; ``kind`` overrides the heuristic (e.g. after asking Lean
    whether there is a tactic goal there)."""
    return _hole(source, location.start, location.end, kind or location.kind)


def hole_at_cursor(source: str, offset: int) -> Hole:
    """A tactic hole at a cursor (empty range)."""
    return _hole(source, offset, offset, "tactic")


# --------------------------------------------------------------------------- filling


def tactic_lines(tactics: str) -> list[str]:
    """Split a tactic sequence into lines, dropping blank edges and common indentation."""
    lines = textwrap.dedent(tactics.replace("\r\n", "\n").strip("\n")).rstrip().split("\n")
    return [line.rstrip() for line in lines]


def fill_hole(source: str, hole: Hole, tactics: str, *, as_term: bool = False) -> FilledText:
    """Replace the hole with ``tactics`` (one or more lines), laid out per ``hole.layout``
    for tactic holes; a term hole becomes ``by …`` (parenthesised unless right after
    ``:=``), one line for one tactic, otherwise a ``by`` block on new lines. With ``as_term``
    a term hole gets ``tactics`` as a term, as it is (parenthesised where needed; later lines
    indented past the step)."""
    lines = tactic_lines(tactics)
    column = column_of(source, hole.start)
    close = ""
    if as_term and hole.kind == "term":
        open_, close = ("(", ")") if hole.needs_parens else ("", "")
        pad = " " * (hole.indent + 2)
        lead, body = open_, ("\n" + pad).join(lines)
    elif hole.kind == "tactic":
        if len(lines) == 1:
            lead, body = "", lines[0]
        elif hole.layout == "newline":
            pad = " " * (hole.indent + 2)
            lead, body = "\n" + pad, ("\n" + pad).join(lines)
        elif hole.layout == "parens":
            lead, body, close = "(", ("\n" + " " * (column + 1)).join(lines), ")"
        else:
            lead, body = "", ("\n" + " " * column).join(lines)
    else:
        open_, close = ("(", ")") if hole.needs_parens else ("", "")
        if len(lines) == 1:
            lead, body = f"{open_}by ", lines[0]
        else:
            pad = " " * (hole.indent + 4 if hole.needs_parens else hole.indent + 2)
            lead, body = f"{open_}by\n{pad}", ("\n" + pad).join(lines)
    prefix = source[: hole.start]
    if lead.startswith("\n"):
        prefix = prefix.rstrip(" ")
    text = prefix + lead + body + close + source[hole.end :]
    start = len(prefix) + len(lead)
    return FilledText(text, start, start + len(body))


def hole_edit(source: str, hole: Hole, tactics: str, *, as_term: bool = False) -> tuple[int, int, str]:
    """The filled hole as one text edit ``(start, end, new_text)`` on ``source`` (``start`` may
    lie before ``hole.start``: spaces before a same-line ``by`` are removed)."""
    filled = fill_hole(source, hole, tactics, as_term=as_term).text
    tail = len(source) - hole.end
    start = hole.start  # the texts agree up to the hole, or up to the spaces removed before it
    while start > 0 and source[start - 1] == " " and source[:start] != filled[:start]:
        start -= 1
    return start, hole.end, filled[start : len(filled) - tail]


def strip_statement(candidate: str, decl: Declaration) -> str | None:
    """For whole-proof candidates: if ``candidate`` repeats the declaration (``theorem foo …
    := by``), return only the proof after ``:= by``; ``None`` if it restates a *different*
    statement. A candidate that is only a proof is returned unchanged."""
    tokens = tokenize(candidate, keep_comments=False)
    if not tokens or tokens[0].text not in DECL_KEYWORDS:
        stripped = candidate.strip()
        if stripped.startswith("by\n") or stripped.startswith("by "):
            return stripped[2:].strip("\n")
        return candidate
    parsed = declarations(candidate)
    if not parsed or normalize_statement(parsed[0].signature) != normalize_statement(decl.signature):
        return None
    body_start = parsed[0].body_start
    if body_start is None:
        return None
    body = candidate[body_start:].strip()
    if body.startswith("by"):
        body = body[2:]
    return textwrap.dedent(body.strip("\n")).strip()
