"""msgspec view of a JSON-RPC message: only what routing needs, the rest left as raw bytes.

``decode_envelope(body)`` reads ``jsonrpc``, ``id``, ``method`` and keeps ``params``,
``result`` and ``error`` as :class:`msgspec.Raw` (undecoded, re-emitted verbatim). A field
that is absent has an empty ``Raw`` (``len(raw) == 0``); ``null`` is ``Raw(b"null")``.
"""
from __future__ import annotations

from typing import Any

import msgspec

# JSON-RPC ids as they arrive: Lean and editors use int and str; a float is echoed back as
# given, and a bool (invalid) is answered with -32600 instead of a parse error with id null.
Id = int | str | float
_EMPTY = msgspec.Raw(b"")


class Envelope(msgspec.Struct):
    """The routing view of one message."""

    id: int | str | float | bool | None = None
    method: str | None = None
    jsonrpc: str | None = None
    params: msgspec.Raw = _EMPTY
    result: msgspec.Raw = _EMPTY
    error: msgspec.Raw = _EMPTY


class TextDocumentIdentifier(msgspec.Struct):
    uri: str = ""


class UriView(msgspec.Struct):
    """Params that name a document as ``textDocument.uri`` or (publishDiagnostics) ``uri``."""

    uri: str | None = None
    textDocument: TextDocumentIdentifier | None = None

    @property
    def document_uri(self) -> str | None:
        if self.textDocument is not None:
            return self.textDocument.uri
        return self.uri


class ErrorView(msgspec.Struct):
    code: int = 0
    message: str = ""
    data: Any = None


class CancelParams(msgspec.Struct):
    id: int | str | float | None = None


_envelope_decoder = msgspec.json.Decoder(Envelope)
_uri_decoder = msgspec.json.Decoder(UriView)
_cancel_decoder = msgspec.json.Decoder(CancelParams)
_error_decoder = msgspec.json.Decoder(ErrorView)
_any_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()

DecodeError = msgspec.DecodeError


def decode_envelope(body: bytes) -> Envelope:
    """The routing view of ``body``; raises :class:`msgspec.DecodeError` if it is not a JSON object."""
    return _envelope_decoder.decode(body)


def decode_any(raw: bytes | msgspec.Raw) -> Any:
    """Fully decode JSON bytes (or a Raw field) into Python objects."""
    return _any_decoder.decode(raw)


def document_uri(params: msgspec.Raw) -> str | None:
    """``textDocument.uri`` (or ``uri``) of a params Raw, or None; never raises."""
    if not params:
        return None
    try:
        return _uri_decoder.decode(params).document_uri
    except msgspec.DecodeError:
        return None


def cancel_id(params: msgspec.Raw) -> Id | None:
    """The ``id`` in ``$/cancelRequest`` params, or None."""
    try:
        return _cancel_decoder.decode(params).id if params else None
    except msgspec.DecodeError:
        return None


def decode_error(raw: msgspec.Raw) -> ErrorView:
    """The ``error`` member of a response (code 0 / empty message if malformed)."""
    try:
        return _error_decoder.decode(raw)
    except msgspec.DecodeError:
        return ErrorView(code=0, message=bytes(raw).decode("utf-8", "replace"))


def encode(obj: Any) -> bytes:
    """Compact JSON (msgspec); Raw values are emitted verbatim."""
    return _encoder.encode(obj)


def request(id_: Id, method: str, params: Any) -> bytes:
    return _encoder.encode({"jsonrpc": "2.0", "id": id_, "method": method, "params": params})


def notification(method: str, params: Any) -> bytes:
    return _encoder.encode({"jsonrpc": "2.0", "method": method, "params": params})


def response(id_: Id | None, result: Any) -> bytes:
    return _encoder.encode({"jsonrpc": "2.0", "id": id_, "result": result})


def error_response(id_: Id | None, code: int, message: str, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return _encoder.encode({"jsonrpc": "2.0", "id": id_, "error": error})
