"""Logging set-up for the proxy: a rotating file, never stdout (the LSP stream) or stderr."""
from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

import platformdirs

APP_NAME = "lean-companion"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def default_log_file() -> Path:
    """``<user log dir>/lean-companion/proxy.log`` (platformdirs)."""
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)) / "proxy.log"


def setup_logging(log_file: Path | None = None, level: str | int = "INFO") -> Path:
    """Send all logging to a rotating file (5 x 10 MB); returns its path.

    Existing root handlers are removed, so nothing of ours reaches stderr. If the file cannot
    be opened, logging is discarded rather than sent to stderr.
    """
    path = Path(log_file) if log_file else default_log_file()
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=10 * 2**20, backupCount=5, encoding="utf-8"
        )
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    logging.captureWarnings(True)
    return path
