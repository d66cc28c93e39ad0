"""The records the premise index stores and returns: ``Declaration`` and ``PremiseHit``."""
from __future__ import annotations

import msgspec

#: Bump when the meaning or extraction of a ``Declaration``, or its tokenization, changes; stored indexes
#: built by another extractor version are rebuilt.
EXTRACTOR_VERSION = 5


class Declaration(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One named declaration of the environment, however it was extracted.

    ``name`` is the full name (namespaces included), ``kind`` one of ``theorem``, ``def``,
    ``abbrev``, ``instance``, ``structure``, ``class``, ``inductive``, ``axiom``,
    ``opaque``, ``constructor``, ``field``, ``alias``; ``signature`` is the statement text
    (whitespace-normalised, no comments, no proof); ``attributes`` holds attribute names
    (``simp``, ``ext``...) and modifiers (``private``, ``protected``...); ``file`` is the
    path relative to its source root and ``line`` is 1-based. ``refs`` are the identifiers the
    proof (or body) mentions, as written (``@`` and ``_root_`` kept off, dot notation on a
    binder of evident type rewritten to ``Head.field``), unresolved; ``opens`` the namespaces
    opened where it was declared (``open``, ``open … in``, ``export``). ``copilot.premises.deps``
    resolves them against the index; the Lean extractor fills ``refs`` with exact full names.
    """

    name: str
    kind: str
    signature: str
    docstring: str | None
    attributes: tuple[str, ...]
    module: str
    file: str
    line: int
    refs: tuple[str, ...] = ()
    opens: tuple[str, ...] = ()


class PremiseHit(msgspec.Struct, frozen=True):
    """One search result; ``score`` is higher-is-better and only comparable within one search."""

    name: str
    kind: str
    signature: str
    module: str
    file: str
    line: int
    score: float
    docstring: str | None = None

    @classmethod
    def from_declaration(cls, decl: Declaration, score: float) -> PremiseHit:
        """A hit for ``decl`` with ``score``."""
        return cls(
            name=decl.name,
            kind=decl.kind,
            signature=decl.signature,
            module=decl.module,
            file=decl.file,
            line=decl.line,
            score=float(score),
            docstring=decl.docstring,
        )

