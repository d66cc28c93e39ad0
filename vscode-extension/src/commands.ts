/** The palette commands, each a small function over a `CommandHost`. */
import { existsSync } from 'fs'
import * as vscode from 'vscode'
import { ChannelError, type CompanionChannel } from './channel'
import { fromPosition, toRange, toWorkspaceEdit } from './edits'
import {
    METHODS,
    type FillSorryParams,
    type FillSorryResult,
    type PremisesResult,
    type StatusResult,
    type SuggestResult,
} from './protocol'

export const COMMANDS = {
    suggestTactics: 'leanCompanion.suggestTactics',
    fillSorry: 'leanCompanion.fillSorry',
    fillAllSorries: 'leanCompanion.fillAllSorries',
    showPremises: 'leanCompanion.showPremises',
    pullModel: 'leanCompanion.pullModel',
    showLog: 'leanCompanion.showLog',
    disable: 'leanCompanion.disable',
    enable: 'leanCompanion.enable',
} as const

/** What the commands need from the extension. */
export interface CommandHost {
    channelFor(uri: vscode.Uri): Promise<CompanionChannel | undefined>
    companionPath(): string | undefined
    /** The log file the shims pass to `lean-companion serve --log-file`. */
    defaultLogFile(): string
    output: vscode.OutputChannel
    setEnabled(enabled: boolean): Promise<void>
    statusChanged(status: StatusResult | undefined, reason?: string): void
}

export const UNREACHABLE_MESSAGE =
    "Lean Companion is not reachable for this file: Lean's server is not running through the companion " +
    "yet. Run 'Lean 4: Restart Server', or see 'Lean Companion: Show companion log'."

let tokenCounter = 0
function requestToken(): string {
    tokenCounter += 1
    return `vscode-${process.pid}-${tokenCounter}`
}

function leanEditor(): vscode.TextEditor | undefined {
    const editor = vscode.window.activeTextEditor
    if (!editor || (editor.document.languageId !== 'lean4' && editor.document.languageId !== 'lean')) {
        void vscode.window.showWarningMessage('Lean Companion: open a Lean file and place the cursor first.')
        return undefined
    }
    return editor
}

/** Report a failed request the way a user can act on. */
export function describeError(error: unknown): string {
    if (error instanceof ChannelError && error.code === -32601) {
        return "Lean Companion: Lean's server answered 'method not found', so it runs without the companion. Run 'Lean 4: Restart Server'."
    }
    const message = error instanceof Error ? error.message : String(error)
    return `Lean Companion: ${message}`
}

async function withChannel<T>(
    host: CommandHost,
    editor: vscode.TextEditor,
    title: string,
    run: (channel: CompanionChannel, token: string) => Promise<T>,
): Promise<T | undefined> {
    const channel = await host.channelFor(editor.document.uri)
    if (!channel) {
        void vscode.window.showWarningMessage(UNREACHABLE_MESSAGE)
        return undefined
    }
    const token = requestToken()
    try {
        return await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Notification, title, cancellable: true },
            async (_progress, cancellation) => {
                const subscription = cancellation.onCancellationRequested(() => {
                    void channel.notify(METHODS.cancel, { requestToken: token }).catch(() => undefined)
                })
                try {
                    return await run(channel, token)
                } finally {
                    subscription.dispose()
                }
            },
        )
    } catch (error) {
        host.output.appendLine(`[${new Date().toISOString()}] ${title} failed: ${String((error as Error)?.message ?? error)}`)
        void vscode.window.showErrorMessage(describeError(error))
        return undefined
    }
}

async function refreshStatus(host: CommandHost, channel: CompanionChannel): Promise<void> {
    try {
        host.statusChanged(await channel.request<StatusResult>(METHODS.status, {}))
    } catch {
        // the status bar keeps its last value
    }
}

const VERDICT_LABEL: Record<string, string> = {
    closes: '$(pass-filled) closes the goal',
    progress: '$(arrow-right) makes progress',
    unchecked: '$(warning) not checked by Lean',
}

