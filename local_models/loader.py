"""Model id -> loaded backend: resolve, check files and memory early, then call the backend factory.

``load_generator(model_id, config)`` gives a :class:`TacticGenerator`, ``load_encoder`` a
:class:`TextEncoder`. Both block (call them from a worker thread, or use the ``*_async``
versions); concurrent loads of the same model share one in-flight load. Failures are
:class:`ModelNotFound` (unknown id, files not installed: the message says which ``lean-companion
models pull`` to run) or :class:`ModelLoadError` (truncated or wrong-format file, not enough
memory, missing optional dependency, backend failure), with the backend's exception as
``__cause__``.
"""
from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_models.catalog import ModelEntry, backend_module, get_model
from local_models.config import Config
from local_models.download import PARTIAL_DIR, model_dir, pull
from local_models.errors import DownloadError, ModelError, ModelLoadError, ModelNotFound
from local_models.generation import TacticGenerator, TextEncoder
from local_models.gguf_file import GGUFFileError, inspect_gguf

log = logging.getLogger(__name__)

#: pip extra and install hint per format, for a missing optional dependency.
EXTRAS = {
    "gguf": "run `lean-companion install-gguf` (it builds llama-cpp-python for this CPU)",
    "onnx": "pip install 'lean-companion[onnx]'",
    "served": "pip install 'lean-companion[served]'",
}
#: Memory a loaded model needs beyond its weight files (runtime, context, buffers), as a factor and a floor.
MEMORY_FACTOR = 1.2
MEMORY_OVERHEAD = 256 * 1024 * 1024
GGUF_VERSIONS = (2, 3)


@dataclass(frozen=True)
class ResolvedModel:
    """A model's entry and the local files a backend will read."""

    entry: ModelEntry
    path: Path  # the .gguf file, or the ONNX model directory
    files: tuple[Path, ...]  # every weight/tokenizer file found

    @property
    def weight_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files if f.suffix in (".gguf", ".onnx", ".bin", ".data"))


# --------------------------------------------------------------------------- resolution


def _pull_hint(entry: ModelEntry) -> str:
    if entry.source is not None:
        return f"run `lean-companion models pull {entry.id}`"
    return (f"no download is known for it: put the files in {{dir}} or declare your copy under "
            f"[models.custom] with extends = \"{entry.id}\" (see docs/models.md)")


def resolve(model_id: str, config: Config | None = None) -> ResolvedModel:
    """Find ``model_id``'s files on disk; raises :class:`ModelNotFound` saying how to get them."""
    entry = get_model(model_id, config)
    if entry.endpoint is not None:  # a served model has no local files
        return ResolvedModel(entry, Path(), ())
    if entry.path is not None:
        path = Path(entry.path)
        if not path.exists():
            raise ModelNotFound(f"{entry.id}: {path} does not exist (models.custom.{entry.id}.path)")
        if entry.format == "gguf" and not path.is_file():
            raise ModelNotFound(f"{entry.id}: {path} is not a file; a GGUF model's path names the .gguf file")
        if entry.format == "onnx" and path.is_file():
            path = path.parent
        files = (path,) if path.is_file() else tuple(sorted(p for p in path.iterdir() if p.is_file()))
        return ResolvedModel(entry, path, files)

    directory = model_dir(entry, config)
    if entry.files:
        paths = [directory / f.name for f in entry.files]
        missing = [p for p in paths if not p.is_file()]
        if missing and entry.source is not None and entry.source.kind == "pypi":
            try:  # linking files of installed wheels is local and cheap
                pull(entry, config, progress=False)
            except DownloadError as exc:
                raise ModelNotFound(str(exc)) from exc
            missing = [p for p in paths if not p.is_file()]
        if missing:
            names = ", ".join(p.name for p in missing)
            partial = any((directory / PARTIAL_DIR).rglob("*.incomplete"))
            raise ModelNotFound(
                f"{entry.id} is not installed ({names} missing in {directory}"
                f"{'; a partial download is there and pull resumes it' if partial else ''}): "
                + _pull_hint(entry).format(dir=directory))
        files = tuple(paths)
    else:
        wanted = "*.gguf" if entry.format == "gguf" else "*.onnx"
        files = tuple(sorted(directory.glob(wanted))) if directory.is_dir() else ()
        if not files:
            raise ModelNotFound(f"{entry.id} is not installed (no {wanted} in {directory}): "
                                + _pull_hint(entry).format(dir=directory))
        if entry.format == "onnx":
            files = tuple(sorted(p for p in directory.iterdir() if p.is_file()))
    if entry.format == "gguf":
        ggufs = [p for p in files if p.suffix == ".gguf"]
        if len(ggufs) != 1:
            raise ModelLoadError(f"{entry.id}: expected one .gguf file in {directory}, found {len(ggufs)}")
        return ResolvedModel(entry, ggufs[0], files)
    return ResolvedModel(entry, directory, files)


