"""fill-sorries on a REAL local Ray cluster (one single-node cluster per module) with the Lean test double
standing in for `lake serve` (tests/lean_double/bin/lake on each worker's PATH).

Checked: the same decisions, written files and resume decisions as `--jobs 1`; a worker killed
mid-run (its unit is retried once on another worker); Ctrl-C (SIGINT to a driver subprocess
connected to the cluster) gives a valid partial report; a clear error without the `ray` extra.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import jsonschema
import pytest

from copilot.fill_sorries.cli import main
from copilot.fill_sorries.ray_runner import (
    RayEvents,
    RayOptions,
    RayUnavailable,
    import_ray,
    keep_local_cluster_on_loopback,
    run_on_ray,
    split_units,
)
from copilot.fill_sorries.report import from_json, json_schema
from copilot.fill_sorries.runner import Options, run
from tests.conftest import REPO_ROOT
from tests.fill_sorries.test_fill_sorries import A_LEAN, B_LEAN, _project
from tests.lean_double import BASIC_SCENARIO, double_command

DOUBLE_BIN = REPO_ROOT / "tests" / "lean_double" / "bin"


def _double_env(*extra: str) -> dict[str, str]:
    """What a worker needs to find the double as `lake serve`."""
    args = ["--scenario", str(BASIC_SCENARIO), "--elab-delay-ms", "10", *extra]
    return {"PATH": f"{DOUBLE_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "LEAN_DOUBLE_ARGS": shlex.join(args)}


@pytest.fixture(scope="module")
def cluster():
    """One local single-node Ray cluster for the module (start-up costs seconds); yields its GCS address."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    keep_local_cluster_on_loopback()  # tests talk to servers on loopback only
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
             object_store_memory=100 * 1024 * 1024)
    try:
        address = ray.get_runtime_context().gcs_address
        assert address.startswith("127.0.0.1:"), f"the test cluster left loopback: {address}"
        yield address
    finally:
        ray.shutdown()


def _decisions(report) -> list[tuple]:
    return [(r.file, r.line, r.column, r.declaration, r.status, r.proof, r.replacement) for r in report.results]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The sequential local run (`--jobs 1`, the double as `lake serve`, --resume into a fresh
    cache): what Ray must reproduce. Returns (report, file texts after it, its cache file)."""
    root = tmp_path_factory.mktemp("reference")
    project, cache = _project(root), root / "local.jsonl"
    with mock.patch.dict(os.environ, _double_env()):
        report = asyncio.run(run(Options(project=project, budget=10, mode="in-place", resume=True, cache_path=cache,
                                         use_index=False)))
    assert len(report.results) == 6 and any(r.status == "filled" for r in report.results)
    assert not any(r.status == "error" for r in report.results), report.errors
    return report, {name: (project / "Proj" / name).read_text() for name in ("A.lean", "B.lean", "C.lean")}, cache


def test_split_units_keeps_declarations_whole():
    """Large files are split by declaration (never inside one), small files stay whole."""
    import itertools

    text = A_LEAN + "\n" + B_LEAN.replace("four", "four'")  # 6 sorries in 5 declarations
    snap = read_snapshot_text(text)
    whole = split_units("F.lean", snap, 8, itertools.count())
    assert [(u.kind, u.declarations) for u in whole] == [("file", None)]
    parts = split_units("F.lean", snap, 2, itertools.count())
    assert [u.kind for u in parts] == ["search"] * len(parts)
    assert [u.declarations for u in parts] == [("add_zero'", "swap"), ("hard", "four'"), ("two_sorries",)]
    assert [u.id for u in parts] == [0, 1, 2]


def read_snapshot_text(text: str):
    from copilot.fill_sorries.writer import Snapshot, sha256_bytes

    return Snapshot(Path("F.lean"), text, sha256_bytes(text.encode()))


@pytest.mark.slow
def test_same_results_as_jobs_one_and_resume_across_runners(cluster, reference, tmp_path):
    """Two Ray workers (files split by declaration, re-checked together) decide and write exactly
    what the sequential local run does; each one's resume cache serves the other."""
    local, local_texts, local_cache = reference
    ray_cache = tmp_path / "ray.jsonl"
    ray_options = RayOptions(workers=2, split_above=2, runtime_env={"env_vars": _double_env()})
    project = _project(tmp_path / "ray")
    on_ray = asyncio.run(run_on_ray(Options(project=project, budget=10, mode="in-place", resume=True,
                                            cache_path=ray_cache, use_index=False), ray_options))
    assert on_ray.complete and not on_ray.errors, on_ray.errors
    assert _decisions(on_ray) == _decisions(local)
    assert on_ray.files_written == local.files_written
    assert {name: (project / "Proj" / name).read_text() for name in local_texts} == local_texts
    assert (project / "Proj" / "A.lean").read_text() != A_LEAN
    # The decisions the Ray driver recorded serve the local runner, key for key ...
    with mock.patch.dict(os.environ, _double_env()):
        reused = asyncio.run(run(Options(project=_project(tmp_path / "fresh"), budget=10, mode="dry-run", resume=True,
                                         cache_path=ray_cache, use_index=False)))
    assert all(r.cached for r in reused.results) and len(reused.results) == 6
    assert _decisions(reused) == _decisions(local)
    # ... and the local runner's serve the Ray workers.
    fresh = _project(tmp_path / "fresh2")
    from_local = asyncio.run(run_on_ray(Options(project=fresh, budget=10, mode="dry-run", resume=True,
                                                cache_path=local_cache, use_index=False), ray_options))
    assert all(r.cached for r in from_local.results) and len(from_local.results) == 6
    assert _decisions(from_local) == _decisions(local)
    assert (fresh / "Proj" / "A.lean").read_text() == A_LEAN, "a dry run writes nothing"


