"""End-to-end editor flows through ``lean-companion serve`` in front of real Lean (prelude mode),
spoken by pytest-lsp's client (pygls) with the client capabilities VS Code 1.65 and Neovim 0.7
send, so the companion and Lean see what those editors really declare. pytest-lsp also checks
each answer against the declared capabilities (``LspSpecificationWarning``, an error here).

Byte-faithfulness is not tested here (pygls decodes every message): that is the raw-bytes
client's job (tests/real_lean/test_session.py).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.real_lean.session import FILE_A, isolated_env, position, write_project

pytestmark = [pytest.mark.real_lean, pytest.mark.timeout(300),
              pytest.mark.filterwarnings("error::pytest_lsp.checks.LspSpecificationWarning")]

PROFILES = ["visual-studio-code@v1.65.2", "neovim@v0.7.0"]


async def start(real_lean: Path, tmp_path: Path, profile: str) -> tuple[LanguageClient, Path]:
    root = write_project(tmp_path / "proj")
    command = [sys.executable, "-m", "copilot.cli", "serve", "--log-file", str(tmp_path / "proxy.log"),
               "--cwd", str(root), "--", str(real_lean), "--server"]
    client = await ClientServerConfig(server_command=command, server_env=isolated_env(tmp_path)).start()

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(_params: Any) -> None:
        return None

    for method in (types.WORKSPACE_INLAY_HINT_REFRESH, types.WORKSPACE_SEMANTIC_TOKENS_REFRESH):
        client.feature(method)(lambda _params: None)
    result = await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(profile), root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="proj")]))
    assert result.server_info is not None and result.server_info.name == "Lean 4 Server"
    commands = result.capabilities.execute_command_provider.commands  # type: ignore[union-attr]
    assert any(c.endswith(".fillSorry") for c in commands)  # the companion's fill command, advertised
    return client, root


@pytest.mark.parametrize("profile", PROFILES)
async def test_editor_flow_through_serve(real_lean: Path, tmp_path: Path, profile: str) -> None:
    """Open a file, get Lean's diagnostics, hover, complete, list symbols, then shut down cleanly."""
    client, root = await start(real_lean, tmp_path, profile)
    try:
        uri = (root / "A.lean").as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id="lean4", version=1, text=FILE_A)))
        assert await client.protocol.send_request_async("textDocument/waitForDiagnostics",
                                                        {"uri": uri, "version": 1}) is not None
        messages = [d.message for d in client.diagnostics[uri]]
        assert "Unknown identifier `fals`" in messages, messages

        def at(needle: str, delta: int) -> types.Position:
            p = position(FILE_A, needle, delta)
            return types.Position(line=p["line"], character=p["character"])

        hover = await client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=at("id_tt\n#check", 1)))
        assert hover is not None and "id_tt : " in hover.contents.value  # type: ignore[union-attr]
        completion = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=at("Eq'.refl Bool'", 4)))
        items = completion.items if isinstance(completion, types.CompletionList) else completion
        assert [item.label for item in items or []] == ["Eq'"]
        symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        assert [s.name for s in symbols or []] == ["Bool'", "Eq'", "Bool'.id", "id_tt", "by_block"]
    finally:
        await client.shutdown_session()
    assert client.error is None
