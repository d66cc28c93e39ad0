"""``lean-companion models``: list, pull, info, verify, rm and bench local models.

Exit codes: 0 success; 1 unexpected error; 2 usage or configuration error; 3 unknown or not
installed model; 4 download failed; 5 verification failed (checksum mismatch or missing file);
6 the model could not be loaded.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from local_models.catalog import ModelEntry, all_models, expected_size, get_model, prompt_template
from local_models.config import Config, load_config, models_dir
from local_models.errors import (
    CatalogError,
    ConfigError,
    DownloadError,
    ModelLoadError,
    ModelNotFound,
)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_DOWNLOAD, EXIT_VERIFY, EXIT_LOAD = 0, 1, 2, 3, 4, 5, 6

#: Goals used by ``bench`` when no file is given (plainGoal-style text).
SAMPLE_GOALS = (
    "n : ℕ\n⊢ n + 0 = n",
    "a b : ℕ\n⊢ a + b = b + a",
    "p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q",
    "α : Type u_1\nl : List α\n⊢ l.reverse.reverse = l",
    "x : ℝ\nh : 0 < x\n⊢ 0 < x ^ 2 + x",
)
SAMPLE_PREMISES = (
    "theorem Nat.add_zero (n : ℕ) : n + 0 = n",
    "theorem Nat.add_comm (n m : ℕ) : n + m = m + n",
    "theorem List.reverse_reverse (as : List α) : as.reverse.reverse = as",
    "theorem And.intro {a b : Prop} (left : a) (right : b) : a ∧ b",
    "theorem pow_pos {a : M} (H : 0 < a) (n : ℕ) : 0 < a ^ n",
    "theorem add_pos {a b : α} (ha : 0 < a) (hb : 0 < b) : 0 < a + b",
)


def _size(n: int | None) -> str:
    if not n:
        return "?"
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def install_status(entry: ModelEntry, config: Config) -> str:
    """``yes``, ``available`` (PyPI files present, copied on first use), ``missing`` (local path gone),
    ``served`` (runs in an OpenAI-compatible server) or ``no``."""
    from local_models.download import installed_files, model_dir, package_file

    if entry.path is not None:
        return "yes" if Path(entry.path).exists() else "missing"
    if entry.endpoint is not None:
        return "served"
    if entry.files:
        if installed_files(entry, config):
            return "yes"
        if entry.source and entry.source.kind == "pypi" and all(package_file(f) for f in entry.files):
            return "available"
        return "no"
    directory = model_dir(entry, config)
    wanted = "*.gguf" if entry.format == "gguf" else "*.onnx"
    return "yes" if directory.is_dir() and any(directory.glob(wanted)) else "no"


# --------------------------------------------------------------------------- commands


def _list_rows(config: Config, role: str | None) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for entry in sorted(all_models(config).values(), key=lambda e: (e.role, e.id)):
        if role and entry.role != role:
            continue
        status = install_status(entry, config)
        note = "" if entry.source or entry.path or entry.endpoint else " (no download)"
        rows.append((entry.id + (" (custom)" if entry.custom else ""), entry.role, entry.format,
                     "-" if entry.endpoint else _size(expected_size(entry)), entry.license, status + note))
    return rows


def _longest_word(texts: Sequence[str]) -> int:
    return max((len(word) for text in texts for word in text.split()), default=1)


def cmd_list(args: argparse.Namespace, config: Config, console: Console) -> int:
    """The model table, fitted to the terminal without breaking a word (narrow: no license column)."""
    headers = ("id", "role", "format", "size", "license", "installed")
    rows = _list_rows(config, args.role)
    columns = list(zip(headers, *rows)) if rows else [(h,) for h in headers]
    # every column at least as wide as its longest word; a column of one-word cells never wraps
    minimum = [_longest_word(col) if i in (4, 5) else max(len(c) for c in col) for i, col in enumerate(columns)]
    keep = list(range(len(headers)))
    if sum(minimum) + 2 * (len(keep) - 1) > console.width:
        keep.remove(4)  # the license is in `models info ID`
    console.print(f"models directory: {escape(str(models_dir(config)))}", soft_wrap=True, highlight=False)
    table = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False)
    for i in keep:
        wraps = i in (4, 5)
        table.add_column(headers[i], min_width=minimum[i], no_wrap=not wraps, overflow="fold" if wraps else "ignore",
                         style="bold" if i == 0 else None)
    styles = {"yes": "green", "available": "cyan", "missing": "red", "served": "cyan"}
    for row in rows:
        cells = [escape(row[i]) for i in keep]
        status = row[5].split(" ", 1)[0]
        if status in styles:
            cells[-1] = f"[{styles[status]}]{cells[-1]}[/]"
        table.add_row(*cells)
    console.print(table)
    if 4 not in keep:
        console.print("(licenses: lean-companion models info ID)", highlight=False)
    return EXIT_OK


def cmd_info(args: argparse.Namespace, config: Config, console: Console) -> int:
    from local_models.catalog import backend_module
    from local_models.download import model_dir

    entry = get_model(args.id, config)
    template = prompt_template(entry)
    rows: list[tuple[str, Any]] = [
        ("id", entry.id), ("name", entry.name), ("role", entry.role), ("format", entry.format),
        ("params", entry.params), ("license", entry.license), ("upstream", entry.upstream),
        ("size", _size(expected_size(entry))), ("template", template.name), ("stop", list(template.stop)),
        ("context", entry.context), ("threads", entry.threads or "auto"), ("backend", backend_module(entry)),
        ("installed", install_status(entry, config)),
        ("location", entry.path or (None if entry.endpoint else model_dir(entry, config))),
    ]
    if entry.endpoint is not None:
        ep = entry.endpoint
        rows += [("server", ep.base_url), ("server model", ep.served_name), ("api", ep.api), ("n", ep.n_mode),
                 ("api key from", f"${ep.api_key_env}" if ep.api_key_env else None), ("verified", ep.verified)]
    if entry.source:
        where = entry.source.repo if entry.source.kind == "hf" else "PyPI: " + " ".join(entry.source.pip)
        rows.append(("source", f"{where} @ {entry.source.revision}" if entry.source.kind == "hf" else where))
        rows.append(("verified", entry.source.verified))
        for f in entry.files:
            rows.append((f"file {f.name}", f"{f.repo_path or f.package_path or f.name}  sha256={f.sha256 or '-'}"
                         f"  size={f.size or '-'}"))
    elif entry.endpoint is None:
        rows.append(("source", "none known"))
    rows += [("description", entry.description), ("notes", entry.notes)]
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        if value not in (None, "", []):
            table.add_row(key, escape(str(value)))
    console.print(table)
    return EXIT_OK


def cmd_pull(args: argparse.Namespace, config: Config, console: Console) -> int:
    from local_models.download import pull

    entry = get_model(args.id, config)
    if entry.endpoint is not None:
        name = entry.endpoint.ollama_name
        how = (f"run `ollama pull {name}` where Ollama runs" if name else
               f"load {entry.endpoint.served_name!r} in that server")
        console.print(f"{entry.id} runs in the model server at {escape(entry.endpoint.base_url)}: {escape(how)} "
                      "(docs/served-models.md)", highlight=False)
        return EXIT_OK
    if not entry.verified and entry.source and entry.source.kind == "hf":
        console.print(f"[yellow]note:[/] {entry.id}'s source {entry.source.repo} is not verified; "
                      "the hub's own sha256 is still checked")
    result = pull(entry, config, progress=not args.quiet, force=args.force)
    if result.already_installed:
        console.print(f"{entry.id} is already installed in {result.directory}")
    else:
        console.print(f"[green]installed[/] {entry.id} in {result.directory} "
                      f"({_size(result.fetched_bytes) if result.fetched_bytes else 'copied from the installed package'})")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, config: Config, console: Console) -> int:
    from local_models.download import verify

    if args.id:
        entries = [get_model(args.id, config)]
    else:
        entries = [e for e in all_models(config).values() if e.files and install_status(e, config) == "yes"]
        if not entries:
            console.print("no installed models to verify")
            return EXIT_OK
    failed = False
    for entry in entries:
        if not entry.files:
            console.print(f"{entry.id}: no declared files to verify ({entry.path or 'manual install'})")
            continue
        for report in verify(entry, config):
            mark = "[green]ok[/]" if report.ok else "[red]FAILED[/]"
            console.print(f"{entry.id}: {escape(report.name)}: {mark} {escape(report.detail)}")
            failed |= not report.ok
    return EXIT_VERIFY if failed else EXIT_OK


def cmd_rm(args: argparse.Namespace, config: Config, console: Console) -> int:
    from local_models.download import model_dir, remove

    entry = get_model(args.id, config)
    if entry.path is not None:
        console.print(f"{entry.id} is your own file at {entry.path}; remove it from your config "
                      "(lean-companion never deletes it)")
        return EXIT_USAGE
    directory = model_dir(entry, config)
    if not directory.exists():
        console.print(f"{entry.id} is not installed")
        return EXIT_NOT_FOUND
    if not args.yes and console.is_terminal:
        answer = console.input(f"delete {directory}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return EXIT_ERROR
    freed = remove(entry, config)
    console.print(f"removed {entry.id} ({_size(freed) if freed >= 1e6 else 'links and records only'})")
    return EXIT_OK


def _rss() -> int | None:
    try:
        import psutil

        return int(psutil.Process(os.getpid()).memory_info().rss)
    except ImportError:
        return None


def _peak_rss() -> int | None:
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)
    except (ImportError, OSError):
        return None


def _read_goals(path: str | None) -> list[str]:
    if not path:
        return list(SAMPLE_GOALS)
    text = Path(path).read_text(encoding="utf-8")
    goals = [g.strip("\n") for g in text.split("\n\n\n")] if "\n\n\n" in text else [text.strip("\n")]
    return [g for g in goals if g.strip()]


def bench_generator(generator: Any, goals: Sequence[str], *, n: int, max_tokens: int) -> dict[str, Any]:
    """Time ``generate`` per goal; generic over :class:`TacticGenerator` (backend stats used when present)."""
    from local_models.generation import GenerationRequest

    latencies, counts, steps, decode_s, prompt_tokens, prompt_s = [], [], 0, 0.0, 0, 0.0
    first_candidate: float | None = None
    for goal in goals:
        request = GenerationRequest(goal=goal, n=n, max_tokens=max_tokens, premises=SAMPLE_PREMISES[:3],
                                    statement=f"theorem bench_goal : {goal.split('⊢')[-1].strip()} := by",
                                    theorem_name="bench_goal")
        start = time.perf_counter()
        candidates = asyncio.run(generator.generate(request))
        elapsed = time.perf_counter() - start
        if first_candidate is None and candidates:
            first_candidate = sum(latencies) + elapsed
        latencies.append(elapsed)
        counts.append(len(candidates))
        stats = getattr(generator, "last_stats", None)
        if stats is not None:
            steps += int(getattr(stats, "steps", 0) or 0)
            decode_s += float(getattr(stats, "decode_s", 0.0) or 0.0)
            prompt_tokens += int(getattr(stats, "prompt_tokens", 0) or 0)
            prompt_s += float(getattr(stats, "prompt_s", 0.0) or 0.0)
    total = sum(latencies)
    ordered = sorted(latencies)
    result: dict[str, Any] = {
        "requests": len(goals),
        "median request (s)": ordered[len(ordered) // 2],
        "time to first candidate (s)": first_candidate,
        "candidates/s": sum(counts) / total if total else None,
        "candidates per request": sum(counts) / len(counts) if counts else 0,
    }
    if decode_s:
        result["decode steps/s (all live sequences per step)"] = steps / decode_s
    if prompt_s:
        result["prompt tokens/s"] = prompt_tokens / prompt_s
    return result


def bench_encoder(encoder: Any, *, repeat: int) -> dict[str, Any]:
    """Time ``encode`` over sample premises and goals; generic over :class:`TextEncoder`."""
    texts = list(SAMPLE_PREMISES + SAMPLE_GOALS) * 4
    encoder.encode(texts[:2])  # warm-up
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        vectors = encoder.encode(texts)
        timings.append(time.perf_counter() - start)
    ordered = sorted(timings)
    median = ordered[len(ordered) // 2]
    return {"texts per batch": len(texts), "dim": getattr(encoder, "dim", vectors.shape[1]),
            "median batch (s)": median, "texts/s": len(texts) / median}


def cmd_bench(args: argparse.Namespace, config: Config, console: Console) -> int:
    from local_models.loader import load_encoder, load_generator

    entry = get_model(args.id, config)
    if args.threads:
        import msgspec

        config = msgspec.structs.replace(config, models=msgspec.structs.replace(config.models, threads=args.threads))
    rss_before = _rss()
    start = time.perf_counter()
    model = (load_encoder if entry.role == "embedding" else load_generator)(args.id, config)
    load_s = time.perf_counter() - start
    try:
        if entry.role == "embedding":
            results = bench_encoder(model, repeat=args.repeat)
        else:
            results = bench_generator(model, _read_goals(args.goals), n=args.n, max_tokens=args.max_tokens)
    finally:
        model.close()
    rows: dict[str, Any] = {"model": entry.id, "threads": getattr(model, "threads", None) or args.threads or "auto",
                            "load (s)": load_s, **results}
    if rss_before is not None:
        rows["RSS before load"] = _size(rss_before)
    peak = _peak_rss()
    if peak is not None:
        rows["peak RSS (process)"] = _size(peak)
    table = Table(title=f"bench {entry.id}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key, value in rows.items():
        shown = "n/a" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))
        table.add_row(key, escape(shown))
    console.print(table)
    return EXIT_OK


# --------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    """The ``models`` argument parser."""
    parser = argparse.ArgumentParser(prog="lean-companion models", description="Manage local models.")
    parser.add_argument("--project", help="project root whose .lean-companion.toml applies (default: from cwd)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="table of known and user models and whether they are installed")
    p.add_argument("--role", choices=("tactic", "whole-proof", "embedding"))
    p = sub.add_parser("pull", help="download (or link) a model's files and check them")
    p.add_argument("id")
    p.add_argument("--force", action="store_true", help="fetch again even if installed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = sub.add_parser("info", help="everything the catalog knows about a model")
    p.add_argument("id")
    p = sub.add_parser("verify", help="re-hash installed files against their sha256")
    p.add_argument("id", nargs="?")
    p = sub.add_parser("rm", help="delete a model's downloaded files")
    p.add_argument("id")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    p = sub.add_parser("bench", help="load a model and time it on sample goals (or texts, for encoders)")
    p.add_argument("id")
    p.add_argument("--goals", help="file of goals separated by two blank lines (default: built-in samples)")
    p.add_argument("-n", type=int, default=8, help="candidates per request (default 8)")
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--repeat", type=int, default=5, help="encoder batches to time (default 5)")
    p.add_argument("--threads", type=int, help="threads for the model (overrides [models] threads)")
    return parser


COMMANDS = {"list": cmd_list, "info": cmd_info, "pull": cmd_pull, "verify": cmd_verify, "rm": cmd_rm,
            "bench": cmd_bench}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lean-companion models``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return int(exc.code or 0)
    console = Console()
    errors = Console(stderr=True)
    try:
        config = load_config(Path(args.project) if args.project else None)
        return COMMANDS[args.command](args, config, console)
    except (ConfigError, CatalogError) as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        return EXIT_USAGE
    except ModelNotFound as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        return EXIT_NOT_FOUND
    except DownloadError as exc:
        errors.print(f"[red]download failed ({exc.kind}):[/] {escape(str(exc))}", highlight=False)
        return EXIT_DOWNLOAD
    except ModelLoadError as exc:
        errors.print(f"[red]cannot load:[/] {escape(str(exc))}", highlight=False)
        return EXIT_LOAD
    except KeyboardInterrupt:
        errors.print("interrupted; any partial download is kept and resumes on the next pull")
        return 130
