"""Method-name constants: the LSP ones the proxy routes on, Lean's, and the companion's own."""
from __future__ import annotations

INITIALIZE = "initialize"
INITIALIZED = "initialized"
SHUTDOWN = "shutdown"
EXIT = "exit"
CANCEL_REQUEST = "$/cancelRequest"
PROGRESS = "$/progress"

DID_OPEN = "textDocument/didOpen"
DID_CHANGE = "textDocument/didChange"
DID_CLOSE = "textDocument/didClose"
DID_SAVE = "textDocument/didSave"
PUBLISH_DIAGNOSTICS = "textDocument/publishDiagnostics"
COMPLETION = "textDocument/completion"
CODE_ACTION = "textDocument/codeAction"
HOVER = "textDocument/hover"
WAIT_FOR_DIAGNOSTICS = "textDocument/waitForDiagnostics"

REGISTER_CAPABILITY = "client/registerCapability"
SHOW_MESSAGE = "window/showMessage"
LOG_MESSAGE = "window/logMessage"
WORK_DONE_PROGRESS_CREATE = "window/workDoneProgress/create"
APPLY_EDIT = "workspace/applyEdit"
EXECUTE_COMMAND = "workspace/executeCommand"

# Server->client refresh requests and the ``capabilities.workspace`` entry whose
# ``refreshSupport`` says the editor handles them (LSP 3.16-3.18).
REFRESH_CAPABILITY = {
    "workspace/inlayHint/refresh": "inlayHint",
    "workspace/semanticTokens/refresh": "semanticTokens",
    "workspace/codeLens/refresh": "codeLens",
    "workspace/diagnostic/refresh": "diagnostics",
    "workspace/inlineValue/refresh": "inlineValue",
    "workspace/foldingRange/refresh": "foldingRange",
}
REFRESH_REQUESTS = frozenset(REFRESH_CAPABILITY)

LEAN_FILE_PROGRESS = "$/lean/fileProgress"
LEAN_PLAIN_GOAL = "$/lean/plainGoal"
LEAN_PLAIN_TERM_GOAL = "$/lean/plainTermGoal"
LEAN_RPC_CONNECT = "$/lean/rpc/connect"
LEAN_RPC_CALL = "$/lean/rpc/call"

# The id of the one string-id request Lean sends the client (lean-lsp-protocol.md §1.2).
LEAN_WATCHER_REGISTRATION_ID = "register_lean_watcher"

COMPANION_PREFIX = "$/leanCompanion/"
COMPANION_STATUS = "$/leanCompanion/status"

# Notifications Lean accepts without params (§8.2): everything else needs an object or array.
PARAMLESS_OK = frozenset({SHUTDOWN, EXIT})
