"""The serve CLI's server discovery and errors, copilot's serve wrapper, and doctor."""
from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lsp_proxy import cli, doctor
from tests.lsp_proxy.client import REPO


def fake_tool(folder: Path, name: str, script: str) -> Path:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_lake_serve_in_project_root(tmp_path, monkeypatch):
    """With a lakefile above the working directory, the server is `lake serve` run in that root."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lake = fake_tool(bin_dir, "lake", "echo lake")
    project = tmp_path / "proj"
    (project / "Src" / "Deep").mkdir(parents=True)
    (project / "lakefile.toml").write_text('name = "p"\n')
    monkeypatch.setenv("PATH", str(bin_dir))
    command = cli.default_server_command(project / "Src" / "Deep")
    assert command.argv == [str(lake), "serve"] and command.cwd == str(project)


def test_lean_server_without_project(tmp_path, monkeypatch):
    """Without a lakefile, the server is `lean --server`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lean = fake_tool(bin_dir, "lean", "echo lean")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert cli.default_server_command(tmp_path).argv == [str(lean), "--server"]


def test_clear_error_when_nothing_found(tmp_path, monkeypatch, capsys):
    """No lakefile and no lean: serve exits 2 naming the problem and elan; stdout stays empty."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["--cwd", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "`lean` is not on PATH" in err and "elan" in err
    (tmp_path / "lakefile.lean").write_text("")
    assert cli.main(["--cwd", str(tmp_path)]) == 2
    assert "`lake` is not on PATH" in capsys.readouterr().err


def test_serve_module_runs_bare_proxy_and_logs_missing_features(tmp_path):
    """`lean-companion serve` without copilot.features runs the plain proxy and logs why."""
    log = tmp_path / "p.log"
    init = b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{}}}'
    stdin = b"Content-Length: %d\r\n\r\n%s" % (len(init), init)
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from copilot.serve import main; sys.exit(main(sys.argv[1:]))",
         "--log-file", str(log), "--", sys.executable, "-m", "tests.lsp_proxy.tiny_server"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(stdin)
    proc.stdin.flush()
    header = proc.stdout.readline()
    assert header.startswith(b"Content-Length: ")
    proc.stdout.readline()
    assert b'"serverInfo"' in proc.stdout.read(int(header.split(b":")[1]))
    proc.stdin.close()
    assert proc.wait(timeout=30) == 1  # the editor hung up without shutdown
    assert proc.stderr.read() == b""
    text = log.read_text()
    features_exist = (REPO / "copilot" / "features").exists() or (REPO / "copilot" / "features.py").exists()
    if features_exist:
        assert "copilot features installed" in text or "copilot.features" in text
    else:
        assert "copilot.features could not be imported; running the bare proxy" in text


def test_failing_install_degrades_to_plain_proxy(tmp_path, caplog):
    """If install(router) raises, the error is logged and the proxy still serves."""
    import asyncio

    def install(router):
        raise RuntimeError("feature set-up broke")

    read_fd, write_fd = os.pipe()
    out_read, out_write = os.pipe()
    init = b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{}}}'
    os.write(write_fd, b"Content-Length: %d\r\n\r\n%s" % (len(init), init))
    seen = []

    def editor() -> None:  # read the reply, then hang up
        data = b""
        while b'"serverInfo"' not in data:
            chunk = os.read(out_read, 65536)
            if not chunk:
                break
            data += chunk
        seen.append(data)
        os.close(write_fd)

    thread = threading.Thread(target=editor)
    thread.start()
    command = cli.ServerCommand([sys.executable, "-m", "tests.lsp_proxy.tiny_server"], cwd=str(REPO))
    with caplog.at_level(logging.INFO):
        code = asyncio.run(cli.serve(command, install, stdin_fd=read_fd, stdout_fd=out_write))
    thread.join(10)
    for fd in (read_fd, out_read, out_write):
        os.close(fd)
    assert b'"serverInfo"' in seen[0]
    assert code == 1  # the editor hung up without shutdown
    assert "installing the companion features failed" in caplog.text


def test_doctor_with_lean_found(tmp_path, monkeypatch, capsys):
    """doctor reports versions and exits 0 when lean is on PATH; missing lake is not an error then."""
    fake_tool(tmp_path, "lean", 'echo "Lean (version 4.30.0, x86_64-unknown-linux-gnu)"')
    monkeypatch.setenv("PATH", str(tmp_path))
    assert doctor.main([]) == 0
    out = capsys.readouterr().out
    assert "Lean (version 4.30.0" in out and "serve` can run" in out


def test_doctor_without_lean(tmp_path, monkeypatch, capsys):
    """doctor exits 1 and says to install elan when neither lake nor lean is found."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert doctor.main([]) == 1
    out = capsys.readouterr().out
    assert "elan" in out and "cannot start" in out


def test_doctor_version_timeout(tmp_path, monkeypatch, capsys):
    """A tool that hangs on --version is reported, not waited on forever."""
    fake_tool(tmp_path, "lake", "exec /bin/sleep 30")
    monkeypatch.setenv("PATH", str(tmp_path))
    lake = next(c for c in doctor.collect(timeout=0.3) if c.name == "lake")
    assert lake.ok and "no answer to --version within 0.3s" in lake.detail
    assert doctor.main(["--timeout", "0.3"]) == 0


@pytest.mark.parametrize("module", ["llama_cpp", "onnxruntime", "tokenizers"])
def test_doctor_reports_optional_backends(module):
    """Each optional backend appears in the report, found or with install advice."""
    check = next(c for c in doctor.collect(timeout=1) if c.name == module)
    assert check.ok or "to enable it" in check.advice
