"""Premise ranking learned from the project's own proofs (MaSh/MePo-style signals + fusion).

Signals, each a score per document for one query:

* ``knn``: the k proved declarations whose statements are most like the query (cosine over
  idf-weighted statement features) vote for their premises, and for themselves, by similarity;
* ``mepo``: symbol relevance, R / (R + I) with R the weight of the query constants a document
  shares (rarer weigh more) and I its other constants, iterated once through the best hits;
* ``popularity``: how many proofs use the document, damped (log);
* locality: same file, distance above the cursor, same namespace, namespace overlap;
* ``lex``/``dense``: the BM25 and optional dense scores the caller passes in.

``Fusion`` turns a candidate's signals into one score with weights fitted (listwise softmax,
Newton steps, numpy) on the project's own proved declarations, each with its own proof hidden
from itself. An exact normalised statement match always ranks first.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .features import constants_only, declaration_features
from .lean_tokens import split_identifier
from .records import Declaration
from .signals import FeatureIndex, ProofGraph

log = logging.getLogger(__name__)

#: Neighbours that vote in k-NN.
K_NEIGHBOURS = 24
#: How much a neighbour votes for itself (relative to its premises).
SELF_VOTE = 0.5
#: Candidates taken from each signal's ranking before fusion.
DEPTH = 64
#: Same-file declarations right above the cursor always considered.
NEAR = 24
#: Hits of the first symbol-relevance round whose constants join the query.
MEPO_EXPAND = 6
MEPO_EXPAND_WEIGHT = 0.5
LEMMA_KINDS = frozenset({"theorem", "axiom", "alias"})
KIND_CODES = {"theorem": 0, "axiom": 0, "alias": 0, "constructor": 1, "field": 1}

FEATURES = (
    "bias", "lex", "lex_rr", "knn", "knn_rr", "mepo", "mepo_rr", "sim", "sim_rr", "popularity", "same_file",
    "near", "near_rr", "above", "same_ns", "ns_overlap", "lemma", "ctor_field", "dense", "dense_rr",
    "knn_local", "name_jaccard", "name_within", "knn_x_file", "sim_x_file", "lex_x_file", "exact",
)
#: Weights for projects too small to learn from: fitted on every premise-eval dev query
#: (``bench/premise_eval.py --fit-all``), rounded.
_DEV_WEIGHTS = {
    "lex": 0.227, "lex_rr": 0.825, "knn": 0.489, "knn_rr": 0.41, "mepo": 0.69, "sim": 0.107, "sim_rr": 0.466,
    "popularity": 0.39, "same_file": -0.265, "near": 0.176, "near_rr": 1.469, "above": -0.265,
    "same_ns": 0.035, "ns_overlap": -0.122, "lemma": 0.196, "ctor_field": 0.437, "knn_local": 1.151,
    "name_jaccard": 0.381, "name_within": 0.137, "knn_x_file": 0.227, "sim_x_file": 0.018,
    "lex_x_file": 0.404,
}
DEFAULT_WEIGHTS = np.asarray([_DEV_WEIGHTS.get(f, 0.0) for f in FEATURES])
#: Relevance signals whose weight may not go below zero: a project whose proofs happen to use
#: few lexically related lemmas must not learn to rank relevant-looking ones *down* (plain-text
#: queries, for one, depend on them).
NONNEGATIVE = frozenset({
    "lex", "lex_rr", "knn", "knn_rr", "mepo", "mepo_rr", "sim", "sim_rr", "popularity", "near", "near_rr",
    "knn_local", "name_jaccard", "dense", "dense_rr",
})
#: Proved declarations needed before the fusion is fitted instead of using the defaults.
MIN_TRAINING = 40


@dataclass
class Corpus:
    """What the learned signals read of the index (documents are base then delta ids)."""

    decl: Callable[[int], Declaration]
    doc_file: np.ndarray
    doc_line: np.ndarray
    kind: np.ndarray  # int8: 0 lemma-like, 1 constructor/field, 2 other
    ns: np.ndarray  # int32 namespace id per document
    ns_names: list[str]
    key: np.ndarray  # int64 statement-key hash per document (0: none)
    feats: FeatureIndex
    graph: ProofGraph
    exact: Callable[[int], np.ndarray] | None = None  # documents with a statement key, fast

    @property
    def n_docs(self) -> int:
        return len(self.doc_file)


@dataclass
class Query:
    """One retrieval problem: the query's features and what the caller knows of its position."""

    features: tuple[str, ...]
    lex: np.ndarray  # BM25 per document
    allowed: np.ndarray  # bool per document: may be returned
    file_id: int | None = None
    line: int | None = None
    namespace: str = ""
    key: int = 0
    dense: np.ndarray | None = None
    hide: int = -1  # a document whose own proof is hidden (leave-one-out)
    name: str = ""  # the name being proved, when known
    file_docs: np.ndarray | None = None  # the live documents of ``file_id`` (saves a full pass)