class _KillFirst(RayEvents):
    """Kills the worker that got the first unit of Proj/A.lean, 0.5 s into it."""

    def __init__(self) -> None:
        self.dispatched: list[tuple[str, str, int]] = []
        self.died: list[tuple[str, list[str]]] = []
        self.victim: str | None = None

    def unit_dispatched(self, worker, file, attempt):
        import ray

        self.dispatched.append((worker, file, attempt))
        if file == "Proj/A.lean" and self.victim is None:
            self.victim = worker
            asyncio.get_running_loop().call_later(0.5, ray.kill, ray.get_actor(worker))

    def worker_died(self, worker, files):
        self.died.append((worker, list(files)))


@pytest.mark.slow
def test_killed_worker_loses_only_its_unit_which_is_retried_elsewhere(cluster, reference, tmp_path):
    """ray.kill of a worker mid-file: that file is searched again on the other worker (once),
    and the run ends with the same decisions as an undisturbed one."""
    project = _project(tmp_path)
    events = _KillFirst()
    env = _double_env("--per-decl-delay-ms", "100")  # each check takes 0.3 s: the kill lands mid-search
    report = asyncio.run(run_on_ray(Options(project=project, budget=30, mode="in-place", use_index=False),
                                    RayOptions(workers=2, runtime_env={"env_vars": env}), events))
    assert report.complete
    assert _decisions(report) == _decisions(reference[0])
    assert [worker for worker, _ in events.died] == [events.victim]
    assert "Proj/A.lean" in events.died[0][1]
    retries = [(w, f) for w, f, attempt in events.dispatched if attempt == 1]
    assert ("Proj/A.lean" in [f for _, f in retries]) and all(w != events.victim for w, _ in retries)
    assert not report.errors, "a retried unit is no error of the run (exit code 1, not 2)"
    assert {name: (project / "Proj" / name).read_text() for name in reference[1]} == reference[1]


