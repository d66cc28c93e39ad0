"""Source-level declaration extraction: Lean files in, ``Declaration`` records out, no Lean needed.

The text is lexed (comments and strings blanked, doc comments kept), split into commands
(a declaration keyword, attribute or modifier at the start of a line begins one; scope
commands count at column 0), and each command is read with a scope stack of namespaces,
sections and ``mutual`` blocks. Structures and classes yield their fields and constructor,
inductives their constructors, ``where`` clauses of definitions their helpers, and Std's
``alias`` its names. Anonymous instances are skipped (Lean invents their names).
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .proof_refs import binder_heads, body_refs
from .records import Declaration
from .source_text import IDENT, IDENT_RE, LexError, blank_comments_and_strings

log = logging.getLogger(__name__)

DECL_KEYWORDS = (
    "theorem", "lemma", "def", "abbrev", "instance", "structure", "class", "inductive",
    "axiom", "opaque", "example", "alias",
)
MODIFIERS = ("private", "protected", "noncomputable", "partial", "unsafe", "nonrec", "scoped", "local")
_KIND = {"lemma": "theorem"}

_DECL_ALT = "|".join(DECL_KEYWORDS)
_MOD_ALT = "|".join(MODIFIERS)
# A line that begins a command at column 0 (scope commands and declarations) ...
_COL0_START = re.compile(
    rf"(?:@\[|(?:{_MOD_ALT})\b|(?:{_DECL_ALT}|namespace|section|end|open|variable|universe|mutual"
    r"|attribute|set_option|import|export|macro|macro_rules|syntax|notation|infix|infixl|infixr"
    r"|prefix|postfix|elab|elab_rules|initialize|builtin_initialize|add_decl_doc|run_cmd"
    r"|irreducible_def|prelude|module|public|meta|deriving\s+instance)\b|#[a-z_]+)"
)
# ... and one that begins a declaration at any indentation.
_INDENTED_START = re.compile(
    rf"[ \t]+(?:@\[|(?:(?:{_MOD_ALT})\s+)*(?:theorem|lemma|def|abbrev|instance|structure|class"
    r"|inductive|axiom|opaque|namespace|section|mutual)\b)"
)
_WS = re.compile(r"\s+")
_NAME_AFTER = re.compile(rf"\s*({IDENT})")
_STOP = re.compile(r"[(\[{⟨⦃)\]}⟩⦄]|:=|\bwhere\b|\bderiving\b|\n[ \t]*\||\|")
_OPEN = "([{⟨⦃"
_CLOSE = ")]}⟩⦄"
_IMPORT = re.compile(rf"^(?:public\s+)?(?:meta\s+)?import\s+(?:all\s+)?({IDENT})", re.M)
# Field names: identifiers followed by binders or the type's colon (`toFun (x : α) : β`, `x y : α`).
_FIELD_NAMES = re.compile(rf"({IDENT}(?:[ \t]+{IDENT})*)\s*(?=[:(\[{{⦃])")


@dataclass
class FileResult:
    """What one file gave: its module, imports and declarations, or why it was skipped."""

    file: str
    module: str
    imports: list[str] = field(default_factory=list)
    declarations: list[Declaration] = field(default_factory=list)
    error: str | None = None
    prelude: bool = False


@dataclass
class _Scope:
    kind: str  # "namespace" | "section" | "mutual"
    name: str
    opens: list[str] = field(default_factory=list)


_OPEN_NAMES = re.compile(rf"(?:scoped\s+)?({IDENT})")
_OPEN_IN = re.compile(r"\bin\b")


def module_name(rel_path: str) -> str:
    """``Mathlib/Data/Nat/Basic.lean`` -> ``Mathlib.Data.Nat.Basic``."""
    stem = rel_path[:-5] if rel_path.endswith(".lean") else rel_path
    return stem.replace("\\", "/").strip("/").replace("/", ".")


def normalise(text: str) -> str:
    """Collapse whitespace to single spaces and strip."""
    return _WS.sub(" ", text).strip()


def _matching_bracket(text: str, start: int) -> int:
    """Index just past the bracket closing the one at ``start`` (or len(text))."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


