"""The learned ranker's state for one index: proof graph, feature index, fusion weights.

``PremiseModel.build`` resolves every proved declaration's references (``deps``), indexes the
statement features (``signals.FeatureIndex``) and fits the fusion on the project's own proved
theorems, each with its own proof hidden (``fit``). ``apply_delta`` follows the index's delta
(changed files): their features, their proofs' premises, premises renamed into the delta, and
an incremental refit (the changed theorems' training groups replaced, a few warm Newton steps).
Everything but the fitted training groups' source is stored with the snapshot.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import numpy as np

from .deps import PROVED_KINDS, NameTable
from .features import declaration_features, key_hash, statement_key
from .learned import FEATURES, Corpus, Fusion, Query, candidates, kind_code, namespace_of
from .records import Declaration
from .signals import FeatureBase, FeatureIndex, ProofGraph

log = logging.getLogger(__name__)

#: Proved theorems the fusion is fitted on at most (a seeded sample of bigger projects).
TRAIN_QUERIES = 600
#: Rows kept per training query: every premise among the candidates and the best-scored others.
TRAIN_ROWS = 32
#: Changed theorems re-featurised per update at most (the refit stays within the update budget).
REFIT_PER_UPDATE = 4
Progress = Callable[[str, int, int], None]


def trim_group(x: np.ndarray, y: np.ndarray, weights: np.ndarray, rows: int = TRAIN_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Keep the positives and the ``rows`` best-scored negatives of one training group."""
    neg = np.flatnonzero(~y)
    if len(neg) > rows:
        neg = neg[np.argsort(-(x[neg] @ weights), kind="stable")[:rows]]
    keep = np.concatenate([np.flatnonzero(y), neg])
    return x[keep].astype(np.float32), y[keep]


