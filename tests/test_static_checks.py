"""Static checks as tests: `ruff check .` (the rule set in pyproject.toml) and `mypy --strict lsp_proxy`
through the venv's own executables; any finding fails the test with the tool's report."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed in this environment (test extra)")
    return found


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    done = run([tool("ruff"), "check", ".", "--output-format", "concise"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_on_lsp_proxy():
    done = run([tool("mypy"), "--strict", "lsp_proxy"])
    assert done.returncode == 0, done.stdout + done.stderr
