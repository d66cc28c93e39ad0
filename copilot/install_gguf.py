"""``lean-companion install-gguf``: build and install llama-cpp-python (the GGUF backend) with
explicit CPU flags, showing progress.

PyPI ships llama-cpp-python only as an sdist. Its default build uses ``-march=native``, which on
AMX-advertising VMs compiles a backend that crashes at the first matmul (docs/gguf.md), so the
build always gets ``CMAKE_ARGS`` spelled out from what this CPU reports (x86-64 Linux:
``/proc/cpuinfo``), never native and never AMX; ``LEAN_COMPANION_LLAMA_CMAKE_ARGS`` overrides them.
pip's wheel cache is keyed by the sdist, not by the flags, and could hand back a natively built
wheel: the wheel is built with ``--no-cache-dir`` into a folder of our own named after the version
and the flags, and installed from there (a second run installs the cached wheel in seconds).

Standard library only: ``scripts/install-llama-cpp.sh`` (a thin wrapper) runs this module before
the package's dependencies are installed. Expect 6–13 minutes for the build on 2 cores.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

DEFAULT_VERSION = "0.3.36"
BASE_ARGS = ("-DGGML_NATIVE=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF",
             "-DLLAVA_BUILD=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF")
NO_EXTRAS = ("-DLLAVA_BUILD=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF")
# /proc/cpuinfo flag -> GGML option
X86_FLAGS = (("avx", "AVX"), ("avx2", "AVX2"), ("fma", "FMA"), ("f16c", "F16C"), ("avx512f", "AVX512"),
             ("avx512_vnni", "AVX512_VNNI"), ("avx_vnni", "AVX_VNNI"))
RUNTIME_DEPS = ("numpy", "diskcache", "jinja2", "typing-extensions")
BUILD_RANGE = "6-13 minutes on 2 cores"
_STEP = re.compile(r"\[\s*(\d+)%\]\s*(Building \w+ object \S+|Linking \w+ \S+)")


def cpu_flags(cpuinfo: str | None = None, machine: str | None = None, system: str | None = None) -> list[str]:
    """The CMAKE_ARGS for this CPU (arguments make it testable for other CPUs)."""
    machine = machine or platform.machine()
    system = system or platform.system()
    if machine in ("arm64", "aarch64"):
        return list(NO_EXTRAS)  # native is safe on ARM
    args = list(BASE_ARGS)
    if system == "Linux" and machine == "x86_64":
        if cpuinfo is None:
            try:
                cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
            except OSError:
                cpuinfo = ""
        line = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
        have = set(line.partition(":")[2].split())
        args += [f"-DGGML_{option}={'ON' if flag in have else 'OFF'}" for flag, option in X86_FLAGS]
    return args


def cmake_args() -> str:
    """``LEAN_COMPANION_LLAMA_CMAKE_ARGS`` if set, else :func:`cpu_flags`."""
    return os.environ.get("LEAN_COMPANION_LLAMA_CMAKE_ARGS") or " ".join(cpu_flags())


def cache_dir(version: str, args: str) -> Path:
    """The wheel folder for this version and these flags."""
    key = hashlib.sha256(f"{version}|{args}".encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lean-companion" / "wheels" / f"llama-cpp-python-{version}-{key}"


def pip_command(python: str, version: str, out: Path) -> list[str]:
    """The ``pip wheel`` command that builds the wheel into ``out``."""
    return [python, "-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "--no-binary", "llama-cpp-python",
            f"llama-cpp-python=={version}", "-w", str(out), "-v"]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # cli-output


def _elapsed(seconds: float) -> str:
    return f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"


def build(python: str, version: str, args: str, cache: Path, *, tty: bool | None = None) -> Path:
    """Build the wheel into ``cache`` showing elapsed time and the build step; returns the wheel."""
    tmp = cache.with_name(cache.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log_path = cache.with_name(cache.name + ".build.log")
    env = {**os.environ, "CMAKE_ARGS": args}
    tty = sys.stderr.isatty() if tty is None else tty
    _say(f"building llama-cpp-python {version} for this CPU ({BUILD_RANGE}; log: {log_path})\n  CMAKE_ARGS={args}")
    started = time.monotonic()
    step = ["preparing the build"]
    done = threading.Event()

    def ticker() -> None:
        last = ""
        while not done.wait(1.0 if tty else 30.0):
            line = f"  {_elapsed(time.monotonic() - started)}  {step[0]}"
            if tty:
                sys.stderr.write("\r" + line[:120].ljust(120))
                sys.stderr.flush()
            elif line != last:
                _say(line)
            last = line

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(pip_command(python, version, tmp), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            found = _STEP.search(line)
            if found:
                step[0] = f"[{found[1]:>3}%] {found[2].rsplit('/', 1)[-1]}"
            elif "Running command" in line or "Building wheel" in line:
                step[0] = "configuring (cmake)"
        code = proc.wait()
    done.set()
    thread.join()
    if tty:
        sys.stderr.write("\n")
    if code != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
        _say("\n".join(tail))
        raise SystemExit(f"llama-cpp-python {version} did not build (exit {code}); full log: {log_path}")
    shutil.rmtree(cache, ignore_errors=True)
    tmp.rename(cache)
    _say(f"built in {_elapsed(time.monotonic() - started)}")
    return next(cache.glob("llama_cpp_python-*.whl"))


def install(python: str, wheel: Path) -> None:
    """Install the wheel (and llama-cpp-python's runtime dependencies) into ``python``'s environment."""
    for cmd in ([python, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)],
                [python, "-m", "pip", "install", "--quiet", *RUNTIME_DEPS]):
        subprocess.run(cmd, check=True)
    check = subprocess.run([python, "-c", "import llama_cpp"], capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit(f"llama-cpp-python did not install from {wheel}:\n{check.stderr.strip()}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lean-companion install-gguf``."""
    parser = argparse.ArgumentParser(
        prog="lean-companion install-gguf",
        description="Build (once, cached) and install llama-cpp-python, the GGUF model backend, with explicit "
                    f"CPU flags for this machine. The build takes {BUILD_RANGE}.")
    parser.add_argument("--version", default=os.environ.get("LLAMA_CPP_PYTHON_VERSION", DEFAULT_VERSION),
                        help=f"llama-cpp-python version (default {DEFAULT_VERSION})")
    parser.add_argument("--python", default=os.environ.get("PYTHON", sys.executable),
                        help="the Python whose environment gets it (default: this one)")
    parser.add_argument("--print-cmake-args", action="store_true",
                        help="print the CMAKE_ARGS for this CPU and exit (for your own `pip install`)")
    parser.add_argument("--rebuild", action="store_true", help="build again even if a cached wheel exists")
    parser.add_argument("--needed", nargs="?", const=".", metavar="DIR",
                        help="only answer: exit 0 when the configuration for DIR's project names a GGUF model "
                             "and llama-cpp-python is missing, else 1 (scripts/run.sh uses it)")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.needed is not None:
        return 0 if gguf_needed(Path(args.needed)) else 1
    flags = cmake_args()
    if args.print_cmake_args:
        print(flags)  # cli-output
        return 0
    cache = cache_dir(args.version, flags)
    wheels = sorted(cache.glob("llama_cpp_python-*.whl")) if cache.is_dir() else []
    if wheels and not args.rebuild:
        _say(f"using the llama-cpp-python {args.version} wheel built earlier for these flags ({cache})")
        wheel = wheels[0]
    else:
        wheel = build(args.python, args.version, flags, cache)
    install(args.python, wheel)
    _say(f"llama-cpp-python {args.version} installed (GGUF models can now be used)")
    return 0


def gguf_needed(folder: Path) -> bool:
    """Whether the configuration seen from ``folder`` names a GGUF model while llama-cpp-python
    is not installed (a configuration that does not load needs nothing: serve reports it)."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is not None:
        return False
    try:
        from local_models.catalog import get_model
        from local_models.config import find_project_root, load_config

        config = load_config(find_project_root(folder.resolve()))
        models = config.models
        ids = [*models.tactic, *models.whole_proof, *([models.embedding] if models.embedding else [])]
        formats = []
        for model_id in ids:
            try:
                formats.append(get_model(model_id, config).format)
            except Exception:  # an unknown id is reported by serve and doctor, not here
                continue
    except Exception:
        return False
    return "gguf" in formats


def install_hint() -> str:
    """The one-line advice doctor and `models bench` give for a missing GGUF backend."""
    return (f"lean-companion install-gguf (builds llama-cpp-python for this CPU, {BUILD_RANGE}; "
            f'or: CMAKE_ARGS="$(lean-companion install-gguf --print-cmake-args)" pip install llama-cpp-python)')


if __name__ == "__main__":
    sys.exit(main())