def _driver(project: Path, tmp_path: Path, cluster: str, *extra: str, delay_ms: int = 0) -> subprocess.Popen:
    """A `fill-sorries --ray ADDRESS` driver subprocess on the module's cluster, logging to driver.log."""
    server = shlex.join(double_command("--elab-delay-ms", "10", "--per-decl-delay-ms", str(delay_ms)))
    return subprocess.Popen(
        [sys.executable, "-m", "copilot.cli", "fill-sorries", "--project", str(project), "--server-cmd", server,
         "--budget", "10", "--no-index", "-q", "--in-place", "--report", str(tmp_path / "report.json"),
         "--log-file", str(tmp_path / "driver.log"), "--ray", cluster, *extra],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


class _KillEveryA(_KillFirst):
    """Kills every worker that gets Proj/A.lean, 0.5 s into it."""

    def unit_dispatched(self, worker, file, attempt):
        import ray

        self.dispatched.append((worker, file, attempt))
        if file == "Proj/A.lean":
            asyncio.get_running_loop().call_later(0.5, ray.kill, ray.get_actor(worker))


@pytest.mark.slow
def test_a_unit_is_retried_only_once(cluster, reference, tmp_path):
    """A file whose worker dies twice gets `error` records (no third try); the other files are
    decided as usual (by fresh workers if both first ones are gone by then)."""
    project = _project(tmp_path)
    events = _KillEveryA()
    env = _double_env("--per-decl-delay-ms", "100")
    report = asyncio.run(run_on_ray(Options(project=project, budget=30, mode="in-place", use_index=False),
                                    RayOptions(workers=2, runtime_env={"env_vars": env}), events))
    assert [attempt for _, file, attempt in events.dispatched if file == "Proj/A.lean"] == [0, 1]
    a = [r for r in report.results if r.file == "Proj/A.lean"]
    assert len(a) == 3 and all(r.status == "error" and "died twice" in r.message for r in a), a
    others = [d for d in _decisions(reference[0]) if d[0] != "Proj/A.lean"]
    assert [d for d in _decisions(report) if d[0] != "Proj/A.lean"] == others
    assert (project / "Proj" / "A.lean").read_text() == A_LEAN


@pytest.mark.slow
def test_uploaded_project_copy_gives_the_same_results(cluster, reference, tmp_path):
    """--ray-upload-project: the workers run Lean in Ray's copy of the project (job-level
    runtime_env working_dir), the driver writes the real files, the decisions are the local run's."""
    project = _project(tmp_path)
    proc = _driver(project, tmp_path, cluster, "--workers", "1", "--ray-upload-project")
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, err.decode()  # `hard` stays unfilled
    report = from_json((tmp_path / "report.json").read_bytes())
    assert not report.errors, report.errors
    assert _decisions(report) == _decisions(reference[0])
    assert {name: (project / "Proj" / name).read_text() for name in reference[1]} == reference[1]
    log = (tmp_path / "driver.log").read_text()
    (copy,) = re.findall(r"worker lean-companion-fill-\S+ on \S+ \(pid \d+, project (.+)\)", log)
    assert Path(copy).resolve() != project.resolve()
    assert (Path(copy) / "Proj" / "A.lean").read_text() == A_LEAN, "the workers' copy is never written"


@pytest.mark.slow
def test_read_only_file_is_refused_as_in_a_local_run(cluster, tmp_path):
    """--in-place without --force: a read-only file is not searched, reported as in a local run;
    the other files are filled and written by the driver (B.lean with a byte-order mark, which
    stays, and the same columns as locally)."""
    reports, written = [], []
    for kind in ("local", "ray"):
        project = _project(tmp_path / kind)
        (project / "Proj" / "B.lean").write_bytes(b"\xef\xbb\xbf" + B_LEAN.encode())
        (project / "Proj" / "A.lean").chmod(0o444)
        options = Options(project=project, budget=10, mode="in-place", use_index=False)
        with mock.patch.dict(os.environ, _double_env()):
            reports.append(asyncio.run(run(options) if kind == "local" else
                                       run_on_ray(options, RayOptions(workers=1, runtime_env={"env_vars": _double_env()}))))
        assert (project / "Proj" / "A.lean").read_text() == A_LEAN
        written.append((project / "Proj" / "B.lean").read_bytes())
    local, on_ray = reports
    assert written[1] == written[0] and written[1].startswith(b"\xef\xbb\xbf") and b"exact hp" in written[1]
    assert [(r.file, r.line, r.status, r.message) for r in on_ray.results if r.file == "Proj/A.lean"] == \
        [(r.file, r.line, r.status, r.message) for r in local.results if r.file == "Proj/A.lean"]
    assert {r.status for r in on_ray.results if r.file == "Proj/A.lean"} == {"error"}
    assert _decisions(on_ray) == _decisions(local)
    assert on_ray.files_written == local.files_written == ["Proj/B.lean"]
    assert [e.replace("/ray/", "/") for e in on_ray.errors] == [e.replace("/local/", "/") for e in local.errors]
    assert any("read-only" in e for e in on_ray.errors)


@pytest.mark.slow
def test_ctrl_c_stops_the_cluster_work_and_writes_a_partial_report(cluster, tmp_path):
    """SIGINT to a driver (a subprocess connected to the cluster) once its worker is searching:
    exit 0/1, the report is valid, incomplete, and lists the sorries never decided as skipped."""
    project = _project(tmp_path)
    report_path, log_path = tmp_path / "report.json", tmp_path / "driver.log"
    proc = _driver(project, tmp_path, cluster, "--workers", "1", delay_ms=500)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if log_path.exists() and "worker lean-companion-fill" in log_path.read_text(errors="replace"):
            break
        time.sleep(0.2)
    time.sleep(1.0)  # into the first file's search
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode in (0, 1), err.decode()
    report = from_json(report_path.read_bytes())
    assert report.complete is False
    assert len(report.results) == 6
    assert any(r.status == "skipped" for r in report.results), [r.status for r in report.results]
    jsonschema.validate(json.loads(report_path.read_text()), json_schema())
    assert (project / "Proj" / "B.lean").read_text() == B_LEAN


def test_ray_flags_without_ray_are_refused(tmp_path, capsys):
    """--workers and friends without --ray are a mistake: exit 2 before anything runs."""
    project = _project(tmp_path)
    assert main(["--project", str(project), "--no-index", "-q", "--workers", "4"]) == 2
    assert "--workers only apply with --ray" in " ".join(capsys.readouterr().err.split())
    assert main(["--project", str(project), "--no-index", "-q", "--ray", "--workers", "0"]) == 2
    assert "--workers must be positive" in capsys.readouterr().err


def test_missing_ray_extra_is_a_clear_error(tmp_path, monkeypatch, capsys):
    """Without `ray` installed, --ray exits 2 naming the extra to install; nothing else runs."""
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(RayUnavailable, match=r"lean-companion\[ray\]"):
        import_ray()
    project = _project(tmp_path)
    code = main(["--project", str(project), "--no-index", "-q", "--ray"])
    assert code == 2
    assert "lean-companion[ray]" in capsys.readouterr().err
    assert (project / "Proj" / "A.lean").read_text() == A_LEAN


@pytest.mark.slow
def test_workers_no_node_can_hold_are_refused_at_once(cluster, tmp_path):
    """--gpus-per-worker on a cluster without GPUs would wait forever: a clear error instead."""
    report = asyncio.run(run_on_ray(Options(project=_project(tmp_path), budget=10, use_index=False),
                                    RayOptions(gpus_per_worker=1)))
    assert report.error is not None and "GPU" in report.error and "--gpus-per-worker" in report.error
    assert not report.results and not report.complete


@pytest.mark.slow
def test_lean_that_cannot_start_on_the_workers_is_an_error(cluster, tmp_path):
    """A server command that the workers cannot run: exit 2, the report says so."""
    project = _project(tmp_path)
    code = main(["--project", str(project), "--server-cmd", "definitely-not-lake serve", "-q", "--no-index",
                 "--ray", cluster, "--workers", "1", "--report", str(tmp_path / "r.json")])
    assert code == 2
    report = from_json((tmp_path / "r.json").read_bytes())
    assert any("could not run Lean" in e for e in report.errors)


@pytest.mark.slow
def test_bench_on_ray_gives_the_local_table(cluster, tmp_path, capsys):
    """`lean-companion bench --ray` over a small miniF2F layout: the same decisions and table as
    the local run, and the checkout untouched."""
    from copilot.fill_sorries import bench

    root = tmp_path / "minif2f"
    (root / "MiniF2F" / "Test").mkdir(parents=True)
    (root / "lakefile.lean").write_text("-- test\n")
    statements = {"mathd_algebra_1": "(n : Nat) : n + 0 = n", "amc12_2000_p1": "(p q : Prop) : p ∧ q → q ∧ p",
                  "imo_1959_p1": "(f : Nat → Nat) (hf : ∀ x, f (f x) = x) : Function.Injective f"}
    for name, statement in statements.items():
        (root / "MiniF2F" / "Test" / f"{name}.lean").write_text(f"theorem {name} {statement} := by\n  sorry\n")
    before = {p: p.read_text() for p in root.rglob("*.lean")}
    server = shlex.join(double_command("--elab-delay-ms", "10"))
    common = [str(root), "--budget", "10", "--no-index", "--server-cmd", server]
    assert bench.main([*common, "--report", str(tmp_path / "local.json")]) == 0
    local_out = capsys.readouterr().out
    assert bench.main([*common, "--report", str(tmp_path / "ray.json"), "--ray", cluster, "--workers", "2"]) == 0
    ray_out = capsys.readouterr().out
    local, on_ray = from_json((tmp_path / "local.json").read_bytes()), from_json((tmp_path / "ray.json").read_bytes())
    assert _decisions(on_ray) == _decisions(local) and len(local.results) == 3
    def rows(out: str) -> list[str]:  # group, filled / total, rate (not the time column)
        return [line.rsplit("│", 2)[0] for line in out.splitlines() if "/ " in line and "│" in line]

    assert len(rows(local_out)) >= 2  # categories and total
    assert rows(ray_out) == rows(local_out)
    assert {p: p.read_text() for p in root.rglob("*.lean")} == before


@pytest.mark.real_lean
@pytest.mark.slow
def test_real_lean_on_the_workers_reads_the_same_goals_and_decides_alike(cluster, real_lean, tmp_path):
    """Each Ray worker runs real Lean 4.35 (`lean --server`, prelude mode): the goals its Lean
    reports and the decisions are those of the local run. (Prelude Lean has no tactics, so the
    portfolio proves nothing here: the point is real Lean started, queried and shut down per worker.)"""
    from tests.copilot.test_real_lean_prelude_checker import PRELUDE

    files = {"A.lean": "theorem goal1 : And True True := sorry\n\ntheorem goal3 : True := sorry\n",
             "B.lean": "theorem goal2 : And True True := And.intro sorry True.intro\n"}
    projects = []
    for kind in ("local", "ray"):
        root = tmp_path / kind
        root.mkdir()
        for name, text in files.items():
            (root / name).write_text(PRELUDE + "\n" + text)
        projects.append(root)
    server = [str(real_lean), "--server"]
    local = asyncio.run(run(Options(project=projects[0], budget=10, mode="in-place", use_index=False, server_cmd=server)))
    on_ray = asyncio.run(run_on_ray(Options(project=projects[1], budget=10, mode="in-place", use_index=False,
                                            server_cmd=server), RayOptions(workers=2)))
    assert not on_ray.errors, on_ray.errors

    def seen(report) -> list[tuple]:
        return [(r.file, r.line, r.column, r.declaration, r.status, r.goal) for r in report.results]

    assert seen(on_ray) == seen(local)
    goals = {(r.file, r.declaration): r.goal for r in on_ray.results}
    assert goals[("A.lean", "goal1")] == "⊢ And True True" and goals[("A.lean", "goal3")] == "⊢ True"
    assert goals[("B.lean", "goal2")] == "⊢ True"  # the first argument of And.intro
    texts = [{name: (root / name).read_text() for name in files} for root in projects]
    assert texts[1] == texts[0]
