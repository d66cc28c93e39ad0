"""What does `fill-sorries --ray` cost and gain on a local Ray cluster? Side by side, medians.

The same 24-sorry workload as bench/fill_sorries_jobs.py (8 files x 3 sorries, the Lean test
double with a simulated elaboration time per check) run:

* locally with ``--jobs 1`` (the baseline) and ``--jobs 2`` (one machine, one shared server);
* on a local Ray cluster with 1 and 2 workers (each worker its own Lean server, one file in
  flight per worker), the wall time including the workers' start (actor + Lean) but not the
  cluster's, split at the moment the first worker is up and takes work;

plus the cost of Ray itself: starting and stopping a local cluster (``ray.init`` /
``ray.shutdown``), and starting one worker (actor process + its Lean server) on a running one.
Runs are interleaved so drift hits every layout alike.

    .venv/bin/python bench/ray_fill_sorries.py [--files 8] [--elab-ms 50] [--repeats 3] [--cpus 2]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fill_sorries_jobs import FILE, make_project  # the same 24-sorry workload as --jobs
from copilot.fill_sorries.ray_runner import RayEvents, RayOptions, import_ray, keep_local_cluster_on_loopback, run_on_ray
from copilot.fill_sorries.runner import Options, run
from tests.lean_double import double_command


def _options(project: Path, jobs: int, elab_ms: int) -> Options:
    return Options(project=project, jobs=jobs, mode="dry-run", budget=30, use_index=False,
                   server_cmd=double_command("--elab-delay-ms", str(elab_ms)))


class _FirstDispatch(RayEvents):
    """Notes when the first unit goes out: the first worker (actor process + Lean) is up."""

    def __init__(self) -> None:
        self.at: float | None = None

    def unit_dispatched(self, worker: str, file: str, attempt: int) -> None:
        if self.at is None:
            self.at = time.perf_counter()


async def _timed(coro, events: _FirstDispatch | None = None) -> tuple[float, float, float, int]:
    """(wall seconds, seconds until the first unit went out, driver-process CPU seconds,
    sorries filled) of one run."""
    started, cpu = time.perf_counter(), time.process_time()
    report = await coro
    if report.errors:
        raise RuntimeError(f"run failed: {report.errors}")
    wall = time.perf_counter() - started
    startup = (events.at - started) if events is not None and events.at is not None else 0.0
    return wall, startup, time.process_time() - cpu, report.summary.filled


def driver_serial_costs(tmp: Path) -> dict[str, float]:
    """What only the driver does, once per decision, per written file, per report: measured here
    so the 100-node extrapolation in docs/ray.md rests on numbers."""
    from copilot.fill_sorries.report import Report, RunConfig, SorryResult, to_json
    from copilot.fill_sorries.resume import ResumeCache
    from copilot.fill_sorries.writer import atomic_write, read_snapshot

    result = SorryResult(file="P/F0.lean", line=2, column=3, declaration="add_zero_0", goal="n : Nat\n⊢ n + 0 = n",
                         status="filled", proof="omega", replacement="omega", replace_start=50, replace_end=55,
                         time_seconds=0.4, expansions=1, models=["portfolio"])
    cache = ResumeCache(tmp / "cache.jsonl")
    n = 300
    t0 = time.perf_counter()
    for i in range(n):
        cache.put(f"key{i}", result)
    put_ms = (time.perf_counter() - t0) / n * 1000
    target = tmp / "W.lean"
    target.write_text(FILE.format(i=0) * 4)
    t0 = time.perf_counter()
    for i in range(100):
        atomic_write(read_snapshot(target), FILE.format(i=i) * 4)
    write_ms = (time.perf_counter() - t0) / 100 * 1000
    report = Report(project="/p", started_at="now", config=RunConfig(budget_seconds=60, max_expansions=200),
                    results=[result] * 100_000)
    t0 = time.perf_counter()
    size = len(to_json(report))
    return {"cache_put_ms": put_ms, "atomic_write_ms": write_ms, "report_100k_s": time.perf_counter() - t0,
            "report_100k_mb": size / 1e6}


def cluster_start_cost(ray, cpus: int, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds for ray.init (local cluster) and for ray.shutdown, ``repeats`` times."""
    starts, stops = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        keep_local_cluster_on_loopback()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        ray.get(ray.remote(lambda: 1).remote())  # the cluster answers a task (first worker process started)
        t1 = time.perf_counter()
        ray.shutdown()
        starts.append(t1 - t0)
        stops.append(time.perf_counter() - t1)
    return starts, stops


