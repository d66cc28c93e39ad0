/** Converting LSP positions, ranges and workspace edits to VS Code's types. */
import * as vscode from 'vscode'
import type { LspPosition, LspRange, LspWorkspaceEdit } from './protocol'

export function toPosition(p: LspPosition): vscode.Position {
    return new vscode.Position(p.line, p.character)
}

export function toRange(r: LspRange): vscode.Range {
    return new vscode.Range(toPosition(r.start), toPosition(r.end))
}

export function fromPosition(p: vscode.Position): LspPosition {
    return { line: p.line, character: p.character }
}

/** An LSP WorkspaceEdit (`changes` or `documentChanges` of text edits) as a vscode.WorkspaceEdit. */
export function toWorkspaceEdit(edit: LspWorkspaceEdit): vscode.WorkspaceEdit {
    const result = new vscode.WorkspaceEdit()
    for (const [uri, edits] of Object.entries(edit.changes ?? {})) {
        for (const e of edits) result.replace(vscode.Uri.parse(uri), toRange(e.range), e.newText)
    }
    for (const change of edit.documentChanges ?? []) {
        if (!change || !('edits' in change) || !Array.isArray(change.edits)) {
            throw new Error('lean-companion sent a file operation; only text edits are supported')
        }
        for (const e of change.edits) result.replace(vscode.Uri.parse(change.textDocument.uri), toRange(e.range), e.newText)
    }
    return result
}