def kind_code(kind: str) -> int:
    return KIND_CODES.get(kind, 2)


def namespace_of(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def _top(scores: np.ndarray, mask: np.ndarray | None, k: int, touched: np.ndarray | None = None) -> np.ndarray:
    """Ids of the ``k`` best positive ``scores`` among ``mask`` (``None``: all), best first.

    ``touched`` (the documents that can score above zero) keeps the work off the full array.
    """
    if touched is None:
        cand = np.flatnonzero(scores > 0 if mask is None else (scores > 0) & mask)
    else:
        cand = touched[scores[touched] > 0]
        if mask is not None:
            cand = cand[mask[cand]]
    if len(cand) > k:
        cand = cand[np.argpartition(-scores[cand], k - 1)[:k]]
    return cand[np.argsort(-scores[cand], kind="stable")]


def _scatter(n: int, docs: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """A dense float32 array of length ``n``: summed ``vals`` at ``docs``, zero elsewhere."""
    out = np.zeros(n, np.float32)
    if len(docs):
        u, inv = np.unique(docs, return_inverse=True)
        out[u] = np.bincount(inv, weights=vals).astype(np.float32)
    return out


def similarity(c: Corpus, q: Query) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of idf-weighted statement features between the query and every document, and the
    documents it touched (the only ones that can be non-zero)."""
    if not q.features:
        return np.zeros(c.n_docs, np.float32), np.zeros(0, np.int64)
    weights = {f: c.feats.idf(f) ** 2 for f in q.features}
    qnorm = float(np.sqrt(sum(weights.values()))) or 1.0
    touched, sums, _ = c.feats.overlap_sparse(weights)
    sims = np.zeros(c.n_docs)
    sims[touched] = sums / (c.feats.norm()[touched] * qnorm + 1e-6)
    if q.hide >= 0:
        sims[q.hide] = 0.0
    return sims, touched


def knn_scores(
    c: Corpus, q: Query, sims: np.ndarray, touched: np.ndarray, k: int | None = None, *, local: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """k-NN votes per document (MaSh): the neighbours' premises, and the neighbours themselves;
    and the documents voted for. With ``local`` only neighbours of the query's own file vote."""
    k = k or K_NEIGHBOURS
    empty = np.zeros(0, np.int64)
    if local and q.file_id is None:
        return np.zeros(c.n_docs, np.float32), empty
    cand = touched[c.graph.proved()[touched]]
    if local:
        cand = cand[c.doc_file[cand] == q.file_id]
    if q.hide >= 0:
        cand = cand[cand != q.hide]
    idx: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for t in _top(sims, None, k, touched=cand).tolist():
        s = float(sims[t])
        prem = c.graph.premises_of(t)
        idx += [prem.astype(np.int64), np.asarray([t])]
        val += [np.full(len(prem), s), np.asarray([SELF_VOTE * s])]
    if not idx:
        return np.zeros(c.n_docs, np.float32), empty
    docs = np.concatenate(idx)
    out = _scatter(c.n_docs, docs, np.concatenate(val))
    if q.hide >= 0:
        out[q.hide] = 0.0
    return out, np.unique(docs)


def mepo_scores(c: Corpus, q: Query) -> tuple[np.ndarray, np.ndarray]:
    """Symbol relevance per document (MePo), one iteration through the best hits' constants;
    and the documents it touched."""
    consts = constants_only(q.features)
    n_const = c.feats.n_const()

    def weight(f: str) -> float:
        return 1.0 + 2.0 / np.log(c.feats.base.df(f) + len(c.feats._delta_postings.get(f, ())) + 2.0)

    w = {f: weight(f) for f in consts}
    if not w:
        return np.zeros(c.n_docs, np.float32), np.zeros(0, np.int64)

    def rel(r: np.ndarray, shared: np.ndarray, docs: np.ndarray) -> np.ndarray:
        irrelevant = np.maximum(n_const[docs] - shared, 0)
        return r / (r + irrelevant + 1e-6)

    touched, r, shared = c.feats.overlap_sparse(w)
    out = np.zeros(c.n_docs)
    out[touched] = rel(r, shared, touched)
    if q.hide >= 0:
        out[q.hide] = 0
    extra: dict[str, float] = {}
    for d in _top(out, None, MEPO_EXPAND, touched=touched).tolist():
        for f in constants_only(declaration_features(c.decl(d))):
            if f not in w:
                extra[f] = MEPO_EXPAND_WEIGHT * weight(f)
    if not extra:
        return out, touched
    docs2, r2, shared2 = c.feats.overlap_sparse(extra)  # only the added constants: the rest is known
    more, inv = np.unique(np.concatenate([touched, docs2]), return_inverse=True)
    r_all = np.bincount(inv, weights=np.concatenate([r, r2]))
    shared_all = np.bincount(inv, weights=np.concatenate([shared, shared2]))
    out[more] = np.maximum(out[more], rel(r_all, shared_all, more))
    if q.hide >= 0:
        out[q.hide] = 0
    return out, more


@dataclass
class Candidates:
    """The candidate documents of one query and their signal matrix (rows follow ``docs``)."""

    docs: np.ndarray
    x: np.ndarray  # float64 (len(docs), len(FEATURES))


def _rr(vals: np.ndarray) -> np.ndarray:
    """1 / (1 + rank) within ``vals`` (0 for non-positive values)."""
    order = np.argsort(-vals, kind="stable")
    rr = np.zeros(len(vals))
    rr[order] = 1.0 / (1.0 + np.arange(len(vals)))
    return np.where(vals > 0, rr, 0.0)


def _norm(vals: np.ndarray) -> np.ndarray:
    m = float(vals.max(initial=0.0))
    return vals / m if m > 0 else vals * 0


def candidates(c: Corpus, q: Query, depth: int = DEPTH, *, signals: dict[str, np.ndarray] | None = None) -> Candidates:
    """Candidates from every signal (top ``depth`` each, nearest same-file, exact matches) and their features."""
    s = signals if signals is not None else compute_signals(c, q)
    allowed = q.allowed
    pools = [
        _top(s[name], allowed, depth, touched=s.get(f"{name}_docs"))
        for name in ("lex", "knn", "mepo", "sim", "knn_local")
    ]
    if q.dense is not None:
        pools.append(_top(q.dense - q.dense.min() + 1e-6, allowed, depth))
    if q.file_id is not None:
        near = q.file_docs if q.file_docs is not None else np.flatnonzero(c.doc_file == q.file_id)
        near = near[allowed[near]]
        if q.line is not None:
            near = near[c.doc_line[near] < q.line]
        if len(near) > NEAR:
            near = near[np.argsort(-c.doc_line[near], kind="stable")[:NEAR]]
        pools.append(near)
    if q.key:
        exact = c.exact(q.key) if c.exact is not None else np.flatnonzero(c.key == q.key)
        pools.append(exact[allowed[exact]][:8])
    docs = np.unique(np.concatenate(pools)) if pools else np.zeros(0, np.int64)
    x = np.zeros((len(docs), len(FEATURES)))
    if len(docs) == 0:
        return Candidates(docs, x)
    col = {f: i for i, f in enumerate(FEATURES)}
    x[:, col["bias"]] = 1.0
    x[:, col["knn_local"]] = _norm(s["knn_local"][docs].astype(np.float64))
    for name in ("lex", "knn", "mepo", "sim"):
        v = s[name][docs].astype(np.float64)
        x[:, col[name]] = _norm(v)
        x[:, col[f"{name}_rr"]] = _rr(v)
    if q.dense is not None:
        v = q.dense[docs].astype(np.float64)
        x[:, col["dense"]] = (v - v.min()) / (v.max() - v.min() + 1e-9)
        x[:, col["dense_rr"]] = _rr(v - v.min() + 1e-9)
    pop = c.graph.usage[docs].astype(np.float64).copy()
    if q.hide >= 0:  # the hidden proof's own uses do not count
        own = c.graph.premises_of(q.hide)
        pop -= np.isin(docs, own)
    x[:, col["popularity"]] = np.log1p(np.maximum(pop, 0)) / np.log1p(max(c.graph.max_usage, 1.0))
    if q.file_id is not None:
        same = c.doc_file[docs] == q.file_id
        x[:, col["same_file"]] = same
        if q.line is not None:
            dist = np.maximum(q.line - c.doc_line[docs], 0).astype(np.float64)
            x[:, col["near"]] = same / (1.0 + np.log1p(dist))
            above = same & (c.doc_line[docs] < q.line)
            x[:, col["above"]] = above
            x[:, col["near_rr"]] = _rr(np.where(above, c.doc_line[docs] + 1.0, 0.0))
        x[:, col["knn_x_file"]] = x[:, col["knn"]] * same
        x[:, col["sim_x_file"]] = x[:, col["sim"]] * same
        x[:, col["lex_x_file"]] = x[:, col["lex"]] * same
    if q.name:
        qwords = set(split_identifier(q.name.rsplit(".", 1)[-1]))
        if qwords:
            jac, within = col["name_jaccard"], col["name_within"]
            for i, d in enumerate(docs.tolist()):
                words = _name_words(c.decl(d).name)
                if words:
                    inter = len(words & qwords)
                    x[i, jac] = inter / len(words | qwords)
                    x[i, within] = inter == len(words)
    if q.namespace:
        parts = q.namespace.split(".")
        ids, inverse = np.unique(c.ns[docs], return_inverse=True)
        names = [c.ns_names[i] for i in ids.tolist()]
        x[:, col["same_ns"]] = np.asarray([n == q.namespace for n in names])[inverse]
        x[:, col["ns_overlap"]] = np.asarray([_prefix_overlap(parts, n) for n in names])[inverse]
    kinds = c.kind[docs]
    x[:, col["lemma"]] = kinds == 0
    x[:, col["ctor_field"]] = kinds == 1
    if q.key:
        x[:, col["exact"]] = c.key[docs] == q.key
    return Candidates(docs, x)


@lru_cache(maxsize=200_000)
def _name_words(name: str) -> frozenset[str]:
    return frozenset(split_identifier(name.rsplit(".", 1)[-1]))


def _prefix_overlap(parts: list[str], ns: str) -> float:
    other = ns.split(".") if ns else []
    k = 0
    for a, b in zip(parts, other):
        if a != b:
            break
        k += 1
    return k / len(parts)


def compute_signals(c: Corpus, q: Query) -> dict[str, np.ndarray]:
    """Every signal's score per document for ``q`` (and, as ``name_docs``, the documents each
    one touched: the only ones where it can be non-zero)."""
    sims, sim_docs = similarity(c, q)
    knn, knn_docs = knn_scores(c, q, sims, sim_docs)
    local, local_docs = knn_scores(c, q, sims, sim_docs, local=True)
    mepo, mepo_docs = mepo_scores(c, q)
    return {
        "lex": q.lex, "lex_docs": np.flatnonzero(q.lex), "knn": knn, "knn_docs": knn_docs,
        "mepo": mepo, "mepo_docs": mepo_docs, "sim": sims, "sim_docs": sim_docs,
        "knn_local": local, "knn_local_docs": local_docs,
    }


@dataclass
class Fusion:
    """Linear fusion of candidate features; ``fit`` learns the weights listwise."""

    weights: np.ndarray = field(default_factory=DEFAULT_WEIGHTS.copy)
    fitted_on: int = 0
    _hessian: np.ndarray | None = field(default=None, repr=False)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Scores of candidate rows; an exact statement match is put above everything."""
        out = x @ self.weights
        return out + 1e3 * x[:, FEATURES.index("exact")]

    def fit(
        self, groups: Sequence[tuple[np.ndarray, np.ndarray]], *, l2: float = 1e-2, iters: int = 25,
        warm: bool = False,
    ) -> None:
        """Fit on ``(x, positive mask)`` groups (one per training query) by Newton's method on
        the listwise softmax loss: each query's probability mass should sit on its premises.

        Weights in ``NONNEGATIVE`` stay at or above zero (coordinates pinned at zero whose
        gradient pushes below are held for that step). ``warm`` starts from the current weights
        and reuses the last Hessian (an incremental refit: a few cheap steps). Plain numpy, no
        BLAS calls, so a loaded machine's thread contention does not stall it.
        """
        groups = [(x, y) for x, y in groups if y.any() and len(y) > 1]
        if len(groups) < MIN_TRAINING:
            log.info("only %d training queries: fixed fusion weights", len(groups))
            self.weights, self.fitted_on, self._hessian = DEFAULT_WEIGHTS.copy(), 0, None
            return
        width = max(len(y) for _, y in groups)
        nf = len(FEATURES)
        X = np.zeros((len(groups), width, nf))
        Y = np.zeros((len(groups), width))
        M = np.zeros((len(groups), width), bool)
        for i, (x, y) in enumerate(groups):
            X[i, : len(y)] = x
            Y[i, : len(y)] = y / y.sum()
            M[i, : len(y)] = True
        warm = warm and self.fitted_on > 0
        w = self.weights.copy() if warm else np.zeros(nf)
        fixed = np.zeros(nf, bool)
        fixed[FEATURES.index("exact")] = True  # handled by a rule, not learned
        w[fixed] = 0.0
        nonneg = np.asarray([f in NONNEGATIVE for f in FEATURES])
        w = np.where(nonneg, np.maximum(w, 0), w)
        xy = np.einsum("qc,qcf->f", Y, X, optimize=False)
        reg = l2 * len(groups)

        def probabilities(w: np.ndarray) -> tuple[np.ndarray, float]:
            z = np.where(M, (X * w).sum(axis=2), -np.inf)
            z -= z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            loss = -float((Y * np.where(M, logp, 0)).sum()) + 0.5 * reg * float((w * w).sum())
            return np.exp(logp), loss

        def gradient(w: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            xp = np.einsum("qc,qcf->qf", p, X, optimize=False)
            return xp.sum(axis=0) - xy + reg * w, xp

        def hessian(p: np.ndarray, xp: np.ndarray) -> np.ndarray:
            h = np.einsum("qc,qcf,qcg->fg", p, X, X, optimize=False)
            return h - np.einsum("qf,qg->fg", xp, xp, optimize=False) + reg * np.eye(nf)

        h_cached = getattr(self, "_hessian", None) if warm else None
        p, loss = probabilities(w)
        for _ in range(iters):
            grad, xp = gradient(w, p)
            h = h_cached if h_cached is not None else hessian(p, xp)
            hold = fixed | (nonneg & (w <= 0) & (grad > 0))
            free = ~hold
            step = np.zeros(nf)
            if free.any():
                step[free] = np.linalg.solve(h[np.ix_(free, free)] + 1e-9 * np.eye(int(free.sum())), grad[free])
            t = 1.0
            for _ in range(8):
                new = np.where(nonneg, np.maximum(w - t * step, 0), w - t * step)
                new_p, new_loss = probabilities(new)
                if new_loss <= loss:
                    break
                t /= 2
            else:
                break
            converged = loss - new_loss < 1e-7 * max(1.0, abs(loss))
            w, p, loss = new, new_p, new_loss
            if h_cached is None:
                self._hessian = h
            if converged:
                break
        self.weights, self.fitted_on = w, len(groups)


def rank(c: Corpus, q: Query, fusion: Fusion, k: int) -> list[tuple[int, float]]:
    """The ``k`` best ``(doc, score)`` for ``q``, best first."""
    cand = candidates(c, q)
    if len(cand.docs) == 0:
        return []
    scores = fusion.score(cand.x)
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(cand.docs[i]), float(scores[i])) for i in order]
