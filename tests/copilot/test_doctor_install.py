"""`lean-companion doctor` (Lean version tested or not, the companion's own checks) and
`lean-companion install-gguf` (CPU flags, cache key, build progress) — with fake tools."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from copilot import doctor as companion_doctor
from copilot import install_gguf
from lsp_proxy import doctor
from tests.conftest import REPO_ROOT


def _tool(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.mark.parametrize(("line", "ok", "words"), [
    ("Lean (version 4.35.0, x86_64-unknown-linux-gnu, commit eb6cafb7, Release)", True, "4.35.0: tested"),
    ("Lean (version 4.30.0, x86_64-unknown-linux-gnu)", False, "4.30.0: not one we test against (4.35)"),
    ("lean-test-double", False, "unknown"),
])
def test_lean_version_is_reported_as_tested_or_not(line, ok, words):
    check = doctor.lean_version_check(line)
    assert check.ok is ok and words in check.detail


def test_doctor_shows_the_lean_version_of_the_server(tmp_path, monkeypatch, capsys):
    """With a `lean` on PATH, doctor prints its version and whether we test against it."""
    _tool(tmp_path, "lean", 'echo "Lean (version 4.30.0, x86_64-unknown-linux-gnu)"')
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert companion_doctor.main([]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "4.30.0: not one we test against" in out and "should work" in out


@pytest.mark.real_lean
def test_doctor_with_real_lean_says_tested(real_lean, tmp_path, monkeypatch, capsys):
    """The real Lean 4.35.0 frontend is a tested version."""
    monkeypatch.setenv("PATH", str(Path(real_lean).parent))
    monkeypatch.chdir(tmp_path)
    assert companion_doctor.main([]) == 0
    assert "4.35.0: tested" in " ".join(capsys.readouterr().out.split())


def test_doctor_reports_config_and_model_problems(tmp_path, monkeypatch, capsys):
    """A broken project config is named with its file and key; a missing model file with its id."""
    monkeypatch.setenv("LEAN_COMPANION_CONFIG_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    project = tmp_path / "proj"
    project.mkdir()
    (project / "lakefile.lean").write_text("")
    (project / ".lean-companion.toml").write_text('[suggest]\nmax_candidates = "x"\n')
    monkeypatch.chdir(project)
    checks = companion_doctor.companion_checks()
    assert [c.name for c in checks] == ["config"]
    assert "suggest.max_candidates" in checks[0].advice and ".lean-companion.toml" in checks[0].advice
    (project / ".lean-companion.toml").write_text(
        '[models]\ntactic = ["mine"]\n[models.custom.mine]\npath = "gone.gguf"\nrole = "tactic"\nformat = "gguf"\n'
        'template = "raw-goal"\n')
    checks = companion_doctor.companion_checks()
    assert [c.name for c in checks] == ["model:mine"]
    assert "gone.gguf" in checks[0].advice and "models.tactic" in checks[0].advice
    _tool(tmp_path, "lean", 'echo "Lean (version 4.35.0)"')
    monkeypatch.setenv("PATH", str(tmp_path))
    assert companion_doctor.main([]) == 0
    out = capsys.readouterr().out
    assert "model mine" in out


def test_doctor_points_pip_users_at_install_gguf():
    """No advice names a script that is not in the wheel."""
    check = next(c for c in doctor.collect(timeout=1) if c.name == "llama_cpp")
    assert check.ok or ("lean-companion install-gguf" in check.advice and "scripts/" not in check.advice)


# ---------------------------------------------------------------- install-gguf

CPUINFO = "processor\t: 0\nflags\t\t: fpu vme avx avx2 fma f16c sse4_2\n"


def test_cpu_flags_are_spelled_out_never_native():
    args = install_gguf.cpu_flags(CPUINFO, machine="x86_64", system="Linux")
    assert "-DGGML_NATIVE=OFF" in args and "-DGGML_AMX_INT8=OFF" in args
    assert "-DGGML_AVX2=ON" in args and "-DGGML_F16C=ON" in args and "-DGGML_AVX512=OFF" in args
    assert install_gguf.cpu_flags("", machine="aarch64", system="Linux") == list(install_gguf.NO_EXTRAS)


def test_cache_key_is_the_one_the_shell_script_used(tmp_path, monkeypatch):
    """Wheels built by the old script (sha256 of 'VERSION|ARGS') are found again."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    key = hashlib.sha256(b"0.3.36|-DX=ON").hexdigest()[:16]
    assert install_gguf.cache_dir("0.3.36", "-DX=ON") == tmp_path / "lean-companion" / "wheels" / f"llama-cpp-python-0.3.36-{key}"


