"""The learned signals' data: a statement-feature index and the proof graph, base + delta.

``FeatureIndex`` holds, for every document, its statement features (``features.py``) as an
inverted index (feature -> documents, CSC arrays for the frozen base, a dict for the delta,
tombstones for replaced base documents), like ``lexical.LexicalIndex``. One pass over the
query's features gives, per document, the idf-weighted overlap and the number of shared
features; k-NN (MaSh) and symbol relevance (MePo) are computed from those.

``ProofGraph`` holds each proved declaration's premises (CSR arrays for the base, a dict for
the delta) and the damped popularity of every document.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

#: Postings read per query pass at most (rarest features first); common ones carry no signal.
MAX_POSTINGS = 20_000


@dataclass
class FeatureBase:
    """CSC arrays: documents of feature ``f`` are ``indices[indptr[f]:indptr[f+1]]``."""

    indices: np.ndarray  # int32 document ids
    indptr: np.ndarray  # int64, len(vocab)+1
    vocab: dict[str, int]
    n_docs: int
    n_const: np.ndarray  # int16 per document: number of ``c:`` features
    norm: np.ndarray = field(default=None)  # type: ignore[assignment]  # float32 sqrt(sum idf^2)

    @classmethod
    def build(cls, doc_features: Sequence[Iterable[str]]) -> FeatureBase:
        """Index ``doc_features`` (one feature collection per document)."""
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        n_const = np.zeros(len(doc_features), np.int16)
        for d, feats in enumerate(doc_features):
            nc = 0
            for f in feats:
                fid = vocab.get(f)
                if fid is None:
                    fid = vocab[f] = len(vocab)
                rows.append(d)
                cols.append(fid)
                nc += f.startswith("c:")
            n_const[d] = min(nc, 32767)
        r = np.asarray(rows, np.int32)
        c = np.asarray(cols, np.int64)
        order = np.argsort(c, kind="stable")
        indptr = np.zeros(len(vocab) + 1, np.int64)
        np.cumsum(np.bincount(c, minlength=len(vocab)), out=indptr[1:])
        base = cls(r[order], indptr, vocab, len(doc_features), n_const)
        base.norm = base.norms(r, c)
        return base

    def idf_array(self) -> np.ndarray:
        """log((N+1)/(df+1)) per feature id."""
        df = np.diff(self.indptr).astype(np.float64)
        return np.log((self.n_docs + 1) / (df + 1))

    def norms(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """sqrt of the sum of squared idf of each document's features."""
        idf = self.idf_array()
        sq = np.bincount(rows, weights=idf[cols] ** 2, minlength=self.n_docs)
        return np.sqrt(sq).astype(np.float32)

    def df(self, feature: str) -> int:
        fid = self.vocab.get(feature)
        return 0 if fid is None else int(self.indptr[fid + 1] - self.indptr[fid])