def _split_commands(clean: str) -> list[int]:
    """Offsets where commands start."""
    starts: list[int] = []
    offset = 0
    for line in clean.splitlines(keepends=True):
        is_start = False
        if line[:1] not in (" ", "\t", "\n", "\r", ""):
            is_start = _COL0_START.match(line) is not None
        elif line[:1] in (" ", "\t"):
            is_start = _INDENTED_START.match(line) is not None
        # a keyword line right after a line of attributes/modifiers continues that command
        if is_start and not (starts and _is_prefix_only(clean[starts[-1] : offset])):
            starts.append(offset)
        offset += len(line)
    return starts


def _is_prefix_only(text: str) -> bool:
    """Whether ``text`` holds only attributes and modifiers (so the next line continues it)."""
    _, kpos = _parse_prefix(text)
    return not text[kpos:].strip()


def _line_of(offsets: list[int], pos: int) -> int:
    """1-based line number of ``pos`` given the sorted line-start ``offsets``."""
    lo, hi = 0, len(offsets)
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if offsets[mid] <= pos:
            lo = mid
        else:
            hi = mid
    return lo + 1


def _parse_prefix(cmd: str) -> tuple[list[str], int]:
    """Attribute names and modifiers at the head of ``cmd``, and where the keyword starts."""
    attrs: list[str] = []
    pos = 0
    n = len(cmd)
    while pos < n:
        while pos < n and cmd[pos].isspace():
            pos += 1
        if cmd.startswith("@[", pos):
            end = _matching_bracket(cmd, pos + 1)
            for part in _split_top(cmd[pos + 2 : end - 1], ","):
                words = [w for w in IDENT_RE.findall(part) if w not in ("local", "scoped")]
                if words:
                    attrs.append(words[0])
            pos = end
            continue
        m = re.match(rf"({_MOD_ALT})\b", cmd[pos:])
        if m:
            attrs.append(m.group(1))
            pos += m.end()
            continue
        break
    return attrs, pos


