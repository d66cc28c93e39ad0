"""The editor's settings overlay (``$/leanCompanion/configure``) merged over ``load_config``.

Precedence (docs/editor-protocol.md §3): defaults < user config < project file < editor overlay
< ``LEAN_COMPANION_*`` environment variables. Each overlay replaces the previous one; a key that
does not validate is logged and skipped, the rest applies.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

from local_models.config import Config

logger = logging.getLogger(__name__)

EDITOR_ORIGIN = "editor"


def _leaves(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, value in data.items():
        path = (*prefix, str(key))
        # models.custom.<id> tables are values of their own: keep them whole
        if isinstance(value, Mapping) and value and path != ("models", "custom") and len(path) < 2:
            yield from _leaves(value, path)
        else:
            yield path, value


def _nested(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {path[-1]: value}
    for key in reversed(path[:-1]):
        out = {key: out}
    return out


def apply_overlay(base: Config, overlay: Any) -> tuple[Config, list[str]]:
    """``base`` with the editor's ``overlay`` applied; returns the config and the problems
    (one line per ignored key). Keys set by environment variables keep their values."""
    problems: list[str] = []
    if not isinstance(overlay, Mapping):
        if overlay not in (None, {}):
            problems.append(f"settings must be an object, got {type(overlay).__name__}")
        return base, problems
    data = msgspec.to_builtins(base)
    origins = dict(data.pop("origins", {}) or {})
    for path, value in _leaves(overlay):
        dotted = ".".join(path)
        if base.origins.get(dotted, "").startswith("environment"):
            logger.info("editor setting %s ignored: the environment sets it", dotted)
            continue
        single = _nested(path, value)
        try:
            msgspec.convert(single, Config)
        except msgspec.ValidationError as exc:
            problems.append(f"{dotted}: {exc}")
            continue
        table = data
        for key in path[:-1]:
            table = table.setdefault(key, {})
        table[path[-1]] = value
        origins[dotted] = EDITOR_ORIGIN
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:  # a combination that fails (should not happen)
        problems.append(f"overlay rejected as a whole: {exc}")
        return base, problems
    return msgspec.structs.replace(config, origins=origins), problems