/** Suggest tactics at the cursor and insert the one picked. */
export async function suggestTactics(host: CommandHost): Promise<void> {
    const editor = leanEditor()
    if (!editor) return
    const document = editor.document
    const version = document.version
    const position = editor.selection.active
    const result = await withChannel(host, editor, 'Lean Companion: suggesting tactics…', (channel, token) =>
        channel.request<SuggestResult>(METHODS.suggest, {
            textDocument: { uri: document.uri.toString(), version },
            position: fromPosition(position),
            requestToken: token,
        }).finally(() => refreshStatus(host, channel)),
    )
    if (!result) return
    if (result.suggestions.length === 0) {
        void vscode.window.showInformationMessage(
            result.goal ? 'Lean Companion: no suggestion for this goal.' : 'Lean Companion: there is no goal at the cursor.',
        )
        return
    }
    const items = result.suggestions.map(s => ({
        label: s.tactic,
        description: `${VERDICT_LABEL[s.verdict] ?? s.verdict} · ${s.source}`,
        detail: s.verdict === 'closes' ? 'no goals left' : s.goalsAfter.join('\n') || undefined,
        suggestion: s,
    }))
    const picked = await vscode.window.showQuickPick(items, { placeHolder: `Goal: ${result.goal ?? '?'}  (${result.latencyMs} ms)` })
    if (!picked) return
    if (document.version !== version) {
        void vscode.window.showWarningMessage('Lean Companion: the file changed while suggesting; ask again.')
        return
    }
    const range = picked.suggestion.range ? toRange(picked.suggestion.range) : new vscode.Range(position, position)
    await editor.edit(builder => builder.replace(range, picked.suggestion.newText ?? picked.suggestion.tactic))
}

async function fill(host: CommandHost, scope: 'position' | 'file'): Promise<void> {
    const editor = leanEditor()
    if (!editor) return
    const document = editor.document
    const version = document.version
    if (scope === 'file' && vscode.workspace.getConfiguration('leanCompanion').get<boolean>('safety.confirmFillAll', true)) {
        const go = 'Fill all'
        const answer = await vscode.window.showWarningMessage(
            `Lean Companion: search proofs for every sorry in ${vscode.workspace.asRelativePath(document.uri)} and replace those Lean accepts?`,
            { modal: true },
            go,
        )
        if (answer !== go) return
    }
    const params: FillSorryParams = {
        textDocument: { uri: document.uri.toString(), version },
        position: fromPosition(editor.selection.active),
        scope,
    }
    const title = scope === 'file' ? 'Lean Companion: filling every sorry in the file…' : 'Lean Companion: searching a proof for this sorry…'
    const result = await withChannel(host, editor, title, (channel, token) =>
        channel.request<FillSorryResult>(METHODS.fillSorry, { ...params, requestToken: token }).finally(() => refreshStatus(host, channel)),
    )
    if (!result) return
    const seconds = ((result.stats?.elapsedMs ?? 0) / 1000).toFixed(1)
    if ((result.status === 'proved' || result.status === 'partial') && result.edit) {
        if (document.version !== version) {
            void vscode.window.showWarningMessage('Lean Companion: the file changed during the search; the proof was not inserted. Run it again.')
            return
        }
        const applied = await vscode.workspace.applyEdit(toWorkspaceEdit(result.edit))
        if (!applied) {
            void vscode.window.showErrorMessage('Lean Companion: VS Code refused the edit.')
            return
        }
        const what = scope === 'file' ? `filled ${result.filled ?? '?'} sorries, ${result.remaining ?? 0} left` : 'sorry filled'
        void vscode.window.showInformationMessage(`Lean Companion: ${what} (checked by Lean, ${seconds} s).`)
        return
    }
    const reasons: Record<string, string> = {
        failed: 'no proof found',
        timeout: 'no proof found within the time budget',
        cancelled: 'cancelled',
        noSorry: scope === 'file' ? 'there is no sorry in this file' : 'there is no sorry at the cursor',
    }
    void vscode.window.showInformationMessage(`Lean Companion: ${reasons[result.status] ?? result.status} (${seconds} s).`)
}

/** Fill the sorry at the cursor with a Lean-checked proof. */
export function fillSorry(host: CommandHost): Promise<void> {
    return fill(host, 'position')
}

/** Fill every sorry of the file with Lean-checked proofs. */
export function fillAllSorries(host: CommandHost): Promise<void> {
    return fill(host, 'file')
}

