"""On-disk layout of a project's premise index, versioned, written atomically.

One folder per project under the platformdirs user cache dir, keyed by the resolved
project path. A *snapshot* (the base) is written to a temporary folder and renamed into
place; the *delta* (files changed since) is one msgpack file replaced atomically. Any
inconsistency on load raises ``IndexCorrupt`` so the caller rebuilds.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import msgspec
import numpy as np

from .records import EXTRACTOR_VERSION, Declaration

FORMAT_VERSION = 3
APP_NAME = "lean-companion"


class IndexCorrupt(Exception):
    """The stored index is unreadable, inconsistent or from another format; rebuild it."""


class FileInfo(msgspec.Struct, array_like=True):
    """One source file known to the index."""

    path: str  # absolute
    root: str
    kind: str  # project | package | toolchain
    module: str
    mtime_ns: int
    size: int
    prelude: bool = False
    imports: list[str] = []
    error: str | None = None


class Manifest(msgspec.Struct):
    """What a snapshot was built from and with."""

    format_version: int
    extractor_version: int
    encoder_id: str | None
    project_root: str
    created: float
    n_docs: int
    files: list[FileInfo]
    roots: list[tuple[str, str]]
    build_seconds: float = 0.0


class Delta(msgspec.Struct):
    """Files re-extracted (or removed) since the snapshot; ``decls`` keyed by absolute path."""

    files: dict[str, FileInfo] = {}
    decls: dict[str, list[Declaration]] = {}
    removed: list[str] = []


def default_cache_root() -> Path:
    """``<user cache dir>/lean-companion/premises`` (``LEAN_COMPANION_CACHE`` overrides)."""
    env = os.environ.get("LEAN_COMPANION_CACHE")
    if env:
        return Path(env) / "premises"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME)) / "premises"


def index_dir(project_root: Path, cache_root: Path | None = None) -> Path:
    """The folder holding ``project_root``'s index."""
    resolved = str(project_root.resolve())
    key = hashlib.sha1(resolved.encode()).hexdigest()[:16]
    return (cache_root or default_cache_root()) / f"{project_root.resolve().name}-{key}"


def write_snapshot(
    folder: Path,
    manifest: Manifest,
    decls: list[Declaration],
    doc_file: np.ndarray,
    doc_line: np.ndarray,
    write_lexical,
    vectors: np.ndarray | None,
    extra_arrays: dict[str, np.ndarray] | None = None,
) -> None:
    """Write a complete snapshot to ``folder`` atomically (temp folder + rename)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}-{time.monotonic_ns()}")
    tmp.mkdir()
    try:
        (tmp / "decls.msgpack").write_bytes(msgspec.msgpack.encode(decls))
        np.save(tmp / "doc_file.npy", doc_file.astype(np.int32))
        np.save(tmp / "doc_line.npy", doc_line.astype(np.int32))
        write_lexical(tmp)
        for name, arr in (extra_arrays or {}).items():
            np.save(tmp / f"{name}.npy", arr)
        if vectors is not None:
            np.save(tmp / "vectors.npy", vectors.astype(np.float16))
        (tmp / "delta.msgpack").write_bytes(msgspec.msgpack.encode(Delta()))
        # the manifest goes last: a folder without one is incomplete
        (tmp / "manifest.json").write_bytes(msgspec.json.encode(manifest))
        old = folder.with_name(f"{folder.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_manifest(folder: Path) -> Manifest:
    """The snapshot's manifest; ``IndexCorrupt`` if missing, unreadable or of another version."""
    try:
        m = msgspec.json.decode((folder / "manifest.json").read_bytes(), type=Manifest)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
        raise IndexCorrupt(f"manifest unreadable: {e}") from e
    if m.format_version != FORMAT_VERSION:
        raise IndexCorrupt(f"format version {m.format_version} != {FORMAT_VERSION}")
    if m.extractor_version != EXTRACTOR_VERSION:
        raise IndexCorrupt(f"extractor version {m.extractor_version} != {EXTRACTOR_VERSION}")
    return m


def read_decls(folder: Path, n_docs: int) -> tuple[list[Declaration], np.ndarray, np.ndarray]:
    """Declarations and their per-document file ids and lines."""
    try:
        decls = msgspec.msgpack.decode((folder / "decls.msgpack").read_bytes(), type=list[Declaration])
        doc_file = np.load(folder / "doc_file.npy")
        doc_line = np.load(folder / "doc_line.npy")
    except (OSError, ValueError, msgspec.DecodeError, msgspec.ValidationError) as e:
        raise IndexCorrupt(f"declarations unreadable: {e}") from e
    if not (len(decls) == len(doc_file) == len(doc_line) == n_docs):
        raise IndexCorrupt("declaration arrays disagree on the document count")
    return decls, doc_file, doc_line


def read_array(folder: Path, name: str, n_docs: int) -> np.ndarray:
    """A per-document array written through ``extra_arrays``; checked for length."""
    try:
        arr = np.load(folder / f"{name}.npy")
    except (OSError, ValueError) as e:
        raise IndexCorrupt(f"{name} unreadable: {e}") from e
    if arr.shape != (n_docs,) or (n_docs and (arr.min() < 0 or arr.max() >= n_docs)):
        raise IndexCorrupt(f"{name} does not fit the {n_docs} documents")
    return arr


def read_vectors(folder: Path, n_docs: int) -> np.ndarray | None:
    """The memory-mapped float16 vectors, or ``None`` when the snapshot has none."""
    path = folder / "vectors.npy"
    if not path.exists():
        return None
    try:
        vec = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise IndexCorrupt(f"vectors unreadable: {e}") from e
    if vec.ndim != 2 or vec.shape[0] != n_docs or vec.dtype != np.float16:
        raise IndexCorrupt(f"vectors have shape {vec.shape} {vec.dtype}, expected ({n_docs}, dim) float16")
    return vec


def read_delta(folder: Path) -> Delta:
    """The delta; an unreadable delta is corrupt like the rest."""
    try:
        return msgspec.msgpack.decode((folder / "delta.msgpack").read_bytes(), type=Delta)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
        raise IndexCorrupt(f"delta unreadable: {e}") from e


def write_delta(folder: Path, delta: Delta) -> None:
    """Replace the delta file atomically."""
    tmp = folder / f"delta.msgpack.tmp-{os.getpid()}"
    tmp.write_bytes(msgspec.msgpack.encode(delta))
    os.replace(tmp, folder / "delta.msgpack")