# --------------------------------------------------------------------------- early checks


def _looks_like(head: bytes) -> str:
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the model itself"
    if head.lstrip().startswith((b"<", b"{")):
        return "text (an HTML error page or JSON?)"
    if head.startswith(b"PK"):
        return "a zip archive"
    return f"bytes {head[:8]!r}"


def check_files(resolved: ResolvedModel) -> None:
    """Refuse truncated or wrong-format files before handing them to a backend (a served model:
    a missing API-key variable; the server itself is asked when the model loads)."""
    entry = resolved.entry
    if entry.endpoint is not None and entry.endpoint.api_key_env and not os.environ.get(entry.endpoint.api_key_env):
        raise ModelLoadError(f"{entry.id}: environment variable {entry.endpoint.api_key_env} (api_key_env) is not set; "
                             "export it before starting the editor (docs/served-models.md)")
    sizes = {f.name: f.size for f in entry.files if f.size is not None}
    for file in resolved.files:
        actual = file.stat().st_size
        expected = sizes.get(file.name)
        if expected is not None and actual != expected:
            raise ModelLoadError(
                f"{entry.id}: {file} is {actual} bytes, expected {expected}: the file is truncated or corrupt; "
                f"run `lean-companion models pull {entry.id} --force`" if entry.source else
                f"{entry.id}: {file} is {actual} bytes, expected {expected}")
        if actual == 0:
            raise ModelLoadError(f"{entry.id}: {file} is empty")
        with file.open("rb") as handle:
            head = handle.read(64)
        if file.suffix == ".gguf" or (entry.format == "gguf" and file == resolved.path):
            if not head.startswith(b"GGUF"):
                raise ModelLoadError(f"{entry.id}: {file} is not a GGUF file: it looks like {_looks_like(head)}")
            if len(head) < 24:
                raise ModelLoadError(f"{entry.id}: {file} is truncated ({actual} bytes, shorter than a GGUF header)")
            version = int.from_bytes(head[4:8], "little")
            if version not in GGUF_VERSIONS:
                raise ModelLoadError(f"{entry.id}: {file} has GGUF version {version}; llama.cpp reads versions "
                                     f"{' and '.join(map(str, GGUF_VERSIONS))}")
            try:  # the whole structure and length, before the backend (and llama-cpp-python) is imported
                inspect_gguf(file)
            except GGUFFileError as exc:
                hint = f" (`lean-companion models pull {entry.id} --force`)" if entry.source else ""
                raise ModelLoadError(f"{entry.id}: {exc}{hint}") from None
        elif file.suffix == ".onnx" and head.startswith((b"version https://git-lfs", b"<", b"{")):
            raise ModelLoadError(f"{entry.id}: {file} is not an ONNX model: it looks like {_looks_like(head)}")


