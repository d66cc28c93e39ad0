"""The real VS Code workbench for the end-to-end test: code-server 4.96.4 and Chromium (set up by
scripts/setup-editor-tests.sh in ``.editor-tests/``), our packaged .vsix and the vscode-lean4
stand-in installed into a throw-away profile. Test code."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

EDITOR_TESTS = REPO_ROOT / ".editor-tests"
CODE_SERVER = EDITOR_TESTS / "code-server" / "node_modules" / "code-server" / "out" / "node" / "entry.js"
PLAYWRIGHT = EDITOR_TESTS / "node" / "node_modules" / "playwright-core"
STANDIN_VSIX = EDITOR_TESTS / "lean4-standin.vsix"
CHROMIUM = Path("/usr/bin/chromium")
EXTENSION = REPO_ROOT / "vscode-extension"
DRIVER = Path(__file__).with_name("drive.js")


def setup_status() -> dict[str, str]:
    """``part -> ok | missing (why)`` from the last run of scripts/setup-editor-tests.sh."""
    path = EDITOR_TESTS / "status.txt"
    if not path.exists():
        return {}
    parts = (line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)
    return {name: state for name, state in parts}


def require_workbench() -> None:
    """Skip, with the set-up's reason, when a part of the workbench host is missing."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    status = setup_status()
    needed = {"code-server": CODE_SERVER, "chromium": CHROMIUM, "playwright": PLAYWRIGHT, "lean4-standin": STANDIN_VSIX}
    for part, path in needed.items():
        if not path.exists():
            reason = status.get(part, "scripts/setup-editor-tests.sh has not run")
            pytest.skip(f"VS Code workbench host: {part} {reason}")
    stamp = EDITOR_TESTS / "lean4-standin.stamp"
    sources = REPO_ROOT / "tests" / "editors" / "vscode_host" / "lean4-standin"
    current = hashlib.sha256(b"".join((sources / f).read_bytes() for f in ("package.json", "extension.js", "README.md")))
    if not stamp.exists() or stamp.read_text().strip() != current.hexdigest()[:16]:
        pytest.skip("the vscode-lean4 stand-in .vsix is older than its sources: run scripts/setup-editor-tests.sh")
    if not (EXTENSION / "node_modules" / "@vscode" / "vsce").is_dir():
        pytest.skip("vscode-extension/node_modules missing: run `npm ci` in vscode-extension (scripts/setup.sh --dev does)")


def package_extension(out_dir: Path) -> Path:
    """Compile the extension and package it with vsce, as packaging/build.sh does."""
    subprocess.run(["npm", "run", "--silent", "compile"], cwd=EXTENSION, check=True, capture_output=True, timeout=300)
    vsix = out_dir / "lean-companion.vsix"
    result = subprocess.run(["npx", "--no-install", "vsce", "package", "--no-dependencies", "--allow-missing-repository",
                             "--out", str(vsix)], cwd=EXTENSION, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return vsix


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _code_server(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(["node", str(CODE_SERVER), *args], env=env, **kwargs)


@contextmanager
def running_code_server(profile: Path, folder: Path, vsixes: list[Path], settings: dict, env: dict[str, str],
                        log: Path) -> Iterator[str]:
    """code-server on 127.0.0.1:<free port> with ``vsixes`` installed into a fresh profile and
    ``settings`` as the user settings; yields the URL opening ``folder``. Everything it started
    (extension host, language servers) is killed with its process group at the end."""
    extensions, data = profile / "extensions", profile / "data"
    (data / "User").mkdir(parents=True, exist_ok=True)
    (data / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
    env = {**env, "XDG_CONFIG_HOME": str(profile / "config"), "XDG_DATA_HOME": str(profile / "xdg-data")}
    for vsix in vsixes:
        result = subprocess.run(["node", str(CODE_SERVER), "--extensions-dir", str(extensions), "--user-data-dir", str(data),
                                 "--install-extension", str(vsix)], env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0 and "successfully installed" in result.stdout, result.stdout + result.stderr
    port = free_port()
    with log.open("w") as out:
        proc = _code_server("--bind-addr", f"127.0.0.1:{port}", "--auth", "none", "--disable-telemetry",
                            "--disable-update-check", "--disable-getting-started-override",
                            "--extensions-dir", str(extensions), "--user-data-dir", str(data), str(folder),
                            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"code-server did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/?folder={folder}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _kill_leftovers(profile)


def _kill_leftovers(profile: Path) -> None:
    """code-server forks helpers into new sessions: end every process that inherited this
    test's profile folder in its environment (only what this test started has it)."""
    marker = str(profile).encode()
    if not Path("/proc").is_dir():  # not Linux: the process group kill above has to do
        return
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ:
            try:
                os.kill(int(entry.name), signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass


def drive(config: dict, out_dir: Path, timeout: float = 600) -> list[dict]:
    """Run drive.js with ``config``; the steps it recorded (outDir/steps.json)."""
    config = {"playwright": str(PLAYWRIGHT), "chromium": str(CHROMIUM), "outDir": str(out_dir), **config}
    config_file = out_dir / "drive-config.json"
    config_file.write_text(json.dumps(config))
    result = subprocess.run(["node", str(DRIVER), str(config_file)], capture_output=True, text=True, timeout=timeout)
    steps_file = out_dir / "steps.json"
    assert steps_file.exists(), f"the driver recorded nothing (rc {result.returncode}):\n{result.stderr[-3000:]}"
    return json.loads(steps_file.read_text())
