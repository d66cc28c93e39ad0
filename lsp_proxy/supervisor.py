"""Restart policy for the Lean server: backoff between restarts and a per-minute limit."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class RestartPolicy:
    """Wait ``backoff[n]`` seconds before the n-th consecutive restart; give up (until the next
    edit) after more than ``max_per_minute`` crashes within 60 seconds."""

    backoff: tuple[float, ...] = (0.05, 0.5, 1.0, 2.0, 5.0)
    max_per_minute: int = 5
    window: float = 60.0


@dataclass
class CrashTracker:
    """Remembers recent crashes and turns them into a decision: wait this long, or give up."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    _times: deque[float] = field(default_factory=deque)

    def record(self, now: float | None = None) -> float | None:
        """Record a crash; returns the delay before restarting, or None to give up for now."""
        now = time.monotonic() if now is None else now
        self._times.append(now)
        while self._times and now - self._times[0] > self.policy.window:
            self._times.popleft()
        if len(self._times) > self.policy.max_per_minute:
            return None
        index = min(len(self._times) - 1, len(self.policy.backoff) - 1)
        return self.policy.backoff[index]

    @property
    def recent(self) -> int:
        return len(self._times)

    def reset(self) -> None:
        self._times.clear()
