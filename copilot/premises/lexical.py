"""Lexical BM25 retrieval: a frozen base index built by ``bm25s`` plus a small delta.

The base holds bm25s's precomputed score matrix (CSC arrays, one column per token) and
never changes after a build. Edits go to the *delta*: the changed files' documents, scored
with the base's collection statistics (idf, average length) so that base and delta scores
are on one scale, and *tombstones* that hide the base documents they replace. Replacing a
file's documents therefore costs time proportional to that file, not to the corpus.

Document ids: base documents are ``0..n_base-1`` and delta documents follow them.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Tuned on the premise-eval dev queries (bench/premise_eval.py): short, name-heavy documents.
K1 = 2.0
B = 0.9
#: Postings read per query at most (see ``LexicalIndex.scores``).
MAX_POSTINGS = 100_000
_EMPTY = ""


@dataclass
class BaseArrays:
    """bm25s's score matrix in CSC form plus what the delta needs to score like it."""

    data: np.ndarray  # float32 scores, grouped by token
    indices: np.ndarray  # int32 document ids
    indptr: np.ndarray  # int64, len(vocab)+1
    vocab: dict[str, int]
    n_docs: int
    avg_doc_len: float

    def idf(self, token: str, extra_df: int = 0) -> float:
        """Lucene idf of ``token`` against the base (plus ``extra_df`` delta documents)."""
        tid = self.vocab.get(token)
        df = extra_df + (int(self.indptr[tid + 1] - self.indptr[tid]) if tid is not None else 0)
        return math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))


def build_base(corpus_tokens: Sequence[Sequence[str]]) -> BaseArrays:
    """Index ``corpus_tokens`` (one token list per document) with bm25s (Lucene BM25)."""
    import bm25s

    docs = [list(t) if t else [_EMPTY] for t in corpus_tokens]
    if not docs:
        return BaseArrays(
            np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(1, np.int64), {}, 0, 1.0
        )
    retriever = bm25s.BM25(k1=K1, b=B, method="lucene")
    retriever.index(docs, show_progress=False, create_empty_token=False)
    s = retriever.scores
    return BaseArrays(
        data=np.asarray(s["data"], dtype=np.float32),
        indices=np.asarray(s["indices"], dtype=np.int32),
        indptr=np.asarray(s["indptr"], dtype=np.int64),
        vocab=dict(retriever.vocab_dict),
        n_docs=int(s["num_docs"]),
        avg_doc_len=float(np.mean([len(d) for d in docs])),
    )