@dataclass
class FeatureIndex:
    """Base + delta + tombstones over statement features."""

    base: FeatureBase
    tombstones: np.ndarray = field(default=None)  # type: ignore[assignment]
    delta: list[tuple[str, ...]] = field(default_factory=list)
    _delta_postings: dict[str, list[int]] = field(default_factory=dict)
    _delta_const: np.ndarray = field(default=None)  # type: ignore[assignment]
    _delta_norm: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.tombstones is None:
            self.tombstones = np.zeros(self.base.n_docs, bool)
        self.set_delta(self.delta)

    @property
    def n_docs(self) -> int:
        return self.base.n_docs + len(self.delta)

    def set_delta(self, delta: list[tuple[str, ...]]) -> None:
        """Make ``delta`` (features of the delta documents, in order) the whole delta."""
        self.delta = delta
        post: dict[str, list[int]] = {}
        for i, feats in enumerate(delta):
            for f in feats:
                post.setdefault(f, []).append(i)
        self._delta_postings = post
        self._delta_const = np.asarray([sum(f.startswith("c:") for f in fs) for fs in delta], np.int16)
        self._delta_norm = np.asarray(
            [math.sqrt(sum(self.idf(f) ** 2 for f in fs)) for fs in delta], np.float32
        )
        self._norm = np.concatenate([self.base.norm, self._delta_norm])
        self._n_const = np.concatenate([self.base.n_const, self._delta_const])

    def norm(self) -> np.ndarray:
        """Feature-vector norm of every document (base then delta)."""
        return self._norm

    def n_const(self) -> np.ndarray:
        """Number of constants of every document (base then delta)."""
        return self._n_const

    def idf(self, feature: str) -> float:
        """log(N / df) over base and delta."""
        df = self.base.df(feature) + len(self._delta_postings.get(feature, ()))
        return math.log((self.n_docs + 1) / (df + 1))

    def overlap_sparse(
        self, weights: dict[str, float], *, max_postings: int = MAX_POSTINGS
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The documents sharing a feature with ``weights`` (sorted, tombstoned ones left out), the
        sum of the shared features' weights and how many they share, as compact arrays.

        Features are read rarest first within ``max_postings``; the work follows the postings
        read, not the corpus size.
        """
        b = self.base
        n_base = b.n_docs
        terms = []
        idx_parts: list[np.ndarray] = []
        val_parts: list[np.ndarray] = []
        for f, w in weights.items():
            fid = b.vocab.get(f)
            if fid is not None:
                s, e = int(b.indptr[fid]), int(b.indptr[fid + 1])
                terms.append((e - s, s, e, w))
            dp = self._delta_postings.get(f)
            if dp:
                idx_parts.append(np.asarray(dp, np.int64) + n_base)
                val_parts.append(np.full(len(dp), w))
        terms.sort(key=lambda t: t[0])
        budget = max_postings
        lens: list[int] = []
        ws: list[float] = []
        for df, s, e, w in terms:
            if df > budget and budget < max_postings:
                break
            budget -= df
            idx_parts.append(b.indices[s:e].astype(np.int64))
            lens.append(e - s)
            ws.append(w)
        if not idx_parts:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        idx = np.concatenate(idx_parts)
        val_parts.append(np.repeat(np.asarray(ws), lens))
        vals = np.concatenate(val_parts)
        docs, inv = np.unique(idx, return_inverse=True)
        sums = np.bincount(inv, weights=vals)
        counts = np.bincount(inv).astype(np.float64)
        dead = self.dead()
        if len(dead):
            keep = ~np.isin(docs, dead)
            docs, sums, counts = docs[keep], sums[keep], counts[keep]
        return docs, sums, counts

    def overlap(
        self, weights: dict[str, float], *, count: bool = False, max_postings: int = MAX_POSTINGS
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``overlap_sparse`` as dense per-document arrays (zero where nothing is shared)."""
        docs, sums, counts = self.overlap_sparse(weights, max_postings=max_postings)
        out = np.zeros(self.n_docs)
        out[docs] = sums
        cnt = None
        if count:
            cnt = np.zeros(self.n_docs)
            cnt[docs] = counts
        return out, cnt

    def dead(self) -> np.ndarray:
        """Ids of the tombstoned base documents (cached until the tombstones change)."""
        cached = getattr(self, "_dead", None)
        if cached is None or cached[0] is not self.tombstones:
            cached = (self.tombstones, np.flatnonzero(self.tombstones))
            self._dead = cached
        return cached[1]

    # -- persistence -------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        """The base as arrays to store with a snapshot (the vocabulary goes separately)."""
        return {
            "feat_indices": self.base.indices, "feat_indptr": self.base.indptr,
            "feat_nconst": self.base.n_const, "feat_norm": self.base.norm,
        }

    def vocab_list(self) -> list[str]:
        out = [""] * len(self.base.vocab)
        for t, i in self.base.vocab.items():
            out[i] = t
        return out

    @staticmethod
    def base_from(arrays: dict[str, np.ndarray], vocab: list[str], n_docs: int) -> FeatureBase:
        """The inverse of ``arrays``/``vocab_list``; ``ValueError`` when they do not fit."""
        base = FeatureBase(
            arrays["feat_indices"], arrays["feat_indptr"], {t: i for i, t in enumerate(vocab)}, n_docs,
            arrays["feat_nconst"], arrays["feat_norm"],
        )
        if len(base.indptr) != len(vocab) + 1 or len(base.n_const) != n_docs or len(base.norm) != n_docs:
            raise ValueError("feature index arrays are inconsistent")
        if len(base.indices) and int(base.indices.max(initial=0)) >= max(n_docs, 1):
            raise ValueError("feature index refers to documents that do not exist")
        return base


@dataclass
class ProofGraph:
    """Premises of proved documents (base CSR + delta dict) and popularity per document."""

    indptr: np.ndarray  # int64, n_base+1
    indices: np.ndarray  # int32 premise document ids
    n_docs: int = 0
    delta: dict[int, list[int]] = field(default_factory=dict)  # delta doc -> premises
    hidden: np.ndarray = field(default=None)  # type: ignore[assignment]  # base sources replaced
    remap: dict[int, int] = field(default_factory=dict)  # tombstoned base premise -> its new doc
    usage: np.ndarray = field(default=None)  # type: ignore[assignment]

    @classmethod
    def build(cls, premises: Sequence[Sequence[int]], n_docs: int) -> ProofGraph:
        """From one premise list per base document (empty for unproved ones)."""
        indptr = np.zeros(len(premises) + 1, np.int64)
        np.cumsum([len(p) for p in premises], out=indptr[1:])
        flat = [d for p in premises for d in p]
        g = cls(indptr, np.asarray(flat, np.int32), n_docs)
        g.refresh()
        return g

    @property
    def n_base(self) -> int:
        return len(self.indptr) - 1

    def set_delta(self, delta: dict[int, list[int]], hidden: np.ndarray, remap: dict[int, int], n_docs: int) -> None:
        """Replace the delta: premises of delta documents, hidden base sources, premise remapping."""
        self.delta, self.hidden, self.remap, self.n_docs = delta, hidden, remap, n_docs
        self.refresh()

    def refresh(self) -> None:
        """Recompute ``usage`` (how many proofs use each document) and ``proved`` from base and delta."""
        self._proved = None
        n = max(self.n_docs, self.n_base)
        src_counts = np.diff(self.indptr)
        if self.hidden is not None and self.hidden.any():
            keep = np.repeat(~self.hidden, src_counts)
            used = self.indices[keep]
        else:
            used = self.indices
        usage = np.bincount(used, minlength=n).astype(np.float32)[:n]
        if self.remap:
            for old, new in self.remap.items():
                if new >= 0:
                    usage[new] += usage[old]
                usage[old] = 0
        for prem in self.delta.values():
            for p in prem:
                usage[p] += 1
        self.usage = usage
        self.max_usage = float(usage.max(initial=0.0))

    def premises_of(self, doc: int) -> np.ndarray:
        """Premise documents of ``doc`` (remapped past replaced files)."""
        if doc < self.n_base:
            if self.hidden is not None and len(self.hidden) and self.hidden[doc]:
                return np.zeros(0, np.int32)
            p = self.indices[self.indptr[doc] : self.indptr[doc + 1]]
            if self.remap:
                p = np.asarray([self.remap.get(int(x), int(x)) for x in p], np.int32)
                p = p[p >= 0]
            return p
        return np.asarray(self.delta.get(doc, ()), np.int32)

    def edges(self) -> int:
        """How many (proof, premise) pairs are known now (replaced proofs left out)."""
        per_source = np.diff(self.indptr)
        if self.hidden is not None and len(self.hidden):
            per_source = per_source[~self.hidden[: len(per_source)]]
        return int(per_source.sum()) + sum(len(p) for p in self.delta.values())

    def proved(self) -> np.ndarray:
        """Bool per document: has at least one known premise (a cached array: do not modify)."""
        if getattr(self, "_proved", None) is not None:
            return self._proved
        self._proved = self._compute_proved()
        return self._proved

    def _compute_proved(self) -> np.ndarray:
        n = max(self.n_docs, self.n_base)
        out = np.zeros(n, bool)
        out[: self.n_base] = np.diff(self.indptr) > 0
        if self.hidden is not None and len(self.hidden):
            out[: self.n_base] &= ~self.hidden
        for d, p in self.delta.items():
            out[d] = bool(p)
        return out

