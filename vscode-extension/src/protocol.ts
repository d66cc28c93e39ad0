/**
 * The `$/leanCompanion/*` messages between an editor and the proxy (docs/editor-protocol.md).
 * GENERATED from copilot/features/protocol.py by
 *     python -m copilot.features.protocol --typescript > vscode-extension/src/protocol.ts
 * Do not edit: tests/editors/test_protocol.py fails when the two differ.
 * Positions and ranges are LSP's (0-based, UTF-16 columns).
 */

export const PROTOCOL_VERSION = 1

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

export interface VersionedDocument {
    uri: string
    version?: number
}

/** LSP's OptionalVersionedTextDocumentIdentifier: `version` is always sent (null: any). */
export interface EditedDocument {
    uri: string
    version: number | null
}

export interface LspTextDocumentEdit {
    textDocument: EditedDocument
    edits: LspTextEdit[]
}

export interface LspWorkspaceEdit {
    changes?: Record<string, LspTextEdit[]>
    documentChanges?: LspTextDocumentEdit[]
}

/** The fields every document request carries. */
export interface DocumentPositionParams {
    textDocument: VersionedDocument
    position: LspPosition
    requestToken?: string
}

export interface SuggestParams extends DocumentPositionParams {
    maxSuggestions?: number
    includeUnchecked?: boolean
}

export interface Suggestion {
    tactic: string
    verdict: 'closes' | 'progress' | 'unchecked'
    goalsAfter: string[]
    source: string
    score: number
    range?: LspRange
    newText?: string
}

export interface SuggestResult {
    goal: string | null
    latencyMs: number
    suggestions: Suggestion[]
}

export interface FillSorryParams extends DocumentPositionParams {
    scope?: 'position' | 'file'
    timeoutSeconds?: number
}

export interface FillStats {
    elapsedMs: number
    expansions?: number
    leanChecks?: number
}

export interface FillSorryResult {
    status: 'proved' | 'partial' | 'failed' | 'timeout' | 'cancelled' | 'noSorry'
    proof?: string
    edit?: LspWorkspaceEdit
    filled?: number
    remaining?: number
    stats?: FillStats
    message?: string
    applied?: boolean
}

export interface PremisesParams extends DocumentPositionParams {
    k?: number
}

export interface Premise {
    name: string
    signature: string
    module: string
    score: number
}

export interface PremisesResult {
    premises: Premise[]
}

/** `$/leanCompanion/status` takes `{}`. */
export interface StatusParams {
}

export interface ModelInfo {
    id: string
    role: string
    backend: string
    installed: boolean
    active: boolean
    sizeBytes?: number
    state?: string
    error?: string
}

export interface IndexInfo {
    state: string
    declarations: number
    error?: string
}

export interface LeanInfo {
    running: boolean
    restarts: number
}

/** Something the user should fix (docs/config.md): a broken configuration file, an ignored editor setting, a model that cannot be used, an unwritable folder. */
export interface ProblemInfo {
    key: string
    message: string
}

export interface StatusResult {
    version: string
    protocolVersion: number
    pid: number
    models: ModelInfo[]
    index: IndexInfo
    lastLatencyMs: number | null
    busy: boolean
    logFile: string | null
    features: string[]
    lean: LeanInfo
    problems: ProblemInfo[]
    fillSorryCommand?: string
}

/** `{settings: overlay}`: a partial configuration with the sections and keys of `.lean-companion.toml`, e.g. `{suggest: {max_candidates: 4}}`. */
export interface ConfigureParams {
    settings: Record<string, unknown>
}

export interface CancelParams {
    requestToken: string
}

export interface HelloParams {
    token: string
    client?: string
}

/** `$/leanCompanion/statusChanged` (proxy → editor) carries the `status` result. */
export type StatusChangedParams = StatusResult
