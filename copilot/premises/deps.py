"""Proof dependencies: resolve the identifiers a proof mentions to declarations of the index.

Resolution follows Lean's name lookup as far as text allows: a name ``x`` used in a
declaration ``A.B.thm`` is tried as ``A.B.x``, ``A.x``, ``x``, then under every opened
namespace (``open``, ``open … in``, ``export``); ``_root_.x`` is absolute; ``protected``
names are not found through their last component alone; ``private`` names only in their own
file; when ``foo.bar.mp`` does not resolve, trailing components are dropped (field notation on
a constant). The declaration itself and its ``where`` helpers are not its premises.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .records import Declaration

#: Kinds that can be premises of a proof (what a proof *uses* as a lemma).
PREMISE_KINDS = frozenset({"theorem", "axiom", "alias", "constructor", "field"})
#: Kinds whose body is a proof or definition worth learning from.
PROVED_KINDS = frozenset({"theorem"})


class NameTable:
    """Full name -> document id, with what resolution needs (protected, private file)."""

    def __init__(self, base: NameTable | None = None, dead: np.ndarray | None = None) -> None:
        """An empty table; with ``base``, names missing here are looked up there, except the
        documents ``dead`` marks (base documents replaced since)."""
        self.base = base
        self.dead = dead
        self.ids: dict[str, int] = {}
        self._protected: set[int] = set()
        self._private_file: dict[int, str] = {}
        self._cache: dict[tuple[str, tuple[str, ...], str], int] = {}

    def add(self, doc: int, decl: Declaration) -> None:
        """Register ``decl`` as document ``doc`` (a later one of the same name wins)."""
        self.ids[decl.name] = doc
        if "protected" in decl.attributes:
            self._protected.add(doc)
        if "private" in decl.attributes:
            self._private_file[doc] = decl.file
        self._cache.clear()

    def remove(self, name: str, doc: int) -> None:
        """Forget ``name`` if it still points at ``doc``."""
        if self.ids.get(name) == doc:
            del self.ids[name]
            self._cache.clear()

    @classmethod
    def of(cls, decls: Sequence[Declaration], alive: Sequence[bool] | None = None) -> NameTable:
        """A table over ``decls`` (document ids are their positions)."""
        t = cls()
        for i, d in enumerate(decls):
            if alive is None or alive[i]:
                t.add(i, d)
        return t

    def _lookup(self, name: str, via_short: bool, file: str) -> int:
        doc = self.ids.get(name, -1)
        table = self
        if doc < 0 and self.base is not None:
            doc = self.base.ids.get(name, -1)
            if doc >= 0 and self.dead is not None and doc < len(self.dead) and self.dead[doc]:
                doc = -1
            table = self.base
        if doc < 0:
            return -1
        if via_short and doc in table._protected:
            return -1
        pf = table._private_file.get(doc)
        if pf is not None and pf != file:
            return -1
        return doc

    def resolve(self, ident: str, decl: Declaration) -> int:
        """Document id ``ident`` names inside ``decl``'s body, or -1."""
        ns = decl.name.rsplit(".", 1)[0] if "." in decl.name else ""
        key = (ident, decl.opens, ns)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        doc = self._resolve(ident, ns, decl.opens, decl.file)
        if len(self._cache) > 200_000:
            self._cache.clear()
        self._cache[key] = doc
        return doc

    def _resolve(self, ident: str, ns: str, opens: tuple[str, ...], file: str) -> int:
        if ident.startswith("_root_."):
            return self._lookup(ident[len("_root_.") :], False, file)
        name = ident
        while True:
            short = "." not in name
            prefix = ns
            while True:
                full = f"{prefix}.{name}" if prefix else name
                doc = self._lookup(full, short and bool(prefix), file)
                if doc >= 0:
                    return doc
                if not prefix:
                    break
                prefix = prefix.rsplit(".", 1)[0] if "." in prefix else ""
            for o in opens:
                doc = self._lookup(f"{o}.{name}", short, file)
                if doc >= 0:
                    return doc
            if "." not in name:
                return -1
            name = name.rsplit(".", 1)[0]  # `foo.bar.mp`: field notation on `foo.bar`

    def premises(self, decl: Declaration, decl_of: Callable[[int], Declaration], *, self_doc: int = -1) -> list[int]:
        """The premise documents of ``decl``'s proof: resolved refs of a premise kind, unique,
        without ``decl`` itself and its own ``where`` helpers (``decl_of`` maps ids to records)."""
        out: dict[int, None] = {}
        own = decl.name + "."
        for ref in decl.refs:
            doc = self.resolve(ref, decl)
            if doc < 0 or doc == self_doc or doc in out:
                continue
            d = decl_of(doc)
            if d.kind in PREMISE_KINDS and d.name != decl.name and not d.name.startswith(own):
                out[doc] = None
        return list(out)