class PremiseModel:
    """Proof graph, statement features and fusion weights over the index's documents."""

    def __init__(self, feats: FeatureIndex, graph: ProofGraph, kind: np.ndarray, ns: np.ndarray,
                 ns_names: list[str], key: np.ndarray, fusion: Fusion) -> None:
        self.feats = feats
        self.graph = graph
        self.base_kind, self.base_ns, self.base_key = kind, ns, key
        self.kind, self.ns, self.key = kind, ns, key
        self.ns_names = ns_names
        self._ns_ids = {n: i for i, n in enumerate(ns_names)}
        self.fusion = fusion
        self.train: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.train_fp: dict[str, int] = {}  # what each training group was computed from
        self._base_table: NameTable | None = None

    # ------------------------------------------------------------------ building

    @classmethod
    def build(cls, decls: Sequence[Declaration]) -> PremiseModel:
        """Resolve proofs and index statements of ``decls`` (document ids are positions)."""
        table = NameTable.of(decls)
        premises = [
            table.premises(d, decls.__getitem__, self_doc=i) if d.refs and d.kind in PROVED_KINDS else []
            for i, d in enumerate(decls)
        ]
        feats = FeatureIndex(FeatureBase.build([declaration_features(d) for d in decls]))
        ns_names: list[str] = []
        ns_ids: dict[str, int] = {}
        ns = np.zeros(len(decls), np.int32)
        for i, d in enumerate(decls):
            n = namespace_of(d.name)
            j = ns_ids.get(n)
            if j is None:
                j = ns_ids[n] = len(ns_names)
                ns_names.append(n)
            ns[i] = j
        kind = np.asarray([kind_code(d.kind) for d in decls], np.int8)
        key = np.asarray([key_hash(statement_key(d.signature)) for d in decls], np.int64)
        model = cls(feats, ProofGraph.build(premises, len(decls)), kind, ns, ns_names, key, Fusion())
        model._base_table = table
        return model

    def names(self, base_decls: Sequence[Declaration]) -> NameTable:
        """The base documents' name table (built once)."""
        if self._base_table is None:
            self._base_table = NameTable.of(base_decls)
        return self._base_table

    def corpus(self, decl: Callable[[int], Declaration], doc_file: np.ndarray, doc_line: np.ndarray) -> Corpus:
        """The signals' view, over the index's current documents."""
        return Corpus(
            decl, doc_file, doc_line, self.kind, self.ns, self.ns_names, self.key, self.feats, self.graph, self.exact
        )

    def exact(self, key: int) -> np.ndarray:
        """Live documents whose statement key is ``key``: binary search in the base, scan of the delta."""
        if getattr(self, "_key_order", None) is None or len(self._key_order) != len(self.base_key):
            self._key_order = np.argsort(self.base_key, kind="stable")
            self._key_sorted = self.base_key[self._key_order]
        lo = int(np.searchsorted(self._key_sorted, key, "left"))
        hi = int(np.searchsorted(self._key_sorted, key, "right"))
        docs = self._key_order[lo:hi]
        dead = self.feats.dead()
        if len(dead) and len(docs):
            docs = docs[~np.isin(docs, dead)]
        nb = len(self.base_key)
        if len(self.key) > nb:
            docs = np.concatenate([docs, nb + np.flatnonzero(self.key[nb:] == key)])
        return docs

    def ns_id(self, namespace: str) -> int:
        return self._ns_ids.get(namespace, -1)

    def training_group(self, corpus: Corpus, q: Query, doc: int) -> tuple[np.ndarray, np.ndarray] | None:
        """One training group: ``doc``'s statement as a query with its own proof hidden."""
        gold = self.graph.premises_of(doc)
        if len(gold) == 0:
            return None
        cand = candidates(corpus, q)
        y = np.isin(cand.docs, gold)
        if not y.any():
            return None
        return trim_group(cand.x, y, self.fusion.weights)

    def fingerprint(self, corpus: Corpus, doc: int) -> int:
        """A hash of ``doc``'s statement and premises: its training group is current while it holds."""
        prem = sorted(corpus.decl(int(p)).name for p in self.graph.premises_of(doc))
        return key_hash(corpus.decl(doc).signature + "\0" + ";".join(prem))

    def fit(self, corpus: Corpus, make_query: Callable[[int], Query], progress: Progress | None = None) -> None:
        """Fit the fusion on (a seeded sample of) the proved theorems, each hiding its own proof."""
        proved = np.flatnonzero(self.graph.proved())
        if len(proved) > TRAIN_QUERIES:
            proved = np.sort(np.random.default_rng(0).choice(proved, TRAIN_QUERIES, replace=False))
        self.train, self.train_fp = {}, {}
        for i, doc in enumerate(proved.tolist()):
            g = self.training_group(corpus, make_query(doc), doc)
            if g is not None:
                name = corpus.decl(doc).name
                self.train[name] = g
                self.train_fp[name] = self.fingerprint(corpus, doc)
            if progress and (i % 50 == 0 or i + 1 == len(proved)):
                progress("learn", i + 1, len(proved))
        self.fusion.fit(list(self.train.values()))
        log.info("premise fusion fitted on %d proved theorems", self.fusion.fitted_on)

    # ------------------------------------------------------------------ the delta

    def apply_delta(
        self,
        base_decls: Sequence[Declaration],
        delta_decls: Sequence[Declaration],
        tombstones: np.ndarray,
        corpus_of: Callable[[], Corpus],
        make_query: Callable[[int], Query] | None = None,
    ) -> None:
        """Follow the index's delta: features, premises, renamed premises, an incremental refit."""
        nb = len(base_decls)
        n = nb + len(delta_decls)
        self.feats.tombstones = tombstones
        self.feats.set_delta([declaration_features(d) for d in delta_decls])
        if not len(delta_decls) and not tombstones.any():
            self.graph.set_delta({}, tombstones, {}, n)
            self.kind, self.ns, self.key = self.base_kind, self.base_ns, self.base_key
            return
        table = NameTable(self.names(base_decls), tombstones)
        for j, d in enumerate(delta_decls):
            table.add(nb + j, d)

        def decl(i: int) -> Declaration:
            return base_decls[i] if i < nb else delta_decls[i - nb]

        deps = {
            nb + j: table.premises(d, decl, self_doc=nb + j)
            for j, d in enumerate(delta_decls)
            if d.refs and d.kind in PROVED_KINDS
        }
        remap = {int(old): table.ids.get(base_decls[old].name, -1) for old in np.flatnonzero(tombstones)}
        self.graph.set_delta(deps, tombstones, remap, n)
        ns = []
        for d in delta_decls:
            name = namespace_of(d.name)
            j = self._ns_ids.get(name)
            if j is None:
                j = self._ns_ids[name] = len(self.ns_names)
                self.ns_names.append(name)
            ns.append(j)
        self.kind = np.concatenate([self.base_kind, np.asarray([kind_code(d.kind) for d in delta_decls], np.int8)])
        self.ns = np.concatenate([self.base_ns, np.asarray(ns, np.int32)])
        self.key = np.concatenate(
            [self.base_key, np.asarray([key_hash(statement_key(d.signature)) for d in delta_decls], np.int64)]
        )
        if make_query is not None and self.fusion.fitted_on:
            self._refit(corpus_of(), make_query, base_decls, delta_decls, tombstones)

    def _refit(self, corpus: Corpus, make_query, base_decls, delta_decls, tombstones) -> None:
        """Replace the training groups of theorems whose statement or proof changed (a few per
        update), drop those of removed theorems, and take warm Newton steps if anything moved."""
        nb = len(base_decls)
        present = {d.name for d in delta_decls}
        gone = {base_decls[i].name for i in np.flatnonzero(tombstones).tolist()} - present
        moved = len(gone & self.train.keys())
        for name in gone & self.train.keys():
            del self.train[name]
            self.train_fp.pop(name, None)
        added = 0
        for j, d in enumerate(delta_decls):
            if added >= REFIT_PER_UPDATE or d.kind not in PROVED_KINDS:
                continue
            if not len(self.graph.premises_of(nb + j)):
                if self.train.pop(d.name, None) is not None:
                    moved += 1
                continue
            known = self.train_fp.get(d.name)
            if known is None and self._base_table is not None and d.name in self._base_table.ids:
                continue  # an unchanged theorem the build's sample left out
            fp = self.fingerprint(corpus, nb + j)
            if known == fp:
                continue
            g = self.training_group(corpus, make_query(nb + j), nb + j)
            if g is not None:
                self.train[d.name], self.train_fp[d.name] = g, fp
                added += 1
        if added or moved:
            self.fusion.fit(list(self.train.values()), iters=2, warm=True)

    # ------------------------------------------------------------------ persistence

    def arrays(self) -> dict[str, np.ndarray]:
        """Per-snapshot arrays (written through ``store.write_snapshot``'s ``extra_arrays``)."""
        names = sorted(self.train)
        xs = [self.train[n][0] for n in names]
        out = {
            **self.feats.arrays(),
            "proof_indptr": self.graph.indptr,
            "proof_indices": self.graph.indices,
            "doc_kind": self.base_kind,
            "doc_ns": self.base_ns,
            "doc_key": self.base_key,
            "fusion_weights": self.fusion.weights,
            "train_x": np.concatenate(xs) if xs else np.zeros((0, len(FEATURES)), np.float32),
            "train_y": np.concatenate([self.train[n][1] for n in names]) if names else np.zeros(0, bool),
            "train_len": np.asarray([len(x) for x in xs], np.int32),
        }
        return out

    def write_meta(self, folder: Path) -> None:
        """The vocabularies and training names next to the arrays."""
        meta = {
            "vocab": self.feats.vocab_list(), "ns_names": self.ns_names, "features": list(FEATURES),
            "fitted_on": self.fusion.fitted_on, "train_names": sorted(self.train),
            "train_fp": [self.train_fp.get(n, 0) for n in sorted(self.train)],
        }
        (folder / "learn_meta.msgpack").write_bytes(msgspec.msgpack.encode(meta))

    @classmethod
    def load(cls, folder: Path, n_docs: int) -> PremiseModel:
        """Read what ``arrays``/``write_meta`` wrote; ``ValueError``/``OSError`` when unusable."""
        meta = msgspec.msgpack.decode((folder / "learn_meta.msgpack").read_bytes())
        if meta["features"] != list(FEATURES):
            raise ValueError("fusion features changed")
        a = {name: np.load(folder / f"{name}.npy") for name in (
            "feat_indices", "feat_indptr", "feat_nconst", "feat_norm", "proof_indptr", "proof_indices",
            "doc_kind", "doc_ns", "doc_key", "fusion_weights", "train_x", "train_y", "train_len",
        )}
        feats = FeatureIndex(FeatureIndex.base_from(a, meta["vocab"], n_docs))
        if len(a["proof_indptr"]) != n_docs + 1 or len(a["doc_kind"]) != n_docs or len(a["doc_key"]) != n_docs:
            raise ValueError("learned arrays do not fit the documents")
        if len(a["proof_indices"]) and int(a["proof_indices"].max()) >= n_docs:
            raise ValueError("proof graph refers to documents that do not exist")
        graph = ProofGraph(a["proof_indptr"], a["proof_indices"], n_docs)
        graph.refresh()
        model = cls(feats, graph, a["doc_kind"], a["doc_ns"], list(meta["ns_names"]), a["doc_key"],
                    Fusion(np.asarray(a["fusion_weights"], np.float64), int(meta["fitted_on"])))
        bounds = np.cumsum(a["train_len"])[:-1]
        for name, fp, x, y in zip(
            meta["train_names"], meta["train_fp"], np.split(a["train_x"], bounds), np.split(a["train_y"], bounds)
        ):
            model.train[name] = (x, y)
            model.train_fp[name] = fp
        return model