async def worker_start_cost(project: Path, elab_ms: int) -> float:
    """One worker on the running cluster: actor process, imports, Lean (double) initialised."""
    from copilot.fill_sorries.ray_runner import FillWorker
    from copilot.fill_sorries.report import RunConfig

    ray = import_ray()
    actor = ray.remote(FillWorker).options(num_cpus=1)
    t0 = time.perf_counter()
    handle = actor.remote(_options(project, 1, elab_ms), str(project), RunConfig(budget_seconds=30, max_expansions=200), None)
    await handle.start.remote()
    seconds = time.perf_counter() - t0
    await handle.shutdown.remote()
    ray.kill(handle)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--elab-ms", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster (default 2)")
    args = parser.parse_args()
    ray = import_ray()
    starts, stops = cluster_start_cost(ray, args.cpus, args.repeats)
    layouts = [("local --jobs 1 (baseline)", "local", 1), ("local --jobs 2", "local", 2),
               ("Ray, 1 worker", "ray", 1), ("Ray, 2 workers", "ray", 2)]
    times: dict[str, list[float]] = {name: [] for name, _, _ in layouts}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in layouts}
    startup: dict[str, list[float]] = {name: [] for name, _, _ in layouts}
    filled: dict[str, int] = {}
    worker_starts: list[float] = []
    keep_local_cluster_on_loopback()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for repeat in range(args.repeats):
                probe = make_project(Path(tmp) / f"probe{repeat}", 1)
                worker_starts.append(asyncio.run(worker_start_cost(probe, args.elab_ms)))
                for name, kind, n in layouts:
                    project = make_project(Path(tmp) / f"r{repeat}-{kind}-{n}", args.files)
                    events = _FirstDispatch() if kind == "ray" else None
                    if kind == "local":
                        coro = run(_options(project, n, args.elab_ms))
                    else:
                        coro = run_on_ray(_options(project, 1, args.elab_ms), RayOptions(workers=n), events)
                    seconds, start_seconds, cpu_seconds, count = asyncio.run(_timed(coro, events))
                    times[name].append(seconds)
                    startup[name].append(start_seconds)
                    cpu[name].append(cpu_seconds)
                    filled[name] = count
            serial = driver_serial_costs(Path(tmp))
    finally:
        ray.shutdown()
    print(f"{args.files} files x 3 sorries, double elaboration {args.elab_ms} ms/check, "  # cli-output
          f"{args.repeats} repeats (median), local Ray cluster with {args.cpus} CPUs")
    print(f"{'layout':26} {'wall s':>7} {'vs --jobs 1':>11} {'1st worker up s':>15} {'after s':>8} "  # cli-output
          f"{'filled':>6} {'driver CPU s':>12}")
    base = statistics.median(times[layouts[0][0]])
    for name, _, _ in layouts:
        median = statistics.median(times[name])
        search = statistics.median([t - s for t, s in zip(times[name], startup[name])])
        print(f"{name:26} {median:7.2f} {base / median:10.2f}x {statistics.median(startup[name]):15.2f} "  # cli-output
              f"{search:8.2f} {filled[name]:6d} {statistics.median(cpu[name]):12.2f}")
    one, two = statistics.median(times["Ray, 1 worker"]), statistics.median(times["Ray, 2 workers"])
    print(f"Ray 2 workers / 1 worker wall-time ratio: {two / one:.2f} (speed-up {one / two:.2f}x)")  # cli-output
    search_one, search_two = ([t - s for t, s in zip(times[k], startup[k])] for k in ("Ray, 1 worker", "Ray, 2 workers"))
    ratio = statistics.median(search_two) / statistics.median(search_one)
    print(f"after the first worker is up: ratio {ratio:.2f} (speed-up {1 / ratio:.2f}x)")  # cli-output
    print(f"Ray start-up: ray.init local cluster {statistics.median(starts):.2f} s, "  # cli-output
          f"ray.shutdown {statistics.median(stops):.2f} s, one worker (actor + Lean) {statistics.median(worker_starts):.2f} s")
    sorries = 3 * args.files
    print(f"driver CPU per sorry on Ray (2 workers, incl. Ray's driver threads): "  # cli-output
          f"{statistics.median(cpu['Ray, 2 workers']) / sorries * 1000:.1f} ms")
    print(f"driver serial costs: resume-cache put (fsync) {serial['cache_put_ms']:.2f} ms/decision, "  # cli-output
          f"atomic write {serial['atomic_write_ms']:.2f} ms/file, JSON report of 100k sorries "
          f"{serial['report_100k_s']:.2f} s ({serial['report_100k_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
