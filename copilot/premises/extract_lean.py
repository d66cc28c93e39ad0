"""Lean-backed extraction: run ``DumpDecls.lean`` in the project and read its JSON lines.

Where Lean is installed this gives the elaborated truth (pretty-printed types, real kinds,
the simp set, exact positions) as the same ``Declaration`` records the source extractor
produces. The program ships as package data and runs with
``lake env lean --run DumpDecls.lean MODULE...`` in the project root.
"""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from .records import Declaration

log = logging.getLogger(__name__)

_KINDS = {
    "theorem", "def", "abbrev", "instance", "axiom", "opaque", "inductive", "structure", "class", "constructor", "field",
}


class LeanExtractionError(RuntimeError):
    """Lean (``lake``) is missing, failed, or printed something that is not the dump format."""


def dump_program() -> Path:
    """Path of the packaged ``DumpDecls.lean``."""
    return Path(str(resources.files("copilot.premises").joinpath("DumpDecls.lean")))


def parse_dump(lines: Iterable[str], module_files: Mapping[str, str] | None = None) -> list[Declaration]:
    """Declarations from DumpDecls' JSON lines; ``module_files`` maps a module to its file path.

    Lines that are not JSON objects of the dump format raise ``LeanExtractionError`` naming
    the line number; blank lines are ignored.
    """
    out: list[Declaration] = []
    files = module_files or {}
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            name, kind, type_, module = r["name"], r["kind"], r["type"], r["module"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise LeanExtractionError(f"DumpDecls output line {i} is not a declaration record: {e}") from e
        if kind not in _KINDS:
            continue
        attrs = tuple(a for a, on in (("simp", r.get("simp")), ("instance", r.get("instance"))) if on)
        out.append(
            Declaration(
                name=name,
                kind=kind,
                signature=f"{kind} {name} : {type_}",
                docstring=r.get("doc"),
                attributes=attrs,
                module=module,
                file=files.get(module, module.replace(".", "/") + ".lean"),
                line=int(r.get("line") or 0),
                # exact full names: `_root_.` keeps the resolver from trying namespaces first
                refs=tuple(f"_root_.{u}" for u in (r.get("uses") or ()) if isinstance(u, str) and u != name),
            )
        )
    return out


def run_dump(project_root: Path, modules: list[str], *, timeout: float = 1800.0) -> list[Declaration]:
    """Run DumpDecls on ``modules`` in ``project_root`` with ``lake env lean --run``.

    Raises ``LeanExtractionError`` when ``lake`` is missing, times out or fails (with the
    tail of its stderr).
    """
    lake = shutil.which("lake")
    if lake is None:
        raise LeanExtractionError("`lake` is not on PATH: the Lean-backed extractor needs a Lean toolchain")
    if not modules:
        return []
    cmd = [lake, "env", "lean", "--run", str(dump_program()), *modules]
    try:
        proc = subprocess.run(cmd, cwd=project_root, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise LeanExtractionError(f"DumpDecls timed out after {timeout:.0f} s") from e
    except OSError as e:
        raise LeanExtractionError(f"could not run lake: {e}") from e
    if proc.returncode != 0:
        raise LeanExtractionError(f"DumpDecls failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return parse_dump(proc.stdout.splitlines())
