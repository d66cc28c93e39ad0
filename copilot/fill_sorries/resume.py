"""The ``--resume`` cache: decisions keyed by (file hash, declaration, goal, configuration).

A re-run with the same settings skips every sorry already decided. A cached ``filled``
proof is not trusted blindly: it is re-checked in the real file before anything is written,
like every other proof. The cache lives in the user cache dir (never in the project tree),
one JSON-lines file per project; a corrupt line is ignored.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import msgspec
import platformdirs

from .report import RunConfig, SorryResult

log = logging.getLogger(__name__)


class _Entry(msgspec.Struct):
    key: str
    result: SorryResult


def config_fingerprint(config: RunConfig) -> str:
    """What of the configuration changes the outcome: budgets, models and the project's Lean
    toolchain (not jobs, not the output mode, not how the server is started)."""
    relevant = {
        "budget_seconds": config.budget_seconds,
        "max_expansions": config.max_expansions,
        "models": sorted(config.models),
        "lean_toolchain": config.lean_toolchain,
    }
    return hashlib.sha256(msgspec.json.encode(relevant)).hexdigest()[:16]


def result_key(file_sha256: str, declaration: str | None, goal: str | None, occurrence: int, config: RunConfig) -> str:
    """The cache key of one sorry: ``occurrence`` tells apart several sorries with the same goal."""
    raw = "\x00".join([file_sha256, declaration or "", goal or "", str(occurrence), config_fingerprint(config)])
    return hashlib.sha256(raw.encode()).hexdigest()


def default_cache_path(project: Path) -> Path:
    """Where the cache of ``project`` lives."""
    digest = hashlib.sha256(str(project.resolve()).encode()).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("lean-companion")) / "fill-sorries" / f"{project.resolve().name}-{digest}.jsonl"


class ResumeCache:
    """An append-only JSON-lines store of decided sorries."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, SorryResult] = {}
        self._load()

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot read resume cache %s: %s", self.path, exc)
            return
        decoder = msgspec.json.Decoder(_Entry)
        bad = 0
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                entry = decoder.decode(line)
            except msgspec.DecodeError:
                bad += 1
                continue
            self._entries[entry.key] = entry.result
        if bad:
            log.warning("ignored %d corrupt line(s) in resume cache %s", bad, self.path)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> SorryResult | None:
        """The cached decision for ``key``, marked ``cached``."""
        result = self._entries.get(key)
        return msgspec.structs.replace(result, cached=True) if result is not None else None

    def put(self, key: str, result: SorryResult) -> None:
        """Record a decision (appended and flushed at once, so Ctrl-C loses nothing)."""
        if result.status in ("error", "skipped"):
            return  # not a decision: try again next time
        self._entries[key] = result
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as handle:
            handle.write(msgspec.json.encode(_Entry(key, msgspec.structs.replace(result, cached=False))) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