/** List premises relevant to the goal at the cursor; the one picked is inserted by name. */
export async function showPremises(host: CommandHost): Promise<void> {
    const editor = leanEditor()
    if (!editor) return
    const document = editor.document
    const position = editor.selection.active
    const result = await withChannel(host, editor, 'Lean Companion: finding premises…', (channel, token) =>
        channel.request<PremisesResult>(METHODS.premises, {
            textDocument: { uri: document.uri.toString(), version: document.version },
            position: fromPosition(position),
            k: 20,
            requestToken: token,
        }),
    )
    if (!result) return
    if (result.premises.length === 0) {
        void vscode.window.showInformationMessage('Lean Companion: no premises found (is the index built? see the status bar).')
        return
    }
    const picked = await vscode.window.showQuickPick(
        result.premises.map(p => ({ label: p.name, description: p.module, detail: p.signature, premise: p })),
        { placeHolder: 'Premises for the goal at the cursor (pick one to insert its name)', matchOnDetail: true },
    )
    if (!picked) return
    await editor.edit(builder => builder.insert(editor.selection.active, picked.premise.name))
}

/** Download a model with `lean-companion models pull <id>` in a terminal. */
export async function pullModel(host: CommandHost): Promise<void> {
    const companion = host.companionPath()
    if (!companion) {
        void vscode.window.showWarningMessage("Lean Companion: 'lean-companion' is not installed.")
        return
    }
    let models: StatusResult['models'] = []
    const editor = vscode.window.activeTextEditor
    if (editor) {
        const channel = await host.channelFor(editor.document.uri)
        if (channel) {
            try {
                models = (await channel.request<StatusResult>(METHODS.status, {})).models
            } catch {
                models = []
            }
        }
    }
    let id: string | undefined
    if (models.length > 0) {
        const picked = await vscode.window.showQuickPick(
            models.map(m => ({
                label: m.id,
                description: `${m.role} · ${m.backend}${m.installed ? ' · installed' : ''}`,
                detail: m.sizeBytes ? `${(m.sizeBytes / 1e6).toFixed(0)} MB` : undefined,
            })),
            { placeHolder: 'Model to download' },
        )
        id = picked?.label
    } else {
        id = await vscode.window.showInputBox({
            prompt: "Model id to download (see 'lean-companion models list')",
            validateInput: v => (/^[\w.:/@+-]+$/.test(v.trim()) ? undefined : 'a model id has no spaces'),
        })
    }
    id = id?.trim()
    if (!id) return
    const terminal = vscode.window.createTerminal({ name: `Lean Companion: pull ${id}`, shellPath: companion, shellArgs: ['models', 'pull', id] })
    terminal.show()
}

/** Open the proxy's log file (and the extension's output channel). */
export async function showLog(host: CommandHost): Promise<void> {
    host.output.show(true)
    let logFile = host.defaultLogFile()
    const editor = vscode.window.activeTextEditor
    if (editor) {
        const channel = await host.channelFor(editor.document.uri)
        if (channel) {
            try {
                logFile = (await channel.request<StatusResult>(METHODS.status, {})).logFile ?? logFile
            } catch {
                // keep the default log file
            }
        }
    }
    if (!existsSync(logFile)) {
        void vscode.window.showInformationMessage(`Lean Companion: no proxy log yet at ${logFile}.`)
        return
    }
    await vscode.window.showTextDocument(vscode.Uri.file(logFile), { preview: true })
}

/** Register every command; returns the disposables. */
export function registerCommands(host: CommandHost): vscode.Disposable[] {
    const table: Array<[string, () => Promise<void>]> = [
        [COMMANDS.suggestTactics, () => suggestTactics(host)],
        [COMMANDS.fillSorry, () => fillSorry(host)],
        [COMMANDS.fillAllSorries, () => fillAllSorries(host)],
        [COMMANDS.showPremises, () => showPremises(host)],
        [COMMANDS.pullModel, () => pullModel(host)],
        [COMMANDS.showLog, () => showLog(host)],
        [COMMANDS.disable, () => host.setEnabled(false)],
        [COMMANDS.enable, () => host.setEnabled(true)],
    ]
    return table.map(([name, run]) => vscode.commands.registerCommand(name, run))
}
