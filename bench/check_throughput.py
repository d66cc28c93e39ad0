"""Candidates checked per second: batched (many declaration copies per elaboration) versus one
candidate per elaboration, side by side in one run, against the Lean test double.

The double simulates ``--per-decl-delay-ms`` of elaboration per declaration (default 50 ms, so
50 ms per checked candidate) plus ``--elab-delay-ms`` before a version's diagnostics are
published (Lean's ``server.reportDelayMs`` is 200 ms; both values are measured by default).
Both modes check the same candidates in the same shadow document; their verdicts are compared
and the run fails if they differ. The double is not Lean: this measures the checker's
orchestration, not Lean's elaboration speed.

    .venv/bin/python bench/check_throughput.py [--candidates 32] [--repeats 3] [--batch-size 16]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from copilot.checker import Checker, CheckerConfig, CheckTarget  # noqa: E402
from copilot.proof_text import locate_sorries  # noqa: E402
from lsp_proxy.headless import start_lean  # noqa: E402

SCENARIO = REPO / "tests" / "copilot" / "scenarios" / "search.json"
TEXT = """import Foo

theorem bench (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by
  rw [Nat.add_zero]
  sorry
"""
# A realistic mix: one proof, some valid steps, many failures (as a model proposes them).
BASE = ["rw [Nat.add_zero]\nexact h", "rw [Nat.add_zero]", "skip", "simp", "exact h", "omega", "linarith", "decide"]


def candidates(n: int) -> list[str]:
    """``n`` distinct candidates: the base mix, then the same prefixed by ``skip`` lines
    (``skip`` keeps the goal, so verdicts repeat while texts stay distinct)."""
    return ["skip\n" * (i // len(BASE)) + BASE[i % len(BASE)] for i in range(n)]


async def run_mode(checker: Checker, target: CheckTarget, cands: list[str], batch: bool) -> tuple[float, list[str]]:
    started = time.perf_counter()
    results = await checker.check_many(target, cands, batch=batch)
    elapsed = time.perf_counter() - started
    return len(cands) / elapsed, [r.status for r in results]


async def measure(elab_ms: int, per_decl_ms: int, n: int, repeats: int, batch_size: int) -> dict:
    cmd = [
        sys.executable, "-m", "tests.lean_double", "--scenario", str(SCENARIO),
        "--elab-delay-ms", str(elab_ms), "--per-decl-delay-ms", str(per_decl_ms),
    ]
    client = await start_lean(cmd, REPO, request_timeout=120.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            uri = (Path(tmp) / "Bench.lean").as_uri()
            target = CheckTarget.for_sorry(uri, TEXT, locate_sorries(TEXT)[0])
            checker = Checker(client, CheckerConfig(batch_size=batch_size, wall_timeout=120.0, verify_axioms=True))
            cands = candidates(n)
            await checker.check_many(target, cands[:2], batch=False)  # warm up: open the shadow
            single_rates, batched_rates = [], []
            verdicts_single = verdicts_batched = None
            for _ in range(repeats):  # interleaved so drift affects both modes alike
                rate, verdicts_single = await run_mode(checker, target, cands, batch=False)
                single_rates.append(rate)
                rate, verdicts_batched = await run_mode(checker, target, cands, batch=True)
                batched_rates.append(rate)
            await checker.close()
    finally:
        await client.shutdown()
    if verdicts_single != verdicts_batched:
        raise SystemExit(f"verdicts differ between modes:\n{verdicts_single}\n{verdicts_batched}")
    single, batched = statistics.median(single_rates), statistics.median(batched_rates)
    return {
        "elab_delay_ms": elab_ms,
        "per_decl_delay_ms": per_decl_ms,
        "candidates": n,
        "batch_size": batch_size,
        "repeats": repeats,
        "single_per_s": single_rates,
        "batched_per_s": batched_rates,
        "median_single_per_s": single,
        "median_batched_per_s": batched,
        "ratio": batched / single,
        "verdicts": {s: verdicts_batched.count(s) for s in sorted(set(verdicts_batched))},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--per-decl-ms", type=int, default=50, help="simulated elaboration per check (ms)")
    parser.add_argument("--elab-delays", default="200,0", help="comma-separated reportDelay values to measure (ms)")
    parser.add_argument("--json", help="also write the measurements to this file")
    args = parser.parse_args(argv)
    rows = []
    for elab in (int(x) for x in args.elab_delays.split(",")):
        rows.append(asyncio.run(measure(elab, args.per_decl_ms, args.candidates, args.repeats, args.batch_size)))
    print(f"check throughput against the Lean test double ({args.per_decl_ms} ms simulated elaboration per check, "
          f"{args.candidates} candidates, batch size {args.batch_size}, {args.repeats} interleaved repeats; medians)")
    print(f"{'report delay':>12}  {'one-at-a-time':>14}  {'batched':>10}  {'ratio':>6}  verdicts (identical in both modes)")
    for row in rows:
        print(f"{row['elab_delay_ms']:>10} ms  {row['median_single_per_s']:>10.2f}/s  {row['median_batched_per_s']:>8.2f}/s  "
              f"{row['ratio']:>5.2f}x  {row['verdicts']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