def _split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` at bracket depth 0."""
    out, depth, cur = [], 0, []
    for c in text:
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        if c == sep and depth <= 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    out.append("".join(cur))
    return out


def _signature_end(cmd: str, start: int) -> tuple[int, str]:
    """Where the signature starting at ``start`` stops, and the token that stopped it."""
    depth = 0
    for m in _STOP.finditer(cmd, start):
        tok = m.group()
        if tok in _OPEN:
            depth += 1
        elif tok in _CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0:
            if tok == "|" :
                continue  # `|` inside a line (e.g. `a ∣ b` is another char; `|x|` is abs)
            return m.start(), tok.strip()
    return len(cmd), ""


def _full_name(scopes: list[_Scope], name: str) -> str:
    if name.startswith("_root_."):
        return name[len("_root_.") :]
    prefix = ".".join(s.name for s in scopes if s.kind == "namespace" and s.name)
    return f"{prefix}.{name}" if prefix else name


def _block_items(body: str) -> list[tuple[int, str]]:
    """Lines of ``body`` at its smallest indentation, each with the continuation lines after it.

    Returns ``(offset in body, text)`` pairs; used for fields and ``where`` helpers.
    """
    lines = body.splitlines(keepends=True)
    offs, o = [], 0
    for ln in lines:
        offs.append(o)
        o += len(ln)
    indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
    if not indents:
        return []
    base = min(indents)
    items: list[tuple[int, str]] = []
    for ln, off in zip(lines, offs):
        if not ln.strip():
            if items:
                items[-1] = (items[-1][0], items[-1][1] + ln)
            continue
        ind = len(ln) - len(ln.lstrip(" \t"))
        if ind == base:
            items.append((off + ind, ln.strip()))
        elif items:
            items[-1] = (items[-1][0], items[-1][1] + "\n" + ln.rstrip())
    return items


@dataclass
class _FileParser:
    rel_path: str
    module: str
    clean: str
    docs: dict[int, str]
    raw: str
    line_starts: list[int]
    scopes: list[_Scope] = field(default_factory=list)
    out: list[Declaration] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    prelude: bool = False
    idents: list[tuple[int, str]] = field(default_factory=list)
    ident_starts: list[int] = field(default_factory=list)
    root_opens: list[str] = field(default_factory=list)
    once_opens: list[str] = field(default_factory=list)
    cmd_end: int = 0

    def opens(self) -> tuple[str, ...]:
        """Namespaces opened here (scopes outermost first, then a pending ``open … in``)."""
        out = list(self.root_opens)
        for sc in self.scopes:
            out += sc.opens
        return tuple(dict.fromkeys(out + self.once_opens))

    def refs(self, lo: int, hi: int, sig: str, exclude: str) -> tuple[str, ...]:
        """The proof identifiers at offsets ``[lo, hi)`` of the file."""
        return body_refs(self.idents, self.ident_starts, lo, hi, heads=binder_heads(sig), exclude=exclude)

    def doc_before(self, pos: int) -> str | None:
        """The doc comment ending right before ``pos`` (only whitespace between)."""
        i = pos
        while i > 0 and self.raw[i - 1].isspace():
            i -= 1
        return self.docs.get(i)

    def emit(
        self, name: str, kind: str, sig: str, doc: str | None, attrs: Sequence[str], pos: int,
        refs: tuple[str, ...] = (),
    ) -> None:
        self.out.append(
            Declaration(
                name=_full_name(self.scopes, name),
                kind=_KIND.get(kind, kind),
                signature=normalise(sig),
                docstring=doc,
                attributes=tuple(attrs),
                module=self.module,
                file=self.rel_path,
                line=_line_of(self.line_starts, pos),
                refs=refs,
                opens=self.opens() if refs else (),
            )
        )

    def command(self, start: int, end: int) -> None:
        cmd = self.clean[start:end]
        attrs, kpos = _parse_prefix(cmd)
        m = re.match(r"(class\s+inductive|[a-z_]+|#[a-z_]+)", cmd[kpos:])
        if not m:
            return
        kw = m.group(1)
        after = kpos + m.end()
        self.cmd_end = end
        once, self.once_opens = self.once_opens, []
        if kw in ("open", "export"):
            self.open_command(cmd, start, end, after, kw)
            return
        self.once_opens = once
        if kw in ("namespace", "section"):
            nm = _NAME_AFTER.match(cmd, after)
            self.scopes.append(_Scope(kw, nm.group(1) if nm and kw == "namespace" else (nm.group(1) if nm else "")))
            if kw == "section":
                self.scopes[-1].kind = "section"
        elif kw == "prelude":
            self.prelude = True
        elif kw == "mutual":
            self.scopes.append(_Scope("mutual", ""))
        elif kw == "end":
            if self.scopes:
                self.scopes.pop()
        elif kw in ("import",) or (kw in ("public", "meta") and "import" in cmd[after : after + 20]):
            self.imports += [i.group(1) for i in _IMPORT.finditer(cmd[kpos:])]
        elif kw == "noncomputable" or kw in MODIFIERS:
            return
        elif kw in DECL_KEYWORDS or kw == "class inductive":
            self.declaration(kw, attrs, cmd, start, kpos, after)
        self.once_opens = []

    def open_command(self, cmd: str, start: int, end: int, after: int, kw: str) -> None:
        """``open A B``, ``open A in <command>``, ``open A (x y)``, ``export A (x)``."""
        rest = cmd[after:]
        m = _OPEN_IN.search(rest) if kw == "open" else None
        head = rest[: m.start()] if m else rest
        # only the namespaces: drop `(a b)` lists, `hiding …`, `renaming …`
        head = re.split(r"[(]|\bhiding\b|\brenaming\b", head, maxsplit=1)[0]
        names = [n for n in _OPEN_NAMES.findall(head) if n not in ("scoped", "in")]
        if m is None:
            (self.scopes[-1].opens if self.scopes else self.root_opens).extend(names)
            return
        self.once_opens = names
        inner = after + m.end()
        if cmd[inner:].strip():  # `open A in theorem …` on one line
            off = len(cmd[inner:]) - len(cmd[inner:].lstrip())
            self.command(start + inner + off, end)

    def declaration(self, kw: str, attrs: list[str], cmd: str, start: int, kpos: int, after: int) -> None:
        doc = self.doc_before(start) or self.doc_before(start + kpos)
        pos = start + kpos
        if kw == "example":
            return
        if kw == "alias":
            self.alias(cmd, after, attrs, doc, pos)
            return
        kind = "inductive" if kw == "class inductive" else kw
        name_pos = after
        if kind == "instance":
            while True:  # skip `(priority := ...)` and attribute kinds
                j = name_pos
                while j < len(cmd) and cmd[j] in " \t\n":
                    j += 1
                if cmd.startswith("(priority", j):
                    name_pos = _matching_bracket(cmd, j)
                    continue
                break
        nm = _NAME_AFTER.match(cmd, name_pos)
        if nm is None or (kind == "instance" and nm.group(1) in ("where",)):
            return  # anonymous instance or malformed
        name = nm.group(1)
        sig_end, stop = _signature_end(cmd, nm.end())
        sig = cmd[kpos:sig_end]
        refs: tuple[str, ...] = ()
        if kind in ("def", "theorem", "lemma", "abbrev", "instance", "opaque"):
            refs = self.refs(start + sig_end, start + len(cmd), sig, name)
        self.emit(name, kind, sig, doc, attrs, pos, refs)
        body = cmd[sig_end:]
        body_off = start + sig_end
        full = name
        if kind in ("structure", "class"):
            self.structure_members(full, body, body_off, stop, attrs)
        elif kind == "inductive":
            self.constructors(full, body, body_off)
        elif kind in ("def", "theorem", "lemma", "abbrev", "instance", "opaque"):
            self.where_helpers(full, kind, body, body_off, stop, attrs)

    def alias(self, cmd: str, after: int, attrs: list[str], doc: str | None, pos: int) -> None:
        text = cmd[after:]
        head = text.split(":=", 1)[0]
        names = IDENT_RE.findall(head)
        sig = "alias " + text
        for n in names:
            if n != "_":
                self.emit(n, "alias", sig, doc, attrs, pos)

    def structure_members(self, sname: str, body: str, body_off: int, stop: str, attrs: list[str]) -> None:
        ctor = "mk"
        ctor_pos = body_off
        if stop == "where":
            inner = body[len("where") :]
            inner_off = body_off + len("where")
            d = re.search(r"\bderiving\b", inner)
            if d:
                inner = inner[: d.start()]
            for off, item in _block_items(inner):
                cm = re.match(rf"({IDENT})\s*::", item)
                if cm:
                    ctor, ctor_pos = cm.group(1), inner_off + off
                    item = item[cm.end() :].strip()
                    if not item:
                        continue
                self.field(sname, item, inner_off + off)
        self.emit(f"{sname}.{ctor}", "constructor", ctor, self.doc_before(ctor_pos), (), ctor_pos)

    def field(self, sname: str, item: str, pos: int) -> None:
        text = item.strip()
        if text.startswith(("(", "{", "[", "⦃")):
            inner_end = _matching_bracket(text, 0)
            text = text[1 : inner_end - 1].strip()
        m = _FIELD_NAMES.match(text)
        if m is None or text[m.end() :].lstrip().startswith(":="):
            return  # not a field, or `x := default` overriding an inherited field's default
        for n in m.group(1).split():
            self.emit(f"{sname}.{n}", "field", item.strip(), self.doc_before(pos), (), pos)

    def constructors(self, iname: str, body: str, body_off: int) -> None:
        d = re.search(r"\bderiving\b", body)
        if d:
            body = body[: d.start()]
        depth = 0
        bars: list[int] = []
        for i, c in enumerate(body):
            if c in _OPEN:
                depth += 1
            elif c in _CLOSE:
                depth -= 1
            elif c == "|" and depth == 0:
                bars.append(i)
        for k, b in enumerate(bars):
            end = bars[k + 1] if k + 1 < len(bars) else len(body)
            piece = body[b + 1 : end]
            nm = _NAME_AFTER.match(piece)
            if nm is None:
                continue
            p = body_off + b
            self.emit(f"{iname}.{nm.group(1)}", "constructor", piece, self.doc_before(p), (), p)

    def where_helpers(self, parent: str, kind: str, body: str, body_off: int, stop: str, attrs: list[str]) -> None:
        if stop == "where":
            return  # `instance ... where` / `def ... where` fields are structure-instance fields
        depth = 0
        wpos = -1
        for m in re.finditer(r"[(\[{⟨⦃)\]}⟩⦄]|\bwhere\b", body):
            t = m.group()
            if t in _OPEN:
                depth += 1
            elif t in _CLOSE:
                depth = max(0, depth - 1)
            elif depth == 0:
                wpos = m.end()
                break
        if wpos < 0:
            return
        block = body[wpos:]
        cut = re.search(r"\n(?:termination_by|decreasing_by)\b", block)
        if cut:
            block = block[: cut.start()]
        items = _block_items(block)
        for i, (off, item) in enumerate(items):
            item_attrs, p = _parse_prefix(item)
            nm = _NAME_AFTER.match(item, p)
            if nm is None or nm.group(1) in ("termination_by", "decreasing_by"):
                continue
            sig_end, _ = _signature_end(item, nm.end())
            at = body_off + wpos + off
            hi = body_off + wpos + items[i + 1][0] if i + 1 < len(items) else body_off + wpos + len(block)
            sig = item[p:sig_end]
            refs = self.refs(at + len(sig), hi, sig, nm.group(1))
            self.emit(f"{parent}.{nm.group(1)}", kind, sig, self.doc_before(at), item_attrs, at, refs)


def extract_text(text: str, rel_path: str, module: str | None = None) -> FileResult:
    """Declarations and imports of one file's ``text`` (``rel_path`` relative to its root)."""
    mod = module if module is not None else module_name(rel_path)
    lexed = blank_comments_and_strings(text)
    clean = lexed.clean
    line_starts = [0] + [m.end() for m in re.finditer("\n", clean)]
    parser = _FileParser(rel_path, mod, clean, lexed.docs, text, line_starts)
    parser.idents = lexed.idents
    parser.ident_starts = [o for o, _ in lexed.idents]
    starts = _split_commands(clean)
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(clean)
        parser.command(s, e)
    return FileResult(
        file=rel_path, module=mod, imports=parser.imports, declarations=parser.out, prelude=parser.prelude
    )


def extract_file(path: Path, root: Path) -> FileResult:
    """Extract one file; undecodable or unlexable files come back with ``error`` set."""
    rel = path.relative_to(root).as_posix()
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        return FileResult(file=rel, module=module_name(rel), error=f"not UTF-8: {e.reason} at byte {e.start}")
    except OSError as e:
        return FileResult(file=rel, module=module_name(rel), error=f"unreadable: {e.strerror}")
    try:
        return extract_text(text, rel)
    except LexError as e:
        return FileResult(file=rel, module=module_name(rel), error=str(e))
    except Exception as e:  # a parser bug must cost one file, not the index
        log.exception("extraction failed for %s", path)
        return FileResult(file=rel, module=module_name(rel), error=f"internal error: {e!r}")


def _extract_batch(batch: list[tuple[str, str]]) -> list[FileResult]:
    return [extract_file(Path(p), Path(r)) for p, r in batch]


def extract_files(
    files: Sequence[tuple[Path, Path]],
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    pool_threshold: int = 200,
) -> list[FileResult]:
    """Extract ``(path, root)`` pairs, with a process pool for big trees.

    ``progress(done, total)`` is called as batches finish. Results keep the input order.
    """
    total = len(files)
    if total < pool_threshold or (workers is not None and workers <= 1):
        results = []
        for i, (p, r) in enumerate(files):
            results.append(extract_file(p, r))
            if progress and (i % 50 == 0 or i + 1 == total):
                progress(i + 1, total)
        return results
    workers = workers or max(1, min(os.cpu_count() or 1, 8))
    size = max(20, min(200, total // (workers * 8) or 1))
    batches = [[(str(p), str(r)) for p, r in files[i : i + size]] for i in range(0, total, size)]
    results: list[FileResult] = []
    done = 0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for batch_result in pool.map(_extract_batch, batches):
            results.extend(batch_result)
            done += len(batch_result)
            if progress:
                progress(done, total)
    return results


def iter_lean_files(root: Path, *, skip_dirs: Iterable[str] = (".lake", "lake-packages", "build", ".git")) -> list[Path]:
    """All ``.lean`` files under ``root``, sorted, skipping build and package folders."""
    skip = set(skip_dirs)
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip and not d.startswith("."))
        found += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(".lean")]
    return found
