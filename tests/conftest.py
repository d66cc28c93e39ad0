"""Shared fixtures: repository paths, the shared data folder, and the real-Lean gate."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
PYTHON = sys.executable


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data; skips the calling test cleanly when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that use the ``real_lean`` fixture carry the ``real_lean`` marker (so ``-m real_lean``
    selects the whole tier); tests marked ``lean`` run only where a real Lean toolchain
    (``lake``) is on PATH."""
    for item in items:
        if "real_lean" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.real_lean)
    if shutil.which("lake"):
        return
    skip = pytest.mark.skip(reason="no Lean toolchain: `lake` is not on PATH")
    for item in items:
        if "lean" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


REAL_LEAN_DIR = Path(os.environ.get("LEAN_COMPANION_REAL_LEAN", REPO_ROOT / ".real-lean"))


def real_lean_path() -> Path | None:
    """The launcher built by scripts/setup-real-lean.sh (Lean 4.35.0's real frontend), if it runs."""
    lean = REAL_LEAN_DIR / "bin" / "lean"
    if not lean.is_file():
        return None
    try:
        out = subprocess.run([str(lean), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return lean if out.returncode == 0 and "version 4." in out.stdout else None


@pytest.fixture(scope="session")
def real_lean() -> Path:
    """Path of a real ``lean`` (Lean 4.35's frontend, prelude mode only); skips where absent.

    Built by ``scripts/setup-real-lean.sh`` (called by ``scripts/setup.sh --dev``). Only files
    that begin with ``prelude`` elaborate: no Init, no tactics, no Mathlib.
    """
    lean = real_lean_path()
    if lean is None:
        pytest.skip(f"real Lean not built: run scripts/setup-real-lean.sh (looked in {REAL_LEAN_DIR})")
    return lean
