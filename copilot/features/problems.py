"""Companion problems the user must hear about, once each per editor session.

Isolation keeps Lean's traffic flowing whatever the companion's trouble; this module makes sure
the user is also *told*: a broken ``.lean-companion.toml`` or a value of the wrong type, an editor
setting that was ignored, a configured model that cannot be used (unknown id, missing file,
truncated or LFS-pointer ``.gguf``, a directory where a file belongs, a missing backend), and a
cache/state/data/log folder that cannot be written. Each distinct problem becomes one
``window/showMessage`` (warning) naming the file and key or the model id and what to do; the
open ones are listed in ``$/leanCompanion/status`` (``problems``) and ``lean-companion doctor``
runs the same checks (:func:`environment_problems`).
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

WARNING = 2  # LSP MessageType.Warning
PREFIX = "Lean Companion: "


@dataclass(frozen=True)
class Problem:
    """One problem: ``key`` says what it is about (``config``, ``model:<id>``, ``folder:<path>``,
    ``setting:<key>``); ``message`` is the sentence shown to the user."""

    key: str
    message: str

    def to_wire(self) -> dict[str, str]:
        return {"key": self.key, "message": self.message}


# ---------------------------------------------------------------------------- checks


def config_problem(project_root: Path | None) -> Problem | None:
    """The configuration files' first problem (file and key), or None when they load."""
    from local_models.config import load_config
    from local_models.errors import ConfigError

    try:
        load_config(project_root)
    except ConfigError as exc:
        return Problem("config", f"{PREFIX}configuration not used, defaults apply: {exc}. "
                                 "Fix that key (docs/config.md lists every key and its type).")
    except Exception as exc:  # an unreadable file, a bug: still the user's to know
        return Problem("config", f"{PREFIX}configuration not used, defaults apply: {type(exc).__name__}: {exc}.")
    return None


def model_problem(model_id: str, error: str, config: Any = None) -> Problem:
    """A configured model that cannot be used, with where it is configured and what to do."""
    where = ""
    if config is not None:
        from local_models.config import origin_of

        keys = [k for k in ("models.tactic", "models.whole_proof", "models.embedding") if
                model_id in _as_list(_lookup(config, k))]
        if keys:
            where = f" ({keys[0]} in {origin_of(config, keys[0])})"
    detail = re.sub(r"^[A-Z]\w*(Error|NotFound|Model): ", "", error)  # "ModelLoadError: …" → "…"
    return Problem(f"model:{model_id}",
                   f"{PREFIX}model {model_id}{where} is off: {detail}. Suggestions use the other sources; "
                   f"`lean-companion models verify {model_id}` checks its files, `lean-companion models list` "
                   "shows the known ids.")


def _lookup(config: Any, dotted: str) -> Any:
    node = config
    for part in dotted.split("."):
        node = getattr(node, part, None)
    return node


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def folder_reason(path: Path) -> str | None:
    """Why ``path`` cannot serve as a folder we write into, or None when it can."""
    if path.exists():
        if not path.is_dir():
            return f"{path} is not a folder"
        if not os.access(path, os.W_OK | os.X_OK):
            return f"{path} is not writable"
        return None
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is None or not parent.is_dir():
        return f"{path} cannot be created ({parent} is not a folder)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{path} cannot be created ({parent} is not writable)"
    return None


def folders(config: Any = None) -> dict[str, Path]:
    """The folders the companion writes into, by what they hold."""
    import platformdirs

    from local_models.config import APP_NAME, models_dir
    from lsp_proxy.logs import default_log_file

    return {
        "cache folder (premise index, fill-sorries cache)": Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
        "data folder (downloaded models)": models_dir(config),
        "log folder": default_log_file().parent,
    }


def folder_problems(config: Any = None) -> list[Problem]:
    """One problem per folder that cannot be written."""
    out = []
    for label, path in folders(config).items():
        reason = folder_reason(path)
        if reason is not None:
            out.append(Problem(f"folder:{path}", f"{PREFIX}{label}: {reason}. Fix its permissions, or point "
                                                 "XDG_CACHE_HOME / XDG_DATA_HOME / [models] models_dir elsewhere; "
                                                 "what needs it is off until then."))
    return out


def configured_model_problems(config: Any, *, roles: tuple[str, ...] = ("tactic", "whole_proof", "embedding")) -> list[Problem]:
    """Cheap checks of the configured models of ``roles`` (resolve and file headers; nothing is loaded)."""
    from local_models.loader import check_files, resolve

    out = []
    ids = [model_id for role in roles for model_id in _as_list(getattr(config.models, role))]
    for model_id in dict.fromkeys(ids):
        try:
            check_files(resolve(model_id, config))
        except Exception as exc:
            out.append(model_problem(model_id, str(exc), config))
    return out


def environment_problems(project_root: Path | None) -> list[Problem]:
    """Everything ``doctor`` reports: configuration, configured models, folders (blocking)."""
    from local_models.config import Config, load_config

    problems = []
    problem = config_problem(project_root)
    config: Any = Config()
    if problem is not None:
        problems.append(problem)
    else:
        config = load_config(project_root)
        problems += configured_model_problems(config)
    problems += folder_problems(config)
    return problems


# ---------------------------------------------------------------------------- the board


class ProblemBoard:
    """Collects problems and shows each distinct one once (after the editor's ``initialized``)."""

    def __init__(self, send: Callable[[Problem], Any]) -> None:
        self._send = send
        self.problems: dict[str, Problem] = {}
        self._shown: set[tuple[str, str]] = set()
        self.ready = False

    def report(self, problem: Problem) -> None:
        """Record ``problem`` (replacing an older one with the same key) and show it if new."""
        if self.problems.get(problem.key) != problem:
            logger.warning("%s", problem.message)
        self.problems[problem.key] = problem
        if self.ready:
            self._show(problem)

    def clear(self, key: str) -> None:
        """The problem under ``key`` is gone (e.g. the file was fixed)."""
        self.problems.pop(key, None)

    def start(self) -> None:
        """The editor is ready for messages: show what has been collected so far."""
        self.ready = True
        for problem in list(self.problems.values()):
            self._show(problem)

    def _show(self, problem: Problem) -> None:
        ident = (problem.key, problem.message)
        if ident in self._shown:
            return
        self._shown.add(ident)
        try:
            self._send(problem)
        except Exception:  # telling the user must never cost the session
            logger.warning("could not show a problem to the editor", exc_info=True)

    def status(self) -> list[dict[str, str]]:
        """The open problems, for ``$/leanCompanion/status``."""
        return [p.to_wire() for p in self.problems.values()]
