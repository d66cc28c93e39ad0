"""``lean-companion doctor``: what is installed, and what to do about what is missing.

Checks Lean (``lake``, ``lean``, ``elan`` and their ``--version``, each with a timeout), the Lean
version the server would run (``lean --version`` in the current folder, where elan picks the
project's toolchain) and whether it is one we test against, Python, the optional model backends
(llama_cpp, onnxruntime, tokenizers; looked up, not imported) and the log and config folders.
``copilot.doctor`` adds the companion's own checks (configuration, configured models, folders)
through ``extra``. Exit code 0 when the essentials are there (``lean`` or ``lake``), 1 otherwise.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from lsp_proxy.logs import APP_NAME, default_log_file

VERSION_TIMEOUT = 10.0
ELAN_URL = "https://github.com/leanprover/elan"
# Lean versions (major.minor) the test suite runs against, and how.
TESTED_LEAN = {"4.35": "Lean 4.35.0's real frontend (prelude files) in CI"}
GGUF_INSTALL = "lean-companion install-gguf (builds llama-cpp-python for this CPU; 6-13 minutes on 2 cores)"
_LEAN_VERSION = re.compile(r"version (\d+)\.(\d+)\.(\d+)")


@dataclass
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    advice: str = ""
    essential: bool = False


def tool_version(executable: str, timeout: float = VERSION_TIMEOUT) -> str:
    """First line of ``executable --version``, or a description of why there is none."""
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"(no answer to --version within {timeout:g}s)"
    except OSError as exc:
        return f"(could not run: {exc.strerror or exc})"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else f"(--version printed nothing, exit code {done.returncode})"


def check_tool(name: str, advice: str, timeout: float) -> Check:
    path = shutil.which(name)
    if path is None:
        return Check(name, False, "not found on PATH", advice)
    return Check(name, True, f"{tool_version(path, timeout)}  [{path}]")


def lean_version_check(version_line: str) -> Check:
    """Whether the Lean that ``lean --version`` reports is one we test against."""
    found = _LEAN_VERSION.search(version_line)
    if found is None:
        return Check("Lean version", False, f"unknown ({version_line.strip() or 'no answer'})")
    version = ".".join(found.groups())
    minor = f"{found[1]}.{found[2]}"
    if minor in TESTED_LEAN:
        return Check("Lean version", True, f"{version}: tested ({TESTED_LEAN[minor]})")
    tested = ", ".join(sorted(TESTED_LEAN))
    return Check("Lean version", False, f"{version}: not one we test against ({tested})",
                 "the proxy passes Lean's messages through unchanged, so it should work; "
                 "please report anything that does not")


def check_module(module: str, dist: str, purpose: str, install: str) -> Check:
    if importlib.util.find_spec(module) is None:
        return Check(module, False, "not installed", f"{purpose} is off; to enable it: {install}")
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = "installed"
    return Check(module, True, version)


def check_dir(label: str, path: Path) -> Check:
    if path.is_dir():
        writable = os.access(path, os.W_OK)
        return Check(label, writable, str(path), "" if writable else f"make {path} writable")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and os.access(parent, os.W_OK):
        return Check(label, True, f"{path} (created when first needed)")
    return Check(label, False, str(path), f"cannot create {path}: check its parent folder's permissions")


def collect(timeout: float = VERSION_TIMEOUT, extra: Callable[[], list[Check]] | None = None) -> list[Check]:
    """Run every check (``extra`` adds more after Lean's)."""
    install_lean = f"install Lean with elan ({ELAN_URL}), then open a new terminal so it is on PATH"
    lake = check_tool("lake", f"`lake serve` runs Lean projects; {install_lean}", timeout)
    lean = check_tool("lean", f"`lean --server` runs single files; {install_lean}", timeout)
    elan = check_tool("elan", f"elan picks each project's Lean version from lean-toolchain; see {ELAN_URL}", timeout)
    essential_ok = lake.ok or lean.ok
    for check in (lake, lean):
        check.essential = True
        if not check.ok and essential_ok:
            check.advice = ""  # one of the two is enough
    checks = [lake, lean, elan]
    if lean.ok:
        checks.append(lean_version_check(lean.detail))
    py_ok = sys.version_info >= (3, 10)
    checks.append(Check("python", py_ok, f"{platform.python_version()}  [{sys.executable}]",
                        "" if py_ok else "Lean Companion needs Python 3.10 or newer"))
    checks.append(check_module("llama_cpp", "llama-cpp-python", "the GGUF model backend", GGUF_INSTALL))
    checks.append(check_module("onnxruntime", "onnxruntime", "the ONNX model backend",
                               "pip install 'lean-companion[onnx]'"))
    checks.append(check_module("tokenizers", "tokenizers", "tokenization for ONNX models",
                               "pip install 'lean-companion[onnx]'"))
    checks.append(check_dir("log folder", default_log_file().parent))
    checks.append(check_dir("config folder", Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))))
    if extra is not None:
        try:
            checks.extend(extra())
        except Exception as exc:  # a failing check is a finding, not a crash
            checks.append(Check("companion checks", False, f"{type(exc).__name__}: {exc}"))
    return checks


def render(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title="Lean Companion doctor", show_lines=False)
    table.add_column("", width=2)
    table.add_column("what", no_wrap=True)
    table.add_column("found", overflow="fold")
    for check in checks:
        mark = "[green]✓[/]" if check.ok else ("[red]✗[/]" if check.essential else "[yellow]–[/]")
        table.add_row(mark, escape(check.name), escape(check.detail))
    console.print(table)
    todo = [c for c in checks if not c.ok and c.advice]
    if todo:
        console.print("\n[bold]What to do:[/]")
        for check in todo:
            # soft_wrap: the terminal wraps long lines itself, so URLs and commands stay whole
            console.print(f"  • [bold]{escape(check.name)}[/]: {escape(check.advice)}", soft_wrap=True)
    if any(c.ok for c in checks if c.essential):
        console.print("\n[green]Lean is available: `lean-companion serve` can run.[/]", soft_wrap=True)
    else:
        console.print("\n[red]Lean is missing: neither `lake` nor `lean` is on PATH, so the proxy cannot start.[/]",
                      soft_wrap=True)


def main(argv: Sequence[str] | None = None, *, extra: Callable[[], list[Check]] | None = None) -> int:
    """Entry point of ``lean-companion doctor``."""
    parser = argparse.ArgumentParser(prog="lean-companion doctor",
                                     description="Check what is installed and say what to do about what is missing.")
    parser.add_argument("--timeout", type=float, default=VERSION_TIMEOUT, help="seconds to wait for each --version")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    checks = collect(args.timeout, extra)
    render(checks)
    return 0 if any(c.ok for c in checks if c.essential) else 1


if __name__ == "__main__":
    sys.exit(main())
