"""The editor protocol ``$/leanCompanion/*`` (docs/editor-protocol.md), defined once.

Method names are constants; every request's params and result and every notification's params
are msgspec Structs (field names camelCase on the wire). The proxy validates what editors send
with :func:`parse` (a clear -32602 naming the field on bad input) and builds its answers from
these Structs; the VS Code extension's ``vscode-extension/src/protocol.ts`` is generated from
this module (``python -m copilot.features.protocol --typescript``), and a test fails when the
two drift apart.
"""
from __future__ import annotations

import re
import sys
import types
import typing
from typing import Annotated, Any, Literal, TypeVar, Union

import msgspec

from lsp_proxy.errors import INVALID_PARAMS, ResponseError

PROTOCOL_VERSION = 1

# ------------------------------------------------------------------ method names

PREFIX = "$/leanCompanion/"
SUGGEST = "$/leanCompanion/suggest"
FILL_SORRY = "$/leanCompanion/fillSorry"
PREMISES = "$/leanCompanion/premises"
STATUS = "$/leanCompanion/status"
CONFIGURE = "$/leanCompanion/configure"
CANCEL = "$/leanCompanion/cancel"
HELLO = "$/leanCompanion/hello"  # side channel only (lsp_proxy/side_channel.py)
STATUS_CHANGED = "$/leanCompanion/statusChanged"

#: TypeScript key → method, in the order of ``METHODS`` in protocol.ts.
METHODS: dict[str, str] = {
    "suggest": SUGGEST,
    "fillSorry": FILL_SORRY,
    "premises": PREMISES,
    "status": STATUS,
    "configure": CONFIGURE,
    "cancel": CANCEL,
    "hello": HELLO,
    "statusChanged": STATUS_CHANGED,
}

NonNegative = Annotated[int, msgspec.Meta(ge=0)]


class Message(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    """Base of every protocol Struct: camelCase names, optional fields left out when unset."""


# ------------------------------------------------------------------ LSP shapes we use


class LspPosition(Message):
    line: NonNegative
    character: NonNegative


class LspRange(Message):
    start: LspPosition
    end: LspPosition


class LspTextEdit(Message):
    range: LspRange
    new_text: str


class VersionedDocument(Message):
    uri: str
    version: int | None = None


class EditedDocument(Message):
    """LSP's OptionalVersionedTextDocumentIdentifier: ``version`` is always sent (null: any)."""

    uri: str
    version: int | None


class LspTextDocumentEdit(Message):
    text_document: EditedDocument
    edits: list[LspTextEdit]


class LspWorkspaceEdit(Message):
    changes: dict[str, list[LspTextEdit]] | None = None
    document_changes: list[LspTextDocumentEdit] | None = None


# ------------------------------------------------------------------ requests


class DocumentPositionParams(Message):
    """The fields every document request carries."""

    text_document: VersionedDocument
    position: LspPosition
    #: Client-chosen id; ``$/leanCompanion/cancel {requestToken}`` cancels the request.
    request_token: str | None = None


class SuggestParams(DocumentPositionParams):
    max_suggestions: int | None = None
    include_unchecked: bool = False


class Suggestion(Message):
    tactic: str
    verdict: Literal["closes", "progress", "unchecked"]
    goals_after: list[str]
    source: str
    score: float
    #: Range the tactic replaces; absent: insert at the request position.
    range: LspRange | None = None
    #: The exact text to put at ``range`` (or the position), indented; preferred over ``tactic``.
    new_text: str | None = None


class SuggestResult(Message):
    goal: str | None
    latency_ms: int
    suggestions: list[Suggestion]


class FillSorryParams(DocumentPositionParams):
    #: ``position``: the sorry at (or nearest after) ``position``; ``file``: every sorry.
    scope: Literal["position", "file"] = "position"
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] | None = None


class FillStats(Message):
    elapsed_ms: int
    expansions: int | None = None
    lean_checks: int | None = None


FillStatus = Literal["proved", "partial", "failed", "timeout", "cancelled", "noSorry"]


class FillSorryResult(Message):
    status: FillStatus
    proof: str | None = None
    edit: LspWorkspaceEdit | None = None
    filled: int | None = None
    remaining: int | None = None
    stats: FillStats | None = None
    message: str | None = None
    #: ``workspace/executeCommand`` only: whether the editor applied the edit.
    applied: bool | None = None


class ExecuteFillParams(Message):
    """``workspace/executeCommand`` of the fill command (section 4): ``arguments[0]`` says where."""

    command: str
    arguments: list[DocumentPositionParams] = msgspec.field(default_factory=list)


class PremisesParams(DocumentPositionParams):
    k: int | None = None


class Premise(Message):
    name: str
    signature: str
    module: str
    score: float


class PremisesResult(Message):
    premises: list[Premise]


class StatusParams(Message):
    """``$/leanCompanion/status`` takes ``{}``."""


class ModelInfo(Message):
    id: str
    role: str
    backend: str
    installed: bool
    active: bool
    size_bytes: int | None = None
    state: str | None = None
    error: str | None = None


class IndexInfo(Message):
    #: "absent" | "building" | "ready" | "stale" | "error" (editors show unknown states as they are)
    state: str
    declarations: int
    error: str | None = None


class LeanInfo(Message):
    running: bool
    restarts: int


class ProblemInfo(Message):
    """Something the user should fix (docs/config.md): a broken configuration file, an ignored
    editor setting, a model that cannot be used, an unwritable folder."""

    key: str
    message: str


class StatusResult(Message):
    version: str
    protocol_version: int
    pid: int
    models: list[ModelInfo]
    index: IndexInfo
    last_latency_ms: int | None
    busy: bool
    log_file: str | None
    features: list[str]
    lean: LeanInfo
    problems: list[ProblemInfo]
    fill_sorry_command: str | None = None


