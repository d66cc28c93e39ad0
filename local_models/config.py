"""User configuration: user file, project file and environment, merged and validated.

Sources, later ones winning key by key:

1. the user file ``<platformdirs user config dir>/lean-companion/config.toml``
   (``LEAN_COMPANION_CONFIG_FILE`` points elsewhere);
2. the project file ``<project root>/.lean-companion.toml``;
3. environment variables ``LEAN_COMPANION_<SECTION>__<KEY>=value`` (``__`` separates levels,
   names are case-insensitive; values are TOML literals such as ``12``, ``true``, ``2.5``,
   ``["a", "b"]``, else plain strings; a list key also takes ``a,b``).

Each source is validated on its own, so an error names the file (or variable) and the key:
``~/.config/lean-companion/config.toml: suggest.max_candidates: expected int, got "x"``.
Relative paths (``models.models_dir``, ``models.custom.<id>.path``, ``log.file``) are relative
to the file that sets them. ``docs/config.md`` documents every key.
"""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
import platformdirs

from local_models.errors import ConfigError
from local_models.generation import Role

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

APP_NAME = "lean-companion"
PROJECT_FILE = ".lean-companion.toml"
ENV_PREFIX = "LEAN_COMPANION_"
ENV_CONFIG_FILE = "LEAN_COMPANION_CONFIG_FILE"
PROJECT_MARKERS = ("lean-toolchain", "lakefile.lean", "lakefile.toml", PROJECT_FILE)


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    pass


class CustomModel(_Section):
    """A user model: a local ``path``, a hub ``repo`` + ``file`` or a server (``base_url`` + ``model``), plus how to prompt it."""

    extends: str | None = None
    path: str | None = None
    repo: str | None = None
    file: str | None = None
    files: list[str] | None = None
    revision: str | None = None
    sha256: str | None = None
    role: Role | None = None
    format: Literal["gguf", "onnx", "served"] | None = None
    template: str | None = None
    prompt: str | None = None
    chat: Literal["chatml", "qwen3", "deepseek"] | None = None
    system: str | None = None
    stop: list[str] | None = None
    context: int | None = None
    threads: int | None = None
    size: int | None = None
    license: str | None = None
    description: str | None = None
    backend: str | None = None
    # a served model (OpenAI-compatible endpoint; local_models/served.py, docs/served-models.md)
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    api: Literal["auto", "completions", "chat"] | None = None
    n_mode: Literal["auto", "native", "seeds"] | None = None
    temperature: float | None = None
    timeout_seconds: float | None = None


class ModelsConfig(_Section):
    """``[models]``: which models to use and where they live."""

    tactic: list[str] = []
    whole_proof: list[str] = []
    embedding: str | None = None
    threads: int | None = None
    models_dir: str | None = None
    custom: dict[str, CustomModel] = {}


class SuggestConfig(_Section):
    """``[suggest]``: interactive tactic suggestions."""

    enabled: bool = True
    completions: bool = True
    code_actions: bool = True
    diagnostics: bool = True
    max_candidates: int = 8
    timeout_seconds: float = 2.0
    debounce_ms: int = 300


class SearchConfig(_Section):
    """``[search]``: sorry-filling proof search."""

    budget_seconds: float = 60.0
    max_expansions: int = 200
    max_depth: int = 12
    heartbeats: int = 200000
    check_timeout_seconds: float = 10.0
    batch_size: int = 8
    feedback_rounds: int = 1


class SafetyConfig(_Section):
    """``[safety]``: what a checked candidate may contain."""

    allow_native_decide: bool = False
    allowed_set_options: list[str] = []


class IndexConfig(_Section):
    """``[index]``: the premise index."""

    enabled: bool = True
    dense: bool = True
    include_dependencies: bool = True
    include_toolchain: bool = False


