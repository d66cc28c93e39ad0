"""Portfolio speed per goal, and the ByT5 ONNX decoder with its past cache versus re-running
the decoder over the whole prefix, side by side in one run.

1. Portfolio: every real goal state from Lean's plainGoal transcripts plus the initial goal of
   every miniF2F statement (``../shared/data``), ranked for n=8 with and without Mathlib
   imports. "cold" clears the parse/classify caches before each goal (a goal never seen
   before); "warm" does not. The target is well under 1 ms per goal.
2. ONNX seq2seq (only the tiny test model is available offline, so these are relative
   numbers for the decoding loop, not ReProver's speed): beam n=4 with
   ``decoder_with_past_model.onnx`` versus without, same inputs, identical outputs checked.

3. Optionally (``--byt5-small DIR``) the same decoding at ByT5-small's real size, on an
   untrained random-weight export made by ``make_tiny_t5_onnx.py --byt5-small-shape DIR``:
   encoder time, time per decoder step, greedy and beam n=4 totals, with and without past.

    .venv/bin/python bench/portfolio_speed.py [--repeats 5] [--byt5-small DIR --threads 2 --steps 40]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from local_models import byt5, goal_shape  # noqa: E402
from local_models.generation import GenerationRequest  # noqa: E402
from local_models.portfolio import PortfolioGenerator  # noqa: E402

DATA = REPO.parent / "shared" / "data"
TINY = REPO / "tests" / "data" / "tiny_t5_onnx"


def real_goals() -> list[str]:
    goals: list[str] = []
    found: set[str] = set()
    for name in ("plainGoal.json", "2881.json", "6594.json"):
        transcript = DATA / "lean-server-transcripts" / name
        if transcript.exists():
            data = json.loads(transcript.read_text())
            found |= {"\n\n".join(e["result"]["goals"]) for e in data["exchanges"]
                      if e.get("method") == "$/lean/plainGoal" and e["result"] and e["result"].get("goals")}
    goals += sorted(found)
    minif2f = DATA / "benchmarks" / "minif2f-lean4.jsonl"
    if minif2f.exists():
        for line in minif2f.read_text().splitlines():
            g = goal_shape.goal_from_statement(json.loads(line)["statement"])
            goals.append("\n".join([f"{' '.join(h.names)} : {h.type}" for h in g.hypotheses] + ["⊢ " + g.target]))
    return goals


def clear_caches() -> None:
    goal_shape.classify.cache_clear()
    goal_shape.normalize.cache_clear()
    goal_shape._scan_ops.cache_clear()


def bench_portfolio(repeats: int) -> None:
    goals = real_goals()
    if not goals:
        print("portfolio: no shared data found; skipped")
        return
    gen = PortfolioGenerator()
    for imports in ((), ("Mathlib",)):
        for mode in ("cold", "warm"):
            times = []
            for _ in range(repeats):
                for g in goals:
                    req = GenerationRequest(goal=g, n=8, imports=imports)
                    if mode == "cold":
                        clear_caches()
                    t0 = time.perf_counter()
                    gen.suggest(req)
                    times.append(time.perf_counter() - t0)
            times.sort()
            print(f"portfolio imports={list(imports)!s:12} {mode}: {len(goals)} goals x {repeats}: "
                  f"median {statistics.median(times) * 1e3:.3f} ms, p95 {times[int(0.95 * len(times))] * 1e3:.3f} ms, "
                  f"max {times[-1] * 1e3:.3f} ms")


def bench_onnx(repeats: int) -> None:
    try:
        from local_models.onnx_seq2seq import load
    except ImportError:
        print("onnx: onnxruntime not installed; skipped")
        return
    inputs = [
        "p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q", "⊢ 2 + 2 = 4", "a b : ℕ\n⊢ a + b = b + a",
        "x : ℝ\nh : 0 < x\n⊢ 0 < x ^ 2",
    ]
    results = {}
    for use_past in (True, False):
        g = load(None, TINY, threads=1, use_past=use_past)
        times, steps, outs = [], 0, []
        for _ in range(repeats):
            for text in inputs:
                ids = byt5.encode(text)
                t0 = time.perf_counter()
                hyps = g._model.beam_search(ids, 4, 4, 64)
                times.append(time.perf_counter() - t0)
                steps += g.last_stats.steps
                outs.append([h.tokens for h in hyps])
        g.close()
        results[use_past] = (statistics.median(times), steps, outs)
    same = results[True][2] == results[False][2]
    for use_past, (med, steps, _) in results.items():
        print(f"onnx tiny T5 beam n=4, {'with past   ' if use_past else 'without past'}: median {med * 1e3:.2f} ms "
              f"per input ({steps} decoder steps in all)")
    print(f"onnx with-past speed-up (median ratio without/with): {results[False][0] / results[True][0]:.2f}x; "
          f"identical outputs: {same}")


def bench_byt5_small(model_dir: Path, repeats: int, threads: int, steps: int) -> None:
    """Decoding cost at ByT5-small's real size (random weights: only the timing means anything)."""
    from local_models.onnx_seq2seq import load

    goal = ("x y : ℝ\nh₀ : 0 < x\nh₁ : 0 < y\nh₂ : x + y = 10\nh₃ : x * y = 16\n"
            "⊢ x ^ 2 + y ^ 2 = 68")  # a typical miniF2F-size state, 77 bytes
    premises = [f"<a>lemma_{i}</a> theorem lemma_{i} (a b : ℝ) (h : 0 < a) : a * b ≤ a ^ 2 + b ^ 2" for i in range(8)]
    text = "\n\n".join(premises + [goal])
    ids = byt5.encode(text)
    print(f"byt5-small-shaped model: input {ids.size} tokens, {steps} decoder steps, {threads} threads")
    rows = {}
    for use_past in (True, False):
        g = load(None, model_dir, threads=threads, use_past=use_past)
        for label, n in (("greedy", 1), ("beam n=4", 4)):
            times, enc, dec = [], [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                if n == 1:
                    g._model.greedy(ids, steps)
                else:
                    g._model.beam_search(ids, n, n, steps)
                times.append(time.perf_counter() - t0)
                st = g.last_stats
                enc.append(st.encoder_s)
                dec.append(st.decoder_s / max(1, st.steps))
            rows[(use_past, label)] = statistics.median(times)
            print(f"  {'with past   ' if use_past else 'without past'} {label:9}: median total {statistics.median(times):.3f} s "
                  f"(encoder {statistics.median(enc) * 1e3:.0f} ms, {statistics.median(dec) * 1e3:.1f} ms per decoder step)")
        g.close()
    for label in ("greedy", "beam n=4"):
        print(f"  {label}: without/with past = {rows[(False, label)] / rows[(True, label)]:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--byt5-small", type=Path, default=None,
                        help="also time a ByT5-small-shaped export (make_tiny_t5_onnx.py --byt5-small-shape DIR)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40, help="decoder steps (bytes) for the ByT5-small timing")
    args = parser.parse_args()
    bench_portfolio(args.repeats)
    bench_onnx(args.repeats)
    if args.byt5_small:
        bench_byt5_small(args.byt5_small, max(1, args.repeats // 2), args.threads, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
