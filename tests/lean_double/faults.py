"""Fault injection settings (command-line flags, or the scenario's ``faults`` object)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class Faults:
    crash_after: int | None = None  # exit (crash_exit_code) when the Nth client message arrives
    crash_exit_code: int = 137
    worker_crash_on: str | None = None  # a worker crashes while elaborating text containing this
    worker_crash_exit_code: int = 134  # 1 -> -32901 workerExited, anything else -> -32902 workerCrashed
    garbage_after: int | None = None  # write non-LSP bytes to stdout after the Nth client message
    huge_diagnostic_bytes: int = 0  # add an information diagnostic this large to every publish
    silent_eof_after: int | None = None  # close stdout after the Nth client message
    silent_eof_mode: str = "hang"  # "hang": keep running silently; "exit": exit 0
    shuffle_replies: bool = False  # delay each reply by a random 0..shuffle_max_ms
    shuffle_max_ms: int = 60
    seed: int | None = None

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def update(self, values: dict[str, Any], source: str) -> None:
        """Set fields from a mapping, with clear errors for unknown names or bad types."""
        for key, value in values.items():
            if key not in self.names():
                raise ValueError(f"{source}: unknown fault {key!r} (known: {', '.join(self.names())})")
            current = getattr(self, key)
            if isinstance(current, bool) and not isinstance(value, bool):
                raise ValueError(f"{source}: fault {key!r} expects true/false")
            setattr(self, key, value)