# ------------------------------------------------------------------ notifications


class ConfigureParams(Message):
    """``{settings: overlay}``: a partial configuration with the sections and keys of
    ``.lean-companion.toml``, e.g. ``{suggest: {max_candidates: 4}}``."""

    settings: dict[str, Any]


class CancelParams(Message):
    request_token: str


class HelloParams(Message):
    token: str
    client: str | None = None


#: ``$/leanCompanion/statusChanged`` (proxy → editor) carries the ``status`` result.
StatusChangedParams = StatusResult

#: Every Struct protocol.ts declares, in order (TypeScript name = Python name).
EXPORTED: tuple[type[Message], ...] = (
    LspPosition, LspRange, LspTextEdit, VersionedDocument, EditedDocument, LspTextDocumentEdit, LspWorkspaceEdit,
    DocumentPositionParams, SuggestParams, Suggestion, SuggestResult, FillSorryParams, FillStats,
    FillSorryResult, PremisesParams, Premise, PremisesResult, StatusParams, ModelInfo, IndexInfo,
    LeanInfo, ProblemInfo, StatusResult, ConfigureParams, CancelParams, HelloParams,
)

# ------------------------------------------------------------------ validation

T = TypeVar("T", bound=Message)
_MISSING = re.compile(r"Object missing required field `([^`]+)`")
_AT = re.compile(r"^(.*) - at `\$(?:\.)?([^`]*)`$")


def parse(params: Any, kind: type[T]) -> T:
    """``params`` as ``kind``; bad input raises -32602 whose message names the field
    (e.g. ``textDocument.uri: missing``, ``position.line: Expected `int` >= 0, got `-1```)."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ResponseError(INVALID_PARAMS, "params must be an object")
    try:
        return msgspec.convert(params, kind)
    except msgspec.ValidationError as exc:
        raise ResponseError(INVALID_PARAMS, field_error(str(exc))) from None


def field_error(message: str) -> str:
    """msgspec's ``"<what> - at `$.a.b`"`` as ``"a.b: <what>"`` (a missing field is named in the path)."""
    match = _AT.match(message)
    what, path = (match.group(1), match.group(2)) if match else (message, "")
    missing = _MISSING.match(what)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
        what = "missing"
    path = re.sub(r"\[(\d+)\]", r"[\1]", path)
    return f"{path}: {what}" if path else what


def to_wire(message: Message) -> Any:
    """A Struct as JSON-ready builtins (what the router sends)."""
    return msgspec.to_builtins(message)


# ------------------------------------------------------------------ TypeScript


def _ts_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _ts_type(typing.get_args(tp)[0])
    if tp is type(None) or tp is None:
        return "null"
    if tp is Any:
        return "unknown"
    if tp is bool:
        return "boolean"
    if tp in (int, float):
        return "number"
    if tp is str:
        return "string"
    if isinstance(tp, type) and issubclass(tp, Message):
        return tp.__name__
    if origin is Literal:
        return " | ".join(f"'{v}'" for v in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_ts_type(a) for a in typing.get_args(tp))
    if origin is list:
        inner = _ts_type(typing.get_args(tp)[0])
        return f"({inner})[]" if " " in inner else f"{inner}[]"
    if origin is dict:
        key, value = typing.get_args(tp)
        return f"Record<{_ts_type(key)}, {_ts_type(value)}>"
    raise TypeError(f"no TypeScript for {tp!r}")


def _ts_interface(cls: type[Message]) -> list[str]:
    hints = typing.get_type_hints(cls, include_extras=True)
    base = cls.__mro__[1]
    own = [f for f in msgspec.structs.fields(cls)
           if not (base is not Message and f.name in {g.name for g in msgspec.structs.fields(base)})]
    lines = []
    doc = (cls.__doc__ or "").strip()
    if doc and doc != (Message.__doc__ or "").strip():
        lines.append("/** " + " ".join(doc.split()).replace("``", "`") + " */")
    extends = f" extends {base.__name__}" if base is not Message else ""
    lines.append(f"export interface {cls.__name__}{extends} {{")
    for field in own:
        optional = field.required is False
        tp = hints[field.name]
        args = typing.get_args(tp)
        if optional and typing.get_origin(tp) in (Union, types.UnionType) and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            tp = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007 - a runtime Union
        lines.append(f"    {field.encode_name}{'?' if optional else ''}: {_ts_type(tp)}")
    lines.append("}")
    return lines


def typescript() -> str:
    """The text of vscode-extension/src/protocol.ts."""
    out = [
        "/**",
        " * The `$/leanCompanion/*` messages between an editor and the proxy (docs/editor-protocol.md).",
        " * GENERATED from copilot/features/protocol.py by",
        " *     python -m copilot.features.protocol --typescript > vscode-extension/src/protocol.ts",
        " * Do not edit: tests/editors/test_protocol.py fails when the two differ.",
        " * Positions and ranges are LSP's (0-based, UTF-16 columns).",
        " */",
        "",
        f"export const PROTOCOL_VERSION = {PROTOCOL_VERSION}",
        "",
        "export const METHODS = {",
        *[f"    {key}: '{method}'," for key, method in METHODS.items()],
        "} as const",
        "",
    ]
    for cls in EXPORTED:
        out += _ts_interface(cls)
        out.append("")
    out += ["/** `$/leanCompanion/statusChanged` (proxy → editor) carries the `status` result. */",
            "export type StatusChangedParams = StatusResult", ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    """``python -m copilot.features.protocol --typescript``: print protocol.ts."""
    if argv != ["--typescript"]:
        sys.stderr.write("usage: python -m copilot.features.protocol --typescript\n")  # cli-output
        return 2
    sys.stdout.write(typescript())  # cli-output
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
