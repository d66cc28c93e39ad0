"""Entry point: ``python -m tests.lean_double`` (from the repo root) or
``python /abs/path/tests/lean_double/__main__.py`` (from anywhere)."""
from __future__ import annotations

import sys

if __package__ in (None, ""):
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.lean_double.cli import main
else:
    from .cli import main

if __name__ == "__main__":
    sys.exit(main())
