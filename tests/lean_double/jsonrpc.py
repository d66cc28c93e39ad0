"""JSON-RPC message classification with Lean's strictness (lean-lsp-protocol.md §1.1).

Shapes are tried in Lean's order: request (``id`` number or string plus ``method``),
notification (``method`` without a usable id), response (``id`` plus ``result``), error response
(``id`` plus ``error`` whose ``code`` is in Lean's list). ``"jsonrpc":"2.0"`` is required.
``params`` counts only when it is an object or an array.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

LEAN_DECODABLE_CODES = frozenset(
    {-32700, -32600, -32601, -32602, -32603, -32002, -32001, -32801, -32800, -32900, -32901, -32902}
)

Kind = Literal["request", "notification", "response", "error"]


class ProtocolError(Exception):
    """The frame body is not a JSON-RPC message Lean would accept."""


@dataclass
class Message:
    """One decoded client message."""

    kind: Kind
    raw: dict[str, Any]
    method: str | None = None
    id: int | str | None = None
    params: dict | list | None = None
    result: Any = None
    error: dict | None = None

    @property
    def has_params(self) -> bool:
        return self.params is not None


def _is_id(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def parse_message(body: bytes) -> Message:
    """Decode and classify one frame body, raising :class:`ProtocolError` like Lean would fail."""
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"cannot parse JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError("message is not a JSON object")
    if obj.get("jsonrpc") != "2.0":
        raise ProtocolError('message lacks "jsonrpc":"2.0"')
    params = obj.get("params")
    if not isinstance(params, (dict, list)):
        params = None
    method = obj.get("method")
    if isinstance(method, str):
        if _is_id(obj.get("id")):
            return Message("request", obj, method=method, id=obj["id"], params=params)
        return Message("notification", obj, method=method, params=params)
    if _is_id(obj.get("id")) and "result" in obj:
        return Message("response", obj, id=obj["id"], result=obj["result"])
    if _is_id(obj.get("id")) and isinstance(obj.get("error"), dict):
        error = obj["error"]
        if error.get("code") not in LEAN_DECODABLE_CODES or not isinstance(error.get("message"), str):
            raise ProtocolError(f"error response with a code Lean does not decode: {error.get('code')!r}")
        return Message("error", obj, id=obj["id"], error=error)
    raise ProtocolError("not a request, notification or response")


def request(id_: int | str, method: str, params: Any = None) -> dict[str, Any]:
    """A server->client request; ``params`` omitted when None (Lean's refresh requests have none)."""
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def notification(method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def response(id_: int | str, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "result": result}


def error_response(id_: int | str, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": error}
