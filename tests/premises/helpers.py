"""Shared helpers for the premise-index tests: a writable copy of the fixture project."""
from __future__ import annotations

import shutil
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "proj"


def copy_project(tmp_path: Path) -> Path:
    """A fresh copy of the fixture project under ``tmp_path`` (tests edit files in it)."""
    dest = tmp_path / "proj"
    shutil.copytree(FIXTURE, dest)
    return dest