@dataclass
class LexicalIndex:
    """Base + delta + tombstones; ``scores(query)`` gives one score per document id."""

    base: BaseArrays
    tombstones: np.ndarray = field(default=None)  # bool per base document
    delta_tokens: list[list[str]] = field(default_factory=list)
    _delta_postings: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.tombstones is None:
            self.tombstones = np.zeros(self.base.n_docs, dtype=bool)
        self._dead = np.flatnonzero(self.tombstones)
        self._rebuild_delta()

    @property
    def n_docs(self) -> int:
        return self.base.n_docs + len(self.delta_tokens)

    def replace(self, remove_base: Sequence[int], delta_tokens: list[list[str]]) -> None:
        """Tombstone ``remove_base`` documents and make ``delta_tokens`` the whole delta."""
        if len(remove_base):
            self.tombstones[np.asarray(remove_base, dtype=np.int64)] = True
        self._dead = np.flatnonzero(self.tombstones)  # callers set `tombstones`, then call this
        self.delta_tokens = delta_tokens
        self._rebuild_delta()

    @property
    def _any_tombstone(self) -> bool:
        return bool(self.tombstones.any())

    def _rebuild_delta(self) -> None:
        """Score the delta documents with the base's statistics (bm25s's Lucene formula)."""
        postings: dict[str, tuple[list[int], list[float]]] = {}
        dfs = Counter(t for doc in self.delta_tokens for t in set(doc))
        avg = self.base.avg_doc_len or 1.0
        idf_cache: dict[str, float] = {}
        for i, doc in enumerate(self.delta_tokens):
            dl = len(doc)
            norm = K1 * ((1 - B) + B * dl / avg)
            for tok, tf in Counter(doc).items():
                idf = idf_cache.get(tok)
                if idf is None:
                    # tokens new to the base count their delta documents toward df
                    extra = dfs[tok] if tok not in self.base.vocab else 0
                    idf = idf_cache[tok] = self.base.idf(tok, extra)
                ids, vals = postings.setdefault(tok, ([], []))
                ids.append(i)
                vals.append(idf * tf / (norm + tf))
        self._delta_postings = {
            t: (np.asarray(ids, np.int64), np.asarray(vals, np.float32)) for t, (ids, vals) in postings.items()
        }

    def scores(self, query_tokens: Sequence[str], *, max_postings: int = MAX_POSTINGS) -> np.ndarray:
        """BM25 score of every document (base then delta) for ``query_tokens``.

        A token repeated in the query counts that many times (how callers weight parts).
        Tombstoned documents score 0. Tokens are taken rarest first while their postings fit
        in ``max_postings``; the very common ones left out (``eq``, ``add`` in Mathlib) have
        near-zero idf and only cost time.
        """
        weights = Counter(query_tokens)
        n_base = self.base.n_docs
        idx_parts: list[np.ndarray] = []
        val_parts: list[np.ndarray] = []
        b = self.base
        terms = []
        for tok, w in weights.items():
            tid = b.vocab.get(tok)
            if tid is not None:
                s, e = int(b.indptr[tid]), int(b.indptr[tid + 1])
                terms.append((e - s, s, e, w))
            dp = self._delta_postings.get(tok)
            if dp is not None:
                idx_parts.append(dp[0] + n_base)
                val_parts.append(dp[1] * w if w != 1 else dp[1])
        terms.sort()
        budget = max_postings
        for df, s, e, w in terms:
            if df > budget and budget < max_postings:
                break
            budget -= df
            idx_parts.append(b.indices[s:e])
            val_parts.append(b.data[s:e] * w if w != 1 else b.data[s:e])
        total = self.n_docs
        if not idx_parts:
            return np.zeros(total, dtype=np.float32)
        idx = np.concatenate(idx_parts)
        vals = np.concatenate(val_parts)
        out = np.bincount(idx, weights=vals, minlength=total)  # float64: no extra conversion pass
        if len(self._dead):
            out[self._dead] = 0.0
        return out

    # -- persistence -------------------------------------------------------------------

    def save_base(self, folder: Path) -> None:
        """Write the base arrays as ``.npy`` files plus the vocabulary."""
        import msgspec

        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "lex_data.npy", self.base.data)
        np.save(folder / "lex_indices.npy", self.base.indices)
        np.save(folder / "lex_indptr.npy", self.base.indptr)
        tokens = [""] * len(self.base.vocab)
        for t, i in self.base.vocab.items():
            tokens[i] = t
        meta = {"tokens": tokens, "n_docs": self.base.n_docs, "avg_doc_len": self.base.avg_doc_len}
        (folder / "lex_vocab.msgpack").write_bytes(msgspec.msgpack.encode(meta))

    @staticmethod
    def load_base(folder: Path, *, mmap: bool = True) -> BaseArrays:
        """Read arrays written by ``save_base`` (memory-mapped by default)."""
        import msgspec

        mode = "r" if mmap else None
        meta = msgspec.msgpack.decode((folder / "lex_vocab.msgpack").read_bytes())
        base = BaseArrays(
            data=np.load(folder / "lex_data.npy", mmap_mode=mode),
            indices=np.load(folder / "lex_indices.npy", mmap_mode=mode),
            indptr=np.load(folder / "lex_indptr.npy"),
            vocab={t: i for i, t in enumerate(meta["tokens"])},
            n_docs=int(meta["n_docs"]),
            avg_doc_len=float(meta["avg_doc_len"]),
        )
        if len(base.indptr) != len(base.vocab) + 1 or len(base.data) != len(base.indices):
            raise ValueError("lexical index arrays are inconsistent")
        if len(base.indices) and int(base.indices.max(initial=0)) >= max(base.n_docs, 1):
            raise ValueError("lexical index refers to documents that do not exist")
        return base