class LogConfig(_Section):
    """``[log]``: the companion's log file (never stdout/stderr)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    file: str | None = None


class Config(_Section):
    """The merged configuration. ``origins`` maps dotted keys to the source that set them."""

    models: ModelsConfig = ModelsConfig()
    suggest: SuggestConfig = SuggestConfig()
    search: SearchConfig = SearchConfig()
    safety: SafetyConfig = SafetyConfig()
    index: IndexConfig = IndexConfig()
    log: LogConfig = LogConfig()
    origins: dict[str, str] = {}


SECTIONS = ("models", "suggest", "search", "safety", "index", "log")


# --------------------------------------------------------------------------- locations


def user_config_path() -> Path:
    """The user config file (``LEAN_COMPANION_CONFIG_FILE`` overrides the platformdirs location)."""
    override = os.environ.get(ENV_CONFIG_FILE)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def find_project_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding a Lean project marker or our file."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return None


def models_dir(config: Config | None = None) -> Path:
    """Where downloaded models live: ``[models] models_dir`` or ``<user data dir>/models``."""
    if config is not None and config.models.models_dir:
        return Path(config.models.models_dir).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "models"


def display_path(path: Path) -> str:
    """``path`` with the home directory written as ``~``."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- errors

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_EXPECTED = re.compile(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")


def _dotted(path: str) -> str:
    return re.sub(r"\[(\d+)\]", r"[\1]", path.lstrip(".")).replace("'", "")


def _lookup(data: Any, dotted: str) -> Any:
    node = data
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", dotted):
        if part.startswith("["):
            node = node[int(part[1:-1])]
        else:
            node = node[part]
    return node


def _explain(exc: msgspec.ValidationError, data: Any, origin: str, prefix: str = "") -> ConfigError:
    """Turn msgspec's message into ``origin: dotted.key: what is wrong``."""
    found = _AT.match(str(exc))
    assert found is not None
    message, path = found["msg"], _dotted(found["path"] or "")
    if prefix:
        unknown = _UNKNOWN.search(message)
        if unknown:
            key = f"{prefix}.{path + '.' if path else ''}{unknown['field']}"
            known = ", ".join(f for f in CustomModel.__struct_fields__)
            return ConfigError(f"{origin}: {key}: unknown key (known keys: {known})")
        detail = str(_explain(exc, data, origin))[len(origin) + 2:]
        return ConfigError(f"{origin}: {prefix}{'.' if path else ': '}{detail}")
    unknown = _UNKNOWN.search(message)
    if unknown:
        key = f"{path}.{unknown['field']}" if path else unknown["field"]
        section = path.split(".")[0] if path else ""
        hint = "" if path else f" (sections: {', '.join(SECTIONS)})"
        if section and not path.startswith("models.custom"):
            fields = _section_fields(path)
            hint = f" (known keys: {', '.join(fields)})" if fields else ""
        return ConfigError(f"{origin}: {key}: unknown key{hint}")
    expected = _EXPECTED.search(message)
    if expected:
        try:
            got = repr(_lookup(data, path)).replace("'", '"')
        except (KeyError, IndexError, TypeError):
            got = expected["got"]
        want = expected["want"].replace(" | null", " or nothing").replace("array", "list").replace("object", "table")
        return ConfigError(f"{origin}: {path + ': ' if path else ''}expected {want}, got {got}")
    return ConfigError(f"{origin}: {path + ': ' if path else ''}{message[:1].lower() + message[1:]}")


def _section_fields(path: str) -> list[str]:
    node: Any = Config
    for part in path.split("."):
        fields = getattr(node, "__struct_fields__", ())
        if part not in fields:
            return []
        node = type(getattr(node(), part))
    return [f for f in getattr(node, "__struct_fields__", ()) if f != "origins"]


# --------------------------------------------------------------------------- sources


def _validate(data: dict[str, Any], origin: str) -> None:
    if "origins" in data:
        raise ConfigError(f"{origin}: origins: unknown key (sections: {', '.join(SECTIONS)})")
    custom = data.get("models", {}).get("custom") if isinstance(data.get("models"), dict) else None
    if isinstance(custom, dict):  # per model, so errors name models.custom.<id> (msgspec says [...])
        for model_id, spec in custom.items():
            try:
                msgspec.convert(spec, CustomModel)
            except msgspec.ValidationError as exc:
                raise _explain(exc, spec, origin, prefix=f"models.custom.{model_id}") from None
    try:
        msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise _explain(exc, data, origin) from None


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Make the relative paths a file sets relative to that file's folder."""

    def fix(table: Any, key: str) -> None:
        if isinstance(table, dict) and isinstance(table.get(key), str):
            value = Path(table[key]).expanduser()
            table[key] = str(value if value.is_absolute() else (base / value))

    models = data.get("models")
    fix(models, "models_dir")
    if isinstance(models, dict) and isinstance(models.get("custom"), dict):
        for spec in models["custom"].values():
            fix(spec, "path")
    fix(data.get("log"), "file")


def read_toml(path: Path, origin: str | None = None) -> dict[str, Any]:
    """Parse and validate one config file; a missing file is an empty config."""
    origin = origin or display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: invalid TOML: {exc}") from None
    _validate(data, origin)
    _resolve_paths(data, path.parent)
    return data


def _field_kind(keys: list[str]) -> str | None:
    """``list``/``str``/... for the config field at ``keys``, or None if there is none."""
    node: Any = Config()
    for key in keys:
        if isinstance(node, dict):
            return None
        if key not in getattr(node, "__struct_fields__", ()):
            return None
        node = getattr(node, key)
    return type(node).__name__


def _env_value(raw: str, keys: list[str]) -> Any:
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    if _field_kind(keys) == "list" and isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if _field_kind(keys) == "str" and not isinstance(value, str):
        value = raw  # e.g. LEAN_COMPANION_LOG__FILE=123 is still a path
    return value


def read_env(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Overrides from ``LEAN_COMPANION_<SECTION>__<KEY>`` variables, and each key's variable name."""
    data: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, raw in sorted(environ.items()):
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX):].split("__")]
        if any(not k for k in keys):
            raise ConfigError(f"environment {name}: empty key part")
        table = data
        for key in keys[:-1]:
            table = table.setdefault(key, {})
            if not isinstance(table, dict):
                raise ConfigError(f"environment {name}: {'.'.join(keys)}: conflicts with another variable")
        table[keys[-1]] = _env_value(raw, keys)
        single = {}
        cursor = single
        for key in keys[:-1]:
            cursor = cursor.setdefault(key, {})
        cursor[keys[-1]] = table[keys[-1]]
        _validate(single, f"environment {name}")
        origins[".".join(keys)] = f"environment {name}"
    return data, origins


