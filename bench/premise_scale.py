"""Premise index at Mathlib scale: 250,000 synthetic declarations over ~5,000 files.

Writes a synthetic Lean tree shaped like Mathlib (nested namespaces, naming-convention names,
typeclass binders, signatures with notation, doc comments, structures, import chains, and
proofs that name 1-4 earlier lemmas of the file or of its imports in ``rw [..]``/``simp [..]``
or as terms) to a temporary folder, then measures in one run:

* extraction throughput (files/s, process pool) and full build time;
* opening the stored index in a fresh process, its RSS, and lexical query latency p50/p99
  (plain and with the accessibility filter) over goal-shaped queries;
* an incremental update of one changed file (p50/p99 over repeated saves).

The index ranks with the learned signals (proof graph, k-NN, symbol relevance, fitted fusion),
so the build includes resolving every proof and fitting; an update includes the dependency
and model refresh. A Std4-size run: ``--decls 6000 --files 220``.

    .venv/bin/python bench/premise_scale.py [--decls 250000] [--files 5000] [--queries 400]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

AREAS = ["Algebra", "Analysis", "Topology", "Order", "Data", "LinearAlgebra", "NumberTheory",
         "MeasureTheory", "Combinatorics", "GroupTheory", "RingTheory", "CategoryTheory", "SetTheory"]
TYPES = ["Nat", "Int", "Rat", "Real", "Complex", "List", "Finset", "Set", "Multiset", "Polynomial",
         "Matrix", "Filter", "Submodule", "Subgroup", "Ideal", "Module", "Function", "Equiv", "Fin", "ZMod",
         "MeasureTheory.Measure", "TopologicalSpace", "Metric", "ENNReal", "NNReal", "Cardinal", "Ordinal"]
OPS = [("add", "+"), ("mul", "*"), ("sub", "-"), ("div", "/"), ("pow", "^"), ("dvd", "∣"), ("mod", "%"),
       ("inf", "⊓"), ("sup", "⊔"), ("union", "∪"), ("inter", "∩"), ("smul", "•")]
RELS = [("le", "≤"), ("lt", "<"), ("eq", "="), ("ne", "≠"), ("mem", "∈"), ("subset", "⊆")]
WORDS = ["comm", "assoc", "cancel", "left", "right", "self", "zero", "one", "two", "succ", "pred", "neg",
         "inv", "pos", "nonneg", "mono", "strictMono", "injective", "surjective", "map", "comap", "image",
         "preimage", "card", "sum", "prod", "max", "min", "abs", "norm", "dist", "coe", "cast", "natCast",
         "iff", "of", "trans", "symm", "refl", "antisymm", "congr", "ext", "apply", "def", "bot", "top",
         "empty", "singleton", "insert", "erase", "filter", "range", "length", "append", "reverse", "cons",
         "sqrt", "log", "exp", "sin", "cos", "deriv", "integral", "measurable", "continuous", "tendsto"]
CLASSES = ["CommRing", "Field", "LinearOrder", "OrderedSemiring", "AddCommGroup", "Monoid", "Group",
           "Lattice", "TopologicalSpace", "MetricSpace", "NormedAddCommGroup", "DecidableEq", "Fintype"]
VARS = ["a", "b", "c", "x", "y", "z", "m", "n", "k", "s", "t", "f", "g"]


def _expr(rng: random.Random, depth: int = 0) -> str:
    if depth > 1 or rng.random() < 0.35:
        r = rng.random()
        if r < 0.7:
            return rng.choice(VARS)
        if r < 0.85:
            return rng.choice(["0", "1", "2"])
        return f"{rng.choice(['f', 'g', 'Nat.succ', 'abs', 'card'])} {rng.choice(VARS)}"
    _, sym = rng.choice(OPS)
    return f"{_expr(rng, depth + 1)} {sym} {_expr(rng, depth + 1)}"


def _proof(rng: random.Random, here: list[str], imported: list[str]) -> str:
    """A tactic proof naming 1-4 earlier lemmas: of this file (mostly the last few), of imports."""
    names: list[str] = []
    for _ in range(rng.randint(1, 4)):
        r = rng.random()
        if here and r < 0.55:
            names.append(here[max(0, len(here) - 1 - int(rng.expovariate(0.3)))])
        elif imported:
            names.append(rng.choice(imported))
    names = list(dict.fromkeys(names))
    if not names:
        return "by\n  simp\n"
    if rng.random() < 0.5:
        return f"by\n  rw [{names[0]}]\n  simp [{', '.join(names[1:])}]\n" if len(names) > 1 else f"by\n  rw [{names[0]}]\n"
    return f"{names[0]} {' '.join('(' + n + ' _)' for n in names[1:])}\n"


def _decl(rng: random.Random, ns: str, used: set[str], here: list[str], imported: list[str]) -> tuple[str, str]:
    op, _ = rng.choice(OPS)
    rel, rsym = rng.choice(RELS)
    while True:
        parts = [rng.choice([op, rel, *rng.sample(WORDS, 2)]) for _ in range(rng.randint(2, 5))]
        name = "_".join(parts)
        if name not in used:
            used.add(name)
            break
        name += f"_{len(used)}"
        if name not in used:
            used.add(name)
            break
    vars_ = " ".join(rng.sample(VARS[:6], rng.randint(1, 3)))
    binders = f"{{α : Type*}} [{rng.choice(CLASSES)} α] ({vars_} : α)"
    if rng.random() < 0.4:
        binders += f" (h : {_expr(rng)} {rng.choice(RELS)[1]} {_expr(rng)})"
    concl = f"{_expr(rng)} {rsym} {_expr(rng)}"
    doc = f"/-- The {op} of {' '.join(parts[:2])} lemma for `{ns}`. -/\n" if rng.random() < 0.3 else ""
    attr = "@[simp] " if rng.random() < 0.15 else ""
    kw = "theorem" if rng.random() < 0.8 else "lemma"
    return name, f"{doc}{attr}{kw} {name} {binders} :\n    {concl} := {_proof(rng, here, imported)}"


def write_tree(root: Path, n_decls: int, n_files: int, seed: int = 0) -> list[Path]:
    """Write the synthetic tree; returns its files in order."""
    rng = random.Random(seed)
    per_file = n_decls // n_files
    files: list[Path] = []
    modules: list[str] = []
    names_of: dict[str, list[str]] = {}
    for i in range(n_files):
        area = AREAS[i % len(AREAS)]
        ty = TYPES[(i // len(AREAS)) % len(TYPES)].replace(".", "")
        mod = f"Mathlib.{area}.{ty}.Part{i}"
        path = root / (mod.replace(".", "/") + ".lean")
        path.parent.mkdir(parents=True, exist_ok=True)
        imports = rng.sample(modules[-200:], min(len(modules), rng.randint(1, 4))) if modules else []
        ns = TYPES[(i // len(AREAS)) % len(TYPES)]
        lines = [f"import {m}" for m in imports] + ["", f"/-! # {area} facts about {ns} -/", "", f"namespace {ns}", ""]
        used: set[str] = set()
        here: list[str] = []
        imported = [n for m in imports for n in names_of[m][::7]]
        count = 0
        if rng.random() < 0.2:
            lines.append(f"structure Bundle{i} (α : Type*) where\n  carrier : Set α\n  nonempty : carrier.Nonempty\n")
            count += 4  # structure, two fields, mk
        while count < per_file:
            name, text = _decl(rng, ns, used, here, imported)
            here.append(f"{ns}.{name}")
            lines.append(text)
            count += 1
        names_of[mod] = here
        lines.append(f"end {ns}\n")
        path.write_text("\n".join(lines), encoding="utf-8")
        files.append(path)
        modules.append(mod)
    return files


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def child(project: Path, cache: Path, n_queries: int, out: Path) -> None:
    """Runs in a fresh process: open the stored index, query, update; writes JSON to ``out``."""
    import numpy as np

    from copilot.premises import PremiseIndex

    rss0 = _rss_mb()
    t0 = time.perf_counter()
    idx = PremiseIndex.open(project, cache_root=cache, include_toolchain=False)
    open_s = time.perf_counter() - t0
    assert idx.rebuilt_reason is None, idx.rebuilt_reason
    rng = random.Random(1)
    decls = idx._base_decls
    queries = []
    for _ in range(n_queries):
        d = decls[rng.randrange(len(decls))]
        sig = d.signature
        concl = sig.rsplit(" : ", 1)[-1] if " : " in sig else sig
        queries.append(f"α : Type u_1\ninst : CommRing α\na b c : α\n⊢ {concl}")
    files = [f for f in idx._files]
    for q in queries[:20]:  # warm-up
        idx.search(q, 32)
    lat = []
    for q in queries:
        t = time.perf_counter()
        idx.search(q, 32)
        lat.append((time.perf_counter() - t) * 1000)
    lat_file = []  # the user works in a few files: 20 files, queries spread over them
    work_files = [Path(files[(i * 7919) % len(files)].path) for i in range(20)]
    for f in work_files:
        idx.search(queries[0], 32, file=f, line=10_000)  # first query from each file
    for i, q in enumerate(queries):
        t = time.perf_counter()
        idx.search(q, 32, file=work_files[i % len(work_files)], line=10_000)
        lat_file.append((time.perf_counter() - t) * 1000)
    lat_cold = []  # first query from a file never queried before (import closure computed)
    for i, q in enumerate(queries[:100]):
        f = Path(files[(i * 104729 + 13) % len(files)].path)
        t = time.perf_counter()
        idx.search(q, 32, file=f, line=10_000)
        lat_cold.append((time.perf_counter() - t) * 1000)
    lat_prefix = []
    for d in decls[:: max(1, len(decls) // 200)][:200]:
        t = time.perf_counter()
        idx.search_prefix(d.name[: max(3, len(d.name) - 6)], 32)
        lat_prefix.append((time.perf_counter() - t) * 1000)
    rss_after_queries = _rss_mb()
    upd = []
    target = Path(files[len(files) // 2].path)
    original = target.read_text(encoding="utf-8")
    for i in range(15):
        fresh = f"\ntheorem fresh_lemma_{i} (a : α) : a = a := rfl\n\nend "
        target.write_text(original.replace("\nend ", fresh, 1), encoding="utf-8")
        t = time.perf_counter()
        idx.update_file(target)
        upd.append((time.perf_counter() - t) * 1000)
        assert idx.search(f"fresh lemma {i}", 1)[0].name.endswith(f"fresh_lemma_{i}")
    out.write_text(json.dumps({
        "open_s": open_s, "rss_before_mb": rss0, "rss_open_mb": None, "rss_mb": rss_after_queries,
        "decls": len(decls), "q": lat, "q_file": lat_file, "q_cold": lat_cold, "q_prefix": lat_prefix, "update": upd,
        "rss_final_mb": _rss_mb(), "numpy": np.__version__,
    }))


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decls", type=int, default=250_000)
    ap.add_argument("--files", type=int, default=5_000)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--keep", type=Path, help="write the tree here and keep it")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.queries, Path(args.child[2]))
        return 0

    from copilot.premises import PremiseIndex
    from copilot.premises.extract_source import extract_files, iter_lean_files

    work = Path(tempfile.mkdtemp(prefix="premise-scale-"))
    project = args.keep or (work / "proj")
    cache = work / "cache"
    try:
        t0 = time.perf_counter()
        files = write_tree(project, args.decls, args.files)
        gen_s = time.perf_counter() - t0
        mb = sum(f.stat().st_size for f in files) / 2**20
        t0 = time.perf_counter()
        results = extract_files([(f, project) for f in iter_lean_files(project)])
        extract_s = time.perf_counter() - t0
        n_extracted = sum(len(r.declarations) for r in results)
        t0 = time.perf_counter()
        idx = PremiseIndex.open(project, cache_root=cache, include_toolchain=False)
        build_s = time.perf_counter() - t0
        st = idx.stats()
        n_index, proofs, edges, fusion = st["declarations"], st["proofs"], st["premise_edges"], st["fusion"]
        del idx
        out = work / "child.json"
        cmd = [sys.executable, __file__, "--queries", str(args.queries), "--child", str(project), str(cache), str(out)]
        subprocess.run(cmd, check=True)
        r = json.loads(out.read_text())
        size_mb = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) / 2**20
        q, qf, qc, qp, up = r["q"], r["q_file"], r["q_cold"], r["q_prefix"], r["update"]
        med = statistics.median
        rows = [
            ("synthetic tree", f"{len(files)} files, {mb:.0f} MiB, {n_extracted} declarations (written in {gen_s:.1f} s)",
             ""),
            ("extraction (process pool)",
             f"{extract_s:.1f} s = {len(files) / extract_s:.0f} files/s, {n_extracted / extract_s:.0f} decls/s", ""),
            ("full build (extract + BM25 + proofs + fit + write)", f"{build_s:.1f} s for {n_index} declarations", ""),
            ("index on disk", f"{size_mb:.0f} MiB", ""),
            ("open stored index (fresh process)", f"{r['open_s']:.2f} s", ""),
            ("proof graph", f"{proofs} proofs, {edges} premise edges, fusion {fusion}", ""),
            ("RSS after open + queries", f"{r['rss_mb']:.0f} MiB (python+numpy alone {r['rss_before_mb']:.0f} MiB)",
             f"target ≤ 500 MiB: {'OK' if r['rss_mb'] <= 500 else 'MISSED'}"),
            ("query p50 / p99 (goal, k=32)", f"{med(q):.2f} / {_pct(q, 99):.2f} ms",
             f"target p99 ≤ 10 ms: {'OK' if _pct(q, 99) <= 10 else 'MISSED'}"),
            ("query + accessibility p50 / p99", f"{med(qf):.2f} / {_pct(qf, 99):.2f} ms", "(20 working files)"),
            ("  first query from a new file", f"{med(qc):.2f} / {_pct(qc, 99):.2f} ms", "(import closure computed)"),
            ("prefix completion p50 / p99", f"{med(qp):.2f} / {_pct(qp, 99):.2f} ms", ""),
            ("update one file p50 / p99", f"{med(up):.1f} / {_pct(up, 99):.1f} ms",
             f"target ≤ 250 ms: {'OK' if _pct(up, 99) <= 250 else 'MISSED'}"),
        ]
        w = max(len(a) for a, _, _ in rows)
        load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\npremise index at scale ({os.cpu_count()} cores, load average {load} at the end, {args.queries} queries)")
        for a, b, c in rows:
            print(f"{a:<{w}}  {b}  {c}")
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