def test_wrapper_script_prints_the_same_flags():
    """scripts/install-llama-cpp.sh is a thin wrapper over the module (runs with a bare python)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LEAN_COMPANION_LLAMA_CMAKE_ARGS")}
    done = subprocess.run([str(REPO_ROOT / "scripts" / "install-llama-cpp.sh"), "--print-cmake-args"],
                          capture_output=True, text=True, timeout=60, env={**env, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == " ".join(install_gguf.cpu_flags())


FAKE_PYTHON = r"""#!/bin/sh
# pip wheel ... -w DIR : print cmake-like steps, then leave a wheel; pip install / -c: succeed
case "$*" in
  *"pip wheel"*)
    out=""; prev=""
    for a in "$@"; do [ "$prev" = "-w" ] && out="$a"; prev="$a"; done
    echo "Running command Building wheel for llama-cpp-python (pyproject.toml)"
    echo "  [ 12%] Building C object vendor/llama.cpp/ggml/src/CMakeFiles/ggml-base.dir/ggml.c.o"
    sleep 1.5
    echo "  [ 97%] Linking CXX shared library bin/libllama.so"
    echo "CMAKE_ARGS=$CMAKE_ARGS"
    touch "$out/llama_cpp_python-0.3.36-cp311-cp311-linux_x86_64.whl";;
  *) echo "$*" >> "$FAKE_LOG";;
esac
"""


def test_build_shows_elapsed_time_and_the_build_step(tmp_path, monkeypatch, capsys):
    """The build prints the honest time range, then elapsed time and the current build step,
    caches the wheel by version and flags, and installs it; a second run reuses the wheel."""
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "installs.log"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("LEAN_COMPANION_LLAMA_CMAKE_ARGS", "-DGGML_NATIVE=OFF -DTEST=1")
    monkeypatch.setattr(install_gguf, "_elapsed", lambda s: f"<{s:.0f}s>")
    cache = install_gguf.cache_dir("0.3.36", "-DGGML_NATIVE=OFF -DTEST=1")
    wheel = install_gguf.build(str(python), "0.3.36", "-DGGML_NATIVE=OFF -DTEST=1", cache, tty=False)
    err = capsys.readouterr().err
    assert "6-13 minutes on 2 cores" in err and "built in" in err
    assert wheel.parent == cache and wheel.name.startswith("llama_cpp_python-")
    assert "CMAKE_ARGS=-DGGML_NATIVE=OFF -DTEST=1" in (cache.parent / (cache.name + ".build.log")).read_text()
    assert install_gguf.main(["--python", str(python)]) == 0
    err = capsys.readouterr().err
    assert "built earlier" in err and "installed" in err
    assert "--force-reinstall" in (tmp_path / "installs.log").read_text()


def test_progress_line_names_the_step(tmp_path, monkeypatch, capsys):
    """With a slow step the ticker prints elapsed time and the step being built."""
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON.replace("sleep 1.5", "sleep 2.5"))
    python.chmod(0o755)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = install_gguf.cache_dir("0.3.36", "-DA=1")
    install_gguf.build(str(python), "0.3.36", "-DA=1", cache, tty=True)
    err = capsys.readouterr().err
    assert "ggml.c.o" in err and "[ 12%]" in err and "0m0" in err


def test_gguf_is_needed_only_when_a_gguf_model_is_configured(tmp_path, monkeypatch):
    """scripts/run.sh builds llama-cpp-python only for a configured GGUF model that lacks it."""
    import importlib.util

    monkeypatch.setenv("LEAN_COMPANION_CONFIG_FILE", str(tmp_path / "none.toml"))
    project = tmp_path / "proj"
    project.mkdir()
    (project / "lakefile.lean").write_text("")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llama_cpp" else real_find_spec(name, *a))
    assert not install_gguf.gguf_needed(project), "no model configured: the portfolio needs nothing"
    (project / ".lean-companion.toml").write_text(
        '[models]\ntactic = ["mine"]\n[models.custom.mine]\npath = "m.gguf"\nrole = "tactic"\nformat = "gguf"\n'
        'template = "raw-goal"\n')
    assert install_gguf.gguf_needed(project)
    assert install_gguf.main(["--needed", str(project)]) == 0
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)
    if real_find_spec("llama_cpp") is not None:
        assert not install_gguf.gguf_needed(project), "already installed"
