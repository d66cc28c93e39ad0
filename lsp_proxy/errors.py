"""The one table of JSON-RPC / LSP / Lean error codes, and the exceptions built on it."""
from __future__ import annotations

from typing import Any

# JSON-RPC 2.0
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# LSP
SERVER_NOT_INITIALIZED = -32002
UNKNOWN_ERROR_CODE = -32001
REQUEST_FAILED = -32803
SERVER_CANCELLED = -32802
CONTENT_MODIFIED = -32801
REQUEST_CANCELLED = -32800
# Lean (lean-lsp-protocol.md §6.3)
RPC_NEEDS_RECONNECT = -32900
WORKER_EXITED = -32901
WORKER_CRASHED = -32902

# Codes Lean's JSON-RPC decoder accepts in an error response sent *to* it (§1.1). An error
# reply we send to Lean (to one of its server->client requests) must use one of these.
CODES_LEAN_ACCEPTS = frozenset(
    {-32700, -32600, -32601, -32602, -32603, -32002, -32001, -32801, -32800, -32900, -32901, -32902}
)


class LeanError(Exception):
    """Base of everything that goes wrong talking to Lean."""


class LeanExited(LeanError):
    """The Lean server process exited (or was restarted) while we waited on it."""


class LeanTimeout(LeanError, TimeoutError):
    """Lean did not answer in time (a crashed worker never answers, §8.16)."""


class LeanRequestError(LeanError):
    """Lean answered a request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class FramingError(Exception):
    """A Content-Length frame could not be read.

    ``recoverable`` is true when the reader has already resynchronised the stream (the bad
    bytes were skipped) and the next ``read_frame`` call continues with the following frame.
    """

    recoverable: bool = False


class FrameTooLarge(FramingError):
    """A frame's Content-Length exceeds the reader's limit; its body was skipped."""

    recoverable = True


class MalformedHeader(FramingError):
    """A header block without a usable Content-Length; it was skipped."""

    recoverable = True


class TruncatedFrame(FramingError):
    """The stream ended in the middle of a frame; the partial frame is lost."""


class ResponseError(Exception):
    """Raised by a request interceptor to answer the editor with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class EditorRequestError(ResponseError):
    """The editor answered one of the proxy's requests with a JSON-RPC error."""
