"""``--log FILE``: one JSON line per message received or sent, so tests can assert on traffic."""
from __future__ import annotations

import json
import time
from typing import Any, TextIO


class MessageLog:
    """Appends ``{"t", "dir": "recv"|"send"|"send-raw", "method", "id", "params", ...}`` lines."""

    def __init__(self, path: str | None) -> None:
        self.file: TextIO | None = open(path, "a", encoding="utf-8", buffering=1) if path else None  # noqa: SIM115 - open for the process's life

    def record(self, direction: str, message: dict[str, Any] | None = None, **extra: Any) -> None:
        if self.file is None:
            return
        entry: dict[str, Any] = {"t": round(time.time(), 6), "dir": direction}
        if message is not None:
            for key in ("method", "id", "params", "result", "error"):
                if key in message:
                    entry[key] = message[key]
        entry.update(extra)
        self.file.write(json.dumps(entry, ensure_ascii=False) + "\n")


def read_log(path: str) -> list[dict[str, Any]]:
    """Parse a log written by :class:`MessageLog` (for tests)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
