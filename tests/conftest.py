"""Shared fixtures: repository paths, the shared data folder, and the real-Lean gate."""
from __future__ import annotations

import shutil
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
    """Tests marked ``lean`` run only where a real Lean toolchain (``lake``) is on PATH."""
    if shutil.which("lake"):
        return
    skip = pytest.mark.skip(reason="no Lean toolchain: `lake` is not on PATH")
    for item in items:
        if "lean" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT
