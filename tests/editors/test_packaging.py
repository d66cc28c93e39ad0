"""Release artefacts: ``packaging/build.sh`` builds the wheel and sdist from a clean copy of the
sources and ``twine check`` passes; the wheel carries the package data and both console
scripts; and the wheel installs into a fresh virtual environment where ``lean-companion``
runs. (The .vsix is checked in test_vscode_extension.py.)"""
from __future__ import annotations

import configparser
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("lsp_proxy", "copilot", "local_models")
# What pyproject's package-data ships, by kind: (description, suffix).
DATA_KINDS = {
    "model catalog (TOML)": ".toml",
    "Lean programs (premise dump)": ".lean",
    "GBNF grammars": ".gbnf",
    "infoview widget JavaScript": ".js",
}


def _source_data(suffix: str) -> list[str]:
    files = []
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob(f"*{suffix}"):
            if "__pycache__" not in path.parts:
                files.append(path.relative_to(REPO_ROOT).as_posix())
    return sorted(files)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build", reason="`build` is not installed (pip install build)")
    pytest.importorskip("twine", reason="`twine` is not installed (pip install twine)")
    try:
        import setuptools
        import wheel  # noqa: F401
    except ImportError:
        pytest.skip("setuptools/wheel missing: the offline build (--no-isolation) needs them")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} < 77 (pyproject's build requirement)")
    out = tmp_path_factory.mktemp("dist")
    env = dict(os.environ, PYTHON=sys.executable, SKIP_VSIX="1")
    result = subprocess.run(["bash", str(REPO_ROOT / "packaging" / "build.sh"), str(out)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert result.stdout.count("PASSED") == 2, result.stdout  # twine check, wheel and sdist
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("lean_companion-*.whl")
    return wheel


def test_build_leaves_the_working_tree_clean(dist: Path) -> None:
    """Building stages a copy: no build/ or *.egg-info appears in the repository."""
    assert not (REPO_ROOT / "build").exists() or (REPO_ROOT / "build").stat().st_mtime < dist.stat().st_mtime
    assert not any(p.stat().st_mtime >= dist.stat().st_mtime for p in REPO_ROOT.glob("*.egg-info"))


@pytest.mark.parametrize("kind", sorted(DATA_KINDS))
def test_wheel_ships_package_data(dist: Path, kind: str) -> None:
    """Every data file of this kind in the packages' sources is inside the wheel."""
    expected = _source_data(DATA_KINDS[kind])
    if not expected:
        pytest.skip(f"no {kind} in the sources yet")
    names = set(zipfile.ZipFile(_wheel(dist)).namelist())
    missing = [f for f in expected if f not in names]
    assert not missing, f"{kind} missing from the wheel: {missing}"


def test_wheel_has_the_catalog_and_a_grammar(dist: Path) -> None:
    """The two data files the model loader cannot work without are in the wheel."""
    names = set(zipfile.ZipFile(_wheel(dist)).namelist())
    assert "local_models/catalog.toml" in names
    assert any(n.startswith("local_models/") and n.endswith(".gbnf") for n in names)


def test_wheel_declares_both_console_scripts(dist: Path) -> None:
    """entry_points.txt maps `lean-companion` and `fill-sorries` to copilot.cli."""
    wheel = zipfile.ZipFile(_wheel(dist))
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode())
    assert dict(parser["console_scripts"]) == {
        "lean-companion": "copilot.cli:main",
        "fill-sorries": "copilot.cli:fill_sorries_main",
    }


def test_wheel_and_sdist_carry_the_license(dist: Path) -> None:
    """The wheel's METADATA names License-File: LICENSE and the file is in the wheel, byte for
    byte; the sdist has it too."""
    wheel = zipfile.ZipFile(_wheel(dist))
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    headers = wheel.read(metadata).decode()
    assert "License-File: LICENSE" in headers.splitlines()
    assert "License-Expression: Apache-2.0" in headers.splitlines()
    (license_file,) = [n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    assert wheel.read(license_file) == (REPO_ROOT / "LICENSE").read_bytes()
    (sdist,) = dist.glob("lean_companion-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert "LICENSE" in names


def test_sdist_has_sources_and_data(dist: Path) -> None:
    """The sdist holds pyproject.toml, README.md, the three packages and their data files."""
    (sdist,) = dist.glob("lean_companion-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for required in ("pyproject.toml", "README.md", "copilot/cli.py", "lsp_proxy/__init__.py", "local_models/__init__.py"):
        assert required in names, required
    for suffix in DATA_KINDS.values():
        for data in _source_data(suffix):
            assert data in names, data


def test_wheel_installs_and_runs_in_a_fresh_venv(dist: Path, tmp_path: Path) -> None:
    """`pip install <wheel>` into a new virtual environment gives working `lean-companion` and
    `fill-sorries` scripts (dependencies left out: --help and --version need none)."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)  # ensurepip alone takes ~15 s
    python = env_dir / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                              "--no-index", str(_wheel(dist))], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    help_ = subprocess.run([str(env_dir / "bin" / "lean-companion"), "--help"], capture_output=True, text=True,
                           timeout=60, cwd=tmp_path, env=clean_env)
    assert help_.returncode == 0, help_.stderr
    for command in ("serve", "doctor", "models", "index", "fill-sorries", "bench"):
        assert f"  {command}" in help_.stdout
    version = subprocess.run([str(env_dir / "bin" / "lean-companion"), "--version"], capture_output=True, text=True,
                             timeout=60, cwd=tmp_path, env=clean_env)
    assert version.stdout.strip() == "lean-companion 0.1.0"
    where = subprocess.run([str(python), "-c", "import copilot; print(copilot.__file__)"], capture_output=True,
                           text=True, timeout=60, cwd=tmp_path, env=clean_env)
    assert str(env_dir) in where.stdout, "the installed copy must be used, not the repository's"
    assert (env_dir / "bin" / "fill-sorries").exists()
    bare = subprocess.run([str(env_dir / "bin" / "lean-companion")], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=clean_env)
    assert bare.returncode == 0 and "commands:" in bare.stdout, "bare lean-companion prints help and exits 0"
    # pip users get the GGUF build advice from the installed package itself (standard library only)
    flags = subprocess.run([str(env_dir / "bin" / "lean-companion"), "install-gguf", "--print-cmake-args"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path, env=clean_env)
    assert flags.returncode == 0 and "-DGGML_NATIVE=OFF" in flags.stdout, flags.stderr
