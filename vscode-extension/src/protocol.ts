/**
 * The `$/leanCompanion/*` messages between an editor and the proxy, as specified in
 * docs/editor-protocol.md. Positions and ranges are LSP's (0-based, UTF-16 columns).
 */

export const METHODS = {
    suggest: '$/leanCompanion/suggest',
    fillSorry: '$/leanCompanion/fillSorry',
    premises: '$/leanCompanion/premises',
    status: '$/leanCompanion/status',
    configure: '$/leanCompanion/configure',
    cancel: '$/leanCompanion/cancel',
    hello: '$/leanCompanion/hello',
    statusChanged: '$/leanCompanion/statusChanged',
} as const

export interface LspPosition {
    line: number
    character: number
}
export interface LspRange {
    start: LspPosition
    end: LspPosition
}
export interface LspTextEdit {
    range: LspRange
    newText: string
}
export interface LspTextDocumentEdit {
    textDocument: { uri: string; version?: number | null }
    edits: LspTextEdit[]
}
export interface LspWorkspaceEdit {
    changes?: Record<string, LspTextEdit[]>
    documentChanges?: LspTextDocumentEdit[]
}

export interface DocumentPositionParams {
    textDocument: { uri: string; version?: number }
    position: LspPosition
    /** Client-chosen id; `$/leanCompanion/cancel {requestToken}` cancels the request. */
    requestToken?: string
}

export type SuggestParams = DocumentPositionParams & { maxSuggestions?: number; includeUnchecked?: boolean }

export interface Suggestion {
    tactic: string
    verdict: 'closes' | 'progress' | 'unchecked'
    goalsAfter: string[]
    source: string
    score: number
    /** Range the tactic replaces; absent: insert at the request position. */
    range?: LspRange
    /** The exact text to put at `range` (or the position), indented for where it goes; preferred over `tactic`. */
    newText?: string
}

export interface SuggestResult {
    suggestions: Suggestion[]
    goal: string | null
    latencyMs: number
}

export type FillSorryParams = DocumentPositionParams & {
    /** `position`: the sorry at (or nearest after) `position`; `file`: every sorry in the document. */
    scope?: 'position' | 'file'
    timeoutSeconds?: number
}

export interface FillSorryResult {
    status: 'proved' | 'partial' | 'failed' | 'timeout' | 'cancelled' | 'noSorry'
    proof?: string
    edit?: LspWorkspaceEdit
    filled?: number
    remaining?: number
    stats: { elapsedMs: number; expansions?: number; leanChecks?: number }
}

export type PremisesParams = DocumentPositionParams & { k?: number }

export interface Premise {
    name: string
    signature: string
    module: string
    score: number
}

export interface PremisesResult {
    premises: Premise[]
}

export interface ModelInfo {
    id: string
    role: 'tactic' | 'encoder' | string
    backend: string
    installed: boolean
    active: boolean
    sizeBytes?: number
}

export interface StatusResult {
    version: string
    protocolVersion?: number
    models: ModelInfo[]
    index: { state: 'absent' | 'building' | 'ready' | 'stale' | 'error' | string; declarations: number }
    lastLatencyMs: number | null
    busy?: boolean
    logFile?: string
    pid?: number
    features?: string[]
    lean?: { running: boolean; restarts: number }
}

/**
 * Body of `$/leanCompanion/configure`: `{settings: overlay}`, a partial configuration with the
 * sections and keys of `.lean-companion.toml`, e.g. `{suggest: {max_candidates: 4}}`.
 */
export type ConfigureParams = { settings: Record<string, Record<string, unknown>> }
