"""Exceptions of the model side, grouped by what the user can do about them.

``ModelError`` is the base; ``ModelNotFound`` (unknown id, or files not installed: run
``lean-companion models pull ID``), ``ModelLoadError`` (the file is there but cannot be used),
``DownloadError`` (fetching failed; ``kind`` says which class of failure). ``ConfigError`` is
separate: it names the file and key that is wrong.
"""
from __future__ import annotations

from typing import Literal

DownloadFailure = Literal[
    "offline", "network", "not-found", "unauthorized", "disk-full", "checksum", "no-source", "other"
]


class ModelError(Exception):
    """Base of everything that goes wrong finding, fetching or loading a model."""


class ModelNotFound(ModelError):
    """The model id is unknown, or its files are not installed."""


class UnknownModel(ModelNotFound, KeyError):
    """No catalog or user model has this id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown model"


class ModelLoadError(ModelError):
    """The files are there but the model cannot be loaded (corrupt, wrong format, no memory, missing extra)."""


class DownloadError(ModelError):
    """A download failed; ``kind`` names the failure class for callers and exit codes."""

    def __init__(self, message: str, kind: DownloadFailure = "other") -> None:
        super().__init__(message)
        self.kind = kind


class CatalogError(ModelError):
    """The catalog or a user model definition is inconsistent (clashing ids, unknown template)."""


class ConfigError(ValueError):
    """A configuration file or environment variable is invalid; the message names file and key."""
