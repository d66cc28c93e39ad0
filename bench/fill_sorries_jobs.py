"""How should `fill-sorries --jobs N` use Lean servers? One shared server with N files in
flight, or one server per job? Measured side by side against the Lean test double.

Lean's watchdog already runs one worker process per open document, so files in flight on one
server elaborate in parallel; a server per job adds a watchdog (and, with real Lean, a second
copy of every import in memory per shadow document it opens) without adding parallelism. This
bench measures the wall time of both layouts on the same project, with a simulated elaboration
time per check, so the choice rests on numbers.

    .venv/bin/python bench/fill_sorries_jobs.py [--files 8] [--jobs 2] [--elab-ms 50] [--repeats 3]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from copilot.fill_sorries.runner import Options, run
from tests.lean_double import double_command

FILE = """theorem add_zero_{i} (n : Nat) : n + 0 = n := by
  sorry

theorem swap_{i} (p q : Prop) : p ∧ q → q ∧ p := by
  sorry

theorem four_{i} : 2 + 2 = 4 := sorry
"""


def make_project(root: Path, files: int) -> Path:
    (root / "P").mkdir(parents=True)
    (root / "lakefile.lean").write_text("-- bench\n")
    for i in range(files):
        (root / "P" / f"F{i}.lean").write_text(FILE.format(i=i))
    return root


async def one_run(project: Path, jobs: int, per_job: bool, elab_ms: int) -> tuple[float, int]:
    server = double_command("--elab-delay-ms", str(elab_ms))
    options = Options(project=project, jobs=jobs, server_per_job=per_job, mode="dry-run", budget=30,
                      server_cmd=server, use_index=False)
    started = time.perf_counter()
    report = await run(options)
    return time.perf_counter() - started, report.summary.filled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--elab-ms", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    layouts = [("sequential (--jobs 1)", 1, False), (f"shared server, --jobs {args.jobs}", args.jobs, False),
               (f"server per job, --jobs {args.jobs}", args.jobs, True)]
    times: dict[str, list[float]] = {name: [] for name, _, _ in layouts}
    filled: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name, jobs, per_job in layouts:  # interleaved, so drift hits all layouts alike
                project = make_project(Path(tmp) / f"r{repeat}-{jobs}-{per_job}", args.files)
                seconds, n = asyncio.run(one_run(project, jobs, per_job, args.elab_ms))
                times[name].append(seconds)
                filled[name] = n
    base = statistics.median(times[layouts[0][0]])
    print(f"{args.files} files x 3 sorries, double elaboration {args.elab_ms} ms/check, {args.repeats} repeats (median)")
    print(f"{'layout':36} {'wall s':>8} {'speed-up':>9} {'filled':>7}")
    for name, _, _ in layouts:
        median = statistics.median(times[name])
        print(f"{name:36} {median:8.2f} {base / median:8.2f}x {filled[name]:7d}")
    shared = statistics.median(times[layouts[1][0]])
    per_job = statistics.median(times[layouts[2][0]])
    print(f"shared / per-job wall-time ratio: {shared / per_job:.2f}")


if __name__ == "__main__":
    main()
