"""The ``initialize`` result per Lean version (lean-lsp-protocol.md §1.2)."""
from __future__ import annotations

import copy
from typing import Any

TOKEN_TYPES = [
    "keyword", "variable", "property", "function", "namespace", "type", "class", "enum", "interface", "struct",
    "typeParameter", "parameter", "enumMember", "event", "method", "macro", "modifier", "comment", "string",
    "number", "regexp", "operator", "decorator", "leanSorryLike",
]
TOKEN_MODIFIERS = [
    "declaration", "definition", "readonly", "static", "deprecated", "abstract", "async", "modification",
    "documentation", "defaultLibrary",
]

# Recorded from Lean about 4.29/4.30 [T].
RECENT: dict[str, Any] = {
    "callHierarchyProvider": True,
    "codeActionProvider": {"codeActionKinds": ["quickfix", "refactor", "source.organizeImports"],
                           "resolveProvider": True, "workDoneProgress": False},
    "colorProvider": {"workDoneProgress": False},
    "completionProvider": {"resolveProvider": True, "triggerCharacters": ["."]},
    "declarationProvider": True,
    "definitionProvider": True,
    "documentHighlightProvider": True,
    "documentSymbolProvider": True,
    "experimental": {"moduleHierarchyProvider": {}, "rpcProvider": {"highlightMatchesProvider": {}, "rpcWireFormat": "v1"}},
    "foldingRangeProvider": True,
    "hoverProvider": True,
    "inlayHintProvider": {"resolveProvider": False, "workDoneProgress": False},
    "referencesProvider": True,
    "renameProvider": {"prepareProvider": True},
    "semanticTokensProvider": {"full": True, "range": True,
                               "legend": {"tokenTypes": TOKEN_TYPES, "tokenModifiers": TOKEN_MODIFIERS}},
    "signatureHelpProvider": {"triggerCharacters": [" "], "workDoneProgress": False},
    "textDocumentSync": {"change": 2, "openClose": True, "save": {"includeText": True},
                         "willSave": False, "willSaveWaitUntil": False},
    "typeDefinitionProvider": True,
    "workspaceSymbolProvider": True,
}


def parse_version(text: str) -> tuple[int, int]:
    """``"4.30"`` or ``"4.30.0-rc2"`` to ``(4, 30)``."""
    parts = text.split("-")[0].split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError as exc:
        raise ValueError(f"not a Lean version: {text!r} (expected e.g. 4.30 or 4.9)") from exc


def server_capabilities(version: tuple[int, int]) -> dict[str, Any]:
    """Capabilities as that Lean version advertises them (older: no colour, signature help,
    experimental, organizeImports or leanSorryLike; 2024 source)."""
    caps = copy.deepcopy(RECENT)
    if version < (4, 12):
        for key in ("colorProvider", "signatureHelpProvider", "experimental"):
            del caps[key]
        caps["codeActionProvider"]["codeActionKinds"] = ["quickfix", "refactor"]
        caps["semanticTokensProvider"]["legend"]["tokenTypes"] = TOKEN_TYPES[:-1]
    return caps


def initialize_result(version: tuple[int, int]) -> dict[str, Any]:
    return {"capabilities": server_capabilities(version), "serverInfo": {"name": "Lean 4 Server", "version": "0.3.0"}}
