"""Ranking and fusion: masked top-k, RRF, min-max and z-score fusion, the same-file prior."""
from __future__ import annotations

import numpy as np
import pytest

from copilot.premises.fusion import rank_documents, rrf, top_k


def test_top_k_respects_mask_and_positivity():
    """top_k returns the best ids first, skips masked-out ids and, if asked, non-positive scores."""
    s = np.array([0.0, 3.0, 1.0, 5.0, 2.0], np.float32)
    assert top_k(s, 3).tolist() == [3, 1, 4]
    mask = np.array([True, True, True, False, True])
    assert top_k(s, 3, mask).tolist() == [1, 4, 2]
    assert top_k(s, 10, positive_only=True).tolist() == [3, 1, 4, 2]
    assert top_k(np.zeros(4, np.float32), 2, positive_only=True).tolist() == []


def test_rrf_adds_reciprocal_ranks():
    """A document ranked well by both lists beats one ranked first by only one."""
    fused = rrf([np.array([1, 2, 3]), np.array([2, 4, 1])])
    assert max(fused, key=fused.get) == 2


@pytest.mark.parametrize("method", ["zscore", "weighted", "rrf"])
def test_fusion_prefers_agreement_and_same_file(method):
    """Fusions rank the document both sides like on top; the same-file prior lifts a same-file document."""
    lex = np.array([5.0, 4.0, 0.5, 0.0, 3.9], np.float32)
    den = np.array([0.2, 0.9, 0.1, 0.3, 0.85], np.float32)
    mask = np.ones(5, bool)
    best = rank_documents(lex, den, mask, 3, (method, 0.5))
    assert best[0][0] == 1
    same = np.array([False, False, False, False, True])
    boosted = rank_documents(lex, den, mask, 3, (method, 0.5), same_file=same)
    assert boosted[0][0] == 4


def test_lexical_only_ranking_and_mask():
    """Without dense scores the ranking is lexical, masked, and the prior multiplies same-file scores."""
    lex = np.array([1.0, 2.0, 0.0, 1.5], np.float32)
    mask = np.array([True, False, True, True])
    assert [d for d, _ in rank_documents(lex, None, mask, 5, ("zscore", 0.5))] == [3, 0]
    same = np.array([True, False, False, False])
    assert [d for d, _ in rank_documents(lex, None, mask, 5, ("zscore", 0.5), same_file=same)] == [0, 3]


def test_best_positions_exact_on_long_arrays():
    """The sampled-threshold selection returns exactly the k largest, in order, ties included."""
    from copilot.premises.fusion import best_positions

    rng = np.random.default_rng(0)
    for n, k in ((50_000, 32), (10_000, 5), (3_000, 32), (20, 32)):
        vals = rng.random(n).astype(np.float32)
        vals[::7] = 0.5  # many ties
        got = best_positions(vals, k)
        want = np.argsort(-vals, kind="stable")[: min(k, n)]
        np.testing.assert_array_equal(np.sort(vals[got])[::-1], vals[want])
        assert np.all(np.diff(vals[got]) <= 0)
