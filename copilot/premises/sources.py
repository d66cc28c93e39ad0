"""Where a project's declarations come from: the project, its Lake packages, the toolchain."""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .extract_source import iter_lean_files

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceRoot:
    """A folder whose ``.lean`` files are modules named by their path below it.

    ``kind`` is ``project`` (watched, edited by the user), ``package`` (``.lake/packages``)
    or ``toolchain`` (Lean's own ``src/lean``).
    """

    path: Path
    kind: str


def toolchain_src(project_root: Path) -> Path | None:
    """The toolchain's ``src/lean`` folder, from ``lean-toolchain`` (elan) or ``lean --print-prefix``."""
    candidates: list[Path] = []
    tc_file = project_root / "lean-toolchain"
    if tc_file.is_file():
        spec = tc_file.read_text(encoding="utf-8", errors="replace").strip()
        if spec:
            elan_home = Path(os.environ.get("ELAN_HOME", Path.home() / ".elan"))
            name = re.sub(r"[/:]", lambda m: "--" if m.group() == "/" else "---", spec)
            candidates.append(elan_home / "toolchains" / name / "src" / "lean")
    lean = shutil.which("lean")
    if lean:
        try:
            out = subprocess.run(
                [lean, "--print-prefix"], cwd=project_root, capture_output=True, text=True, timeout=20
            )
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()) / "src" / "lean")
        except (OSError, subprocess.SubprocessError) as e:
            log.info("lean --print-prefix failed: %s", e)
    for c in candidates:
        if (c / "Init").is_dir():
            return c
    return None


def discover_roots(project_root: Path, *, include_toolchain: bool = True) -> list[SourceRoot]:
    """The project itself, each ``.lake/packages/*`` (or ``lake-packages/*``) and the toolchain."""
    project_root = project_root.resolve()
    roots = [SourceRoot(project_root, "project")]
    for pkg_dir in (project_root / ".lake" / "packages", project_root / "lake-packages"):
        if pkg_dir.is_dir():
            roots += [SourceRoot(p.resolve(), "package") for p in sorted(pkg_dir.iterdir()) if p.is_dir()]
    if include_toolchain:
        src = toolchain_src(project_root)
        if src is not None:
            roots.append(SourceRoot(src.resolve(), "toolchain"))
    return roots


def list_files(roots: list[SourceRoot]) -> list[tuple[Path, Path, str]]:
    """``(file, root, kind)`` for every ``.lean`` file of ``roots``."""
    out: list[tuple[Path, Path, str]] = []
    for r in roots:
        out += [(f, r.path, r.kind) for f in iter_lean_files(r.path)]
    return out
