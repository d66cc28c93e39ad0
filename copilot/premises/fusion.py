"""Ranking helpers: masked top-k and fusion of lexical and dense rankings.

Three fusions are offered and compared in ``bench/premise_eval.py``: reciprocal-rank fusion
(``rrf``), a weighted sum of min-max-normalised scores (``weighted``) and a weighted sum of
standardised scores (``zscore``, the default: it measured best).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RRF_K = 60.0


def top_k(scores: np.ndarray, k: int, mask: np.ndarray | None = None, *, positive_only: bool = False) -> np.ndarray:
    """Ids of the ``k`` best documents (best first), among ``mask`` if given.

    With ``positive_only`` only documents scoring above zero qualify, which lets the
    selection work on the (usually small) set of documents a query touched.
    """
    if k <= 0 or len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    if positive_only:
        cand = np.flatnonzero(scores > 0)
    else:
        cand = np.flatnonzero(np.isfinite(scores))
    if mask is not None and len(cand):
        cand = cand[mask[cand]]
    if len(cand) == 0:
        return np.zeros(0, dtype=np.int64)
    return cand[best_positions(scores[cand], k)]


def best_positions(vals: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest ``vals``, largest first (exact).

    For long arrays a threshold is taken first: the k-th largest of a strided sample is
    exceeded by at least k values of the whole array, so only those few are partitioned.
    """
    n = len(vals)
    if n <= k:
        part = np.arange(n)
    else:
        pool = np.arange(n)
        if n > 64 * k:
            sample = vals[:: n // (16 * k)]
            threshold = np.partition(sample, len(sample) - k)[len(sample) - k]
            pool = np.flatnonzero(vals >= threshold)
        sub = vals[pool]
        part = pool[np.argpartition(-sub, k - 1)[:k]] if len(pool) > k else pool
    return part[np.argsort(-vals[part], kind="stable")]


def rrf(rankings: Sequence[np.ndarray], weights: Sequence[float] | None = None, k: float = RRF_K) -> dict[int, float]:
    """Reciprocal-rank fusion: ``sum_i w_i / (k + rank_i)`` over the rankings a document is in."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        for r, doc in enumerate(ranking.tolist()):
            fused[doc] = fused.get(doc, 0.0) + w / (k + r + 1)
    return fused


def weighted(
    lexical: np.ndarray, dense: np.ndarray, candidates: np.ndarray, dense_weight: float
) -> dict[int, float]:
    """``(1-w) * lex/max(lex) + w * (dense - floor)/(max - floor)`` over ``candidates``.

    Both scores are scaled per query so they are on [0, 1] among the candidates; ``floor``
    is the lowest dense score among them.
    """
    if len(candidates) == 0:
        return {}
    lex = lexical[candidates].astype(np.float64)
    den = dense[candidates].astype(np.float64)
    lmax = lex.max()
    lex = lex / lmax if lmax > 0 else lex * 0
    lo, hi = den.min(), den.max()
    den = (den - lo) / (hi - lo) if hi > lo else den * 0
    fused = (1 - dense_weight) * lex + dense_weight * den
    return dict(zip(candidates.tolist(), fused.tolist()))


def zscore(
    lexical: np.ndarray, dense: np.ndarray, candidates: np.ndarray, dense_weight: float,
    same_file: np.ndarray | None = None,
) -> dict[int, float]:
    """``(1-w) * z(lex) + w * z(dense)`` over ``candidates`` (z: standardised per query).

    Documents of the query's file get ``SAME_FILE_BONUS_Z`` standard deviations on top.
    The default fusion: best on the premise-eval dev queries (docs/premises.md).
    """
    if len(candidates) == 0:
        return {}
    lex = lexical[candidates].astype(np.float64)
    den = dense[candidates].astype(np.float64)
    lex = (lex - lex.mean()) / (lex.std() + 1e-9)
    den = (den - den.mean()) / (den.std() + 1e-9)
    fused = (1 - dense_weight) * lex + dense_weight * den
    if same_file is not None:
        fused = fused + SAME_FILE_BONUS_Z * same_file[candidates]
    return dict(zip(candidates.tolist(), fused.tolist()))


def ranked(fused: dict[int, float], k: int) -> list[tuple[int, float]]:
    """The ``k`` best ``(doc, score)`` pairs of a fusion, best first."""
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


#: Multiplier bonus for declarations of the query's own file (above the cursor): helpers
#: stated right before their use are the commonest premises (54% of the eval's pairs).
SAME_FILE_BOOST = 1.0
#: The same prior for z-score fusion, in standard deviations.
SAME_FILE_BONUS_Z = 1.0


def rank_documents(
    lexical: np.ndarray,
    dense: np.ndarray | None,
    mask: np.ndarray,
    k: int,
    fusion: tuple[str, float],
    *,
    same_file: np.ndarray | None = None,
    depth: int = 200,
) -> list[tuple[int, float]]:
    """The ``k`` best ``(doc, score)`` among ``mask``: lexical alone, or fused with dense.

    ``fusion`` is ``(method, dense weight)`` with method ``zscore``, ``rrf``, ``weighted`` or ``dense``.
    ``same_file`` marks documents of the query's file; their score is multiplied by
    ``1 + SAME_FILE_BOOST``.
    """
    boost = None
    if same_file is not None and same_file.any():
        boost = np.where(same_file, 1.0 + SAME_FILE_BOOST, 1.0).astype(np.float32)
    if dense is None:
        s = lexical * boost if boost is not None else lexical
        ids = top_k(s, k, mask, positive_only=True)
        return [(int(i), float(s[i])) for i in ids]
    method, w = fusion
    lex_top = top_k(lexical, depth, mask, positive_only=True)
    den_top = top_k(dense, depth, mask)
    if boost is not None:  # let boosted same-file documents into the candidate pool
        lex_top = np.union1d(lex_top, top_k(lexical * boost, depth, mask, positive_only=True))
        lex_top = lex_top[np.argsort(-(lexical * boost)[lex_top], kind="stable")]
        den_top = np.union1d(den_top, top_k(dense * boost, depth, mask))
        den_top = den_top[np.argsort(-(dense * boost)[den_top], kind="stable")]
    if method == "rrf":
        fused = rrf([lex_top, den_top], [1 - w, w])
    elif method == "weighted":
        fused = weighted(lexical, dense, np.union1d(lex_top, den_top), w)
    elif method == "zscore":
        fused = zscore(lexical, dense, np.union1d(lex_top, den_top), w, same_file if boost is not None else None)
    elif method == "dense":
        fused = {int(i): float(dense[i]) for i in den_top}
    else:
        raise ValueError(f"unknown fusion {method!r}")
    if boost is not None and method in ("weighted", "dense"):
        fused = {d: s * float(boost[d]) for d, s in fused.items()}
    return ranked(fused, k)