def _merge(base: dict[str, Any], update: Mapping[str, Any], origin: str, origins: dict[str, str], prefix: str = "") -> None:
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            if not isinstance(base.get(key), dict):
                base[key] = {}
            _merge(base[key], value, origin, origins, dotted + ".")
        else:
            base[key] = value
        origins[dotted] = origin


def load_config(project_root: Path | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Merge user file, project file and environment into a validated :class:`Config`.

    With ``project_root`` None the project is found from the current directory (nearest folder
    holding ``lean-toolchain``, a lakefile or ``.lean-companion.toml``). Raises
    :class:`ConfigError` naming the file and key of the first problem.
    """
    environ = os.environ if environ is None else environ
    if project_root is None:
        project_root = find_project_root(Path.cwd())
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    user = user_config_path()
    _merge(merged, read_toml(user), display_path(user), origins)
    if project_root is not None:
        project = Path(project_root) / PROJECT_FILE
        _merge(merged, read_toml(project), display_path(project), origins)
    env_data, env_origins = read_env(environ)
    _merge(merged, env_data, "environment", origins)
    origins.update(env_origins)
    try:
        config = msgspec.convert(merged, Config)
    except msgspec.ValidationError as exc:  # a cross-source combination (should not happen)
        raise _explain(exc, merged, "configuration") from None
    return msgspec.structs.replace(config, origins=origins)


def origin_of(config: Config, dotted_key: str) -> str:
    """The source (file or variable) that set ``dotted_key`` or its nearest parent, else 'defaults'."""
    key = dotted_key
    while key:
        if key in config.origins:
            return config.origins[key]
        key = key.rpartition(".")[0]
    return "defaults"
