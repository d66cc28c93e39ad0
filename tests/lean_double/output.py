"""Where the double writes: LSP frames on stdout (blocking, logged) and free text on stderr."""
from __future__ import annotations

import os
import sys
from typing import Any

from .framing import encode
from .msglog import MessageLog


def stderr(text: str) -> None:
    """One free-text line on stderr (never stdout, which carries only frames)."""
    try:
        sys.stderr.write(f"[lean-double] {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class Output:
    """Blocking frame writer on a file descriptor; logs every frame; silent once closed."""

    def __init__(self, fd: int, log: MessageLog) -> None:
        self.fd, self.log, self.closed = fd, log, False

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        self.log.record("send", message)
        self.write(encode(message))

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError:
            self.closed = True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                os.close(self.fd)
            except OSError:
                pass