def available_memory() -> int | None:
    """Bytes of memory available now (psutil, else /proc/meminfo), or None if unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(resolved: ResolvedModel) -> None:
    """Refuse a model whose weights clearly do not fit in the memory available now."""
    weights = resolved.weight_bytes
    need = int(weights * MEMORY_FACTOR) + MEMORY_OVERHEAD
    free = available_memory()
    if free is not None and need > free:
        raise ModelLoadError(
            f"{resolved.entry.id}: needs ~{need / 1e9:.1f} GB of memory, {free / 1e9:.1f} GB free; "
            "close other programs or choose a smaller model")


# --------------------------------------------------------------------------- factory


def _import_backend(entry: ModelEntry) -> Any:
    name = backend_module(entry)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if exc.name and (exc.name == name or name.startswith(exc.name + ".")):
            raise ModelLoadError(f"{entry.id}: the {entry.format} backend ({name}) is not part of this "
                                 "installation") from exc
        raise ModelLoadError(f"{entry.id}: the {entry.format} backend needs {exc.name or exc}, which is not "
                             f"installed: {EXTRAS.get(entry.format, 'reinstall lean-companion')}") from exc


def _call_backend(resolved: ResolvedModel, config: Config | None) -> Any:
    entry = resolved.entry
    module = _import_backend(entry)
    threads = (config.models.threads if config else None) or entry.threads
    try:
        accepts_threads = "threads" in inspect.signature(module.load).parameters
    except (TypeError, ValueError):
        accepts_threads = False
    try:
        if accepts_threads:
            return module.load(entry, resolved.path, threads=threads)
        return module.load(entry, resolved.path)
    except ModelError:
        raise
    except ImportError as exc:
        raise ModelLoadError(f"{entry.id}: the {entry.format} backend needs {exc.name or exc}, which is not "
                             f"installed: {EXTRAS.get(entry.format, '')}") from exc
    except MemoryError as exc:
        raise ModelLoadError(f"{entry.id}: ran out of memory loading {resolved.path}") from exc
    except Exception as exc:
        raise ModelLoadError(f"{entry.id}: could not load {resolved.path} (corrupt or not a "
                             f"{entry.format.upper()} model?): {type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------- shared in-flight loads

_lock = threading.Lock()
_in_flight: dict[tuple[str, str], Future] = {}


def _shared(key: tuple[str, str], load: Callable[[], Any]) -> Any:
    """Run ``load`` once for concurrent callers with the same ``key``; all get its result or error."""
    with _lock:
        future = _in_flight.get(key)
        owner = future is None
        if owner:
            future = Future()
            _in_flight[key] = future
    assert future is not None
    if not owner:
        return future.result()
    try:
        result = load()
    except BaseException as exc:
        future.set_exception(exc)
        raise
    else:
        future.set_result(result)
        return result
    finally:
        with _lock:
            _in_flight.pop(key, None)


def _load(model_id: str, config: Config | None, kind: str, *, memory_check: bool) -> Any:
    def run() -> Any:
        resolved = resolve(model_id, config)
        entry = resolved.entry
        if kind == "encoder" and entry.role != "embedding":
            raise ModelLoadError(f"{model_id} is a {entry.role} model, not an embedding model; use load_generator")
        if kind == "generator" and entry.role == "embedding":
            raise ModelLoadError(f"{model_id} is an embedding model; use load_encoder")
        check_files(resolved)
        if memory_check and entry.endpoint is None:
            check_memory(resolved)
        log.info("loading %s from %s", model_id, resolved.path)
        loaded = _call_backend(resolved, config)
        protocol = TextEncoder if kind == "encoder" else TacticGenerator
        if not isinstance(loaded, protocol):
            raise ModelLoadError(f"{model_id}: backend {backend_module(entry)} returned {type(loaded).__name__}, "
                                 f"which is not a {protocol.__name__}")
        return loaded

    return _shared((kind, model_id), run)


def load_generator(model_id: str, config: Config | None = None, *, memory_check: bool = True) -> TacticGenerator:
    """Load a tactic or whole-proof model (blocking). The caller owns it and closes it."""
    return _load(model_id, config, "generator", memory_check=memory_check)


def load_encoder(model_id: str, config: Config | None = None, *, memory_check: bool = True) -> TextEncoder:
    """Load an embedding model (blocking). The caller owns it and closes it."""
    return _load(model_id, config, "encoder", memory_check=memory_check)


async def load_generator_async(model_id: str, config: Config | None = None, **kwargs: Any) -> TacticGenerator:
    """:func:`load_generator` in a worker thread, keeping the event loop free."""
    return await asyncio.to_thread(load_generator, model_id, config, **kwargs)
