/**
 * Lean Companion for VS Code: puts `lean-companion serve` in front of Lean's server (shims in
 * `lean4.envPathExtensions`), offers the companion's commands and shows its status.
 *
 * Depends on `leanprover.lean4` (extensionDependencies): it owns the language client, the
 * setting we extend and the `lean4.restartServer` command; without it there is nothing to do.
 */
import * as path from 'path'
import * as vscode from 'vscode'
import { closeSocketChannels, findChannel, type CompanionChannel } from './channel'
import { registerCommands, type CommandHost } from './commands'
import { locateCompanion, missingCompanionMessage } from './companionPath'
import { CONSENT_KEY, registerShimDir, unregisterShimDir } from './pathSetting'
import { METHODS, type StatusResult } from './protocol'
import { classifyChange, readSettings } from './settings'
import { writeShims } from './shims'
import { StatusBar } from './statusBar'

/** How often the status is asked for when the proxy's `statusChanged` cannot reach us. */
export const STATUS_POLL_MS = 10_000
export const INSTALL_HELP =
    "Lean Companion needs the 'lean-companion' program (Python 3.10+). Install it with\n\n" +
    '    pipx install lean-companion\nor\n    uv tool install lean-companion\n\n' +
    "then run 'Developer: Reload Window'. If it is installed somewhere unusual, set 'leanCompanion.path'."

export const WINDOWS_MESSAGE =
    'Lean Companion does not support Windows yet (vscode-lean4 starts Lean without a shell, so ' +
    'the companion cannot be put in front of it). Use VS Code with WSL instead.'

/** Where the extension keeps its shims, the proxy log and the proxies' status files. */
export function storagePaths(globalStorage: string): { shimDir: string; logFile: string; runtimeDir: string } {
    return {
        shimDir: path.join(globalStorage, 'shim'),
        logFile: path.join(globalStorage, 'logs', 'proxy.log'),
        runtimeDir: path.join(globalStorage, 'proxies'),
    }
}

function isLean(document: vscode.TextDocument): boolean {
    return document.languageId === 'lean4' || document.languageId === 'lean'
}

/** The running extension: state plus the `CommandHost` the commands use. */
export class Companion implements CommandHost, vscode.Disposable {
    readonly output: vscode.OutputChannel
    private readonly paths: ReturnType<typeof storagePaths>
    private readonly statusBar: StatusBar
    private companion: string | undefined
    private pollTimer: ReturnType<typeof setInterval> | undefined
    private readonly sentSettings = new Map<string, string>()
    private missingNotified = false
    /** True between a successful start and a stop: the shims are meant to be in use. */
    private active = false
    private queue: Promise<void> = Promise.resolve()
    private readonly disposables: vscode.Disposable[] = []
    private disposed = false
    /** `statusChanged` subscriptions, one per connection (vscode-lean4 client). */
    private readonly subscriptions = new Map<object, vscode.Disposable>()
    /** The proxy serving the active editor, and whether it pushes its status to us. */
    private activePid: number | undefined
    private activeSubscribed = false

    constructor(private readonly context: vscode.ExtensionContext) {
        this.output = vscode.window.createOutputChannel('Lean Companion')
        this.paths = storagePaths(context.globalStorageUri.fsPath)
        this.statusBar = new StatusBar('leanCompanion.showLog')
        this.disposables.push(
            this.output,
            this.statusBar,
            ...registerCommands(this),
            vscode.workspace.onDidChangeConfiguration(event => void this.onConfigurationChanged(event)),
            vscode.window.onDidChangeActiveTextEditor(() => {
                if (this.pollTimer) void this.pollStatus()
            }),
        )
    }

    private log(message: string): void {
        this.output.appendLine(`[${new Date().toISOString()}] ${message}`)
    }

    private get enabled(): boolean {
        return vscode.workspace.getConfiguration('leanCompanion').get<boolean>('enabled', true) !== false
    }

    companionPath(): string | undefined {
        return this.companion
    }

    defaultLogFile(): string {
        return this.paths.logFile
    }

    channelFor(uri: vscode.Uri): Promise<CompanionChannel | undefined> {
        return findChannel(uri, this.paths.runtimeDir)
    }

    /**
     * Find lean-companion, write the shims, register them, restart Lean if that changed
     * anything. Starts and stops run one after the other, never interleaved.
     */
    start(): Promise<void> {
        return this.serialized(() => this.startNow())
    }

    private serialized(step: () => Promise<void>): Promise<void> {
        const next = this.queue.then(step, step)
        this.queue = next.catch(() => undefined)
        return next
    }

    private async startNow(): Promise<void> {
        if (!this.enabled) {
            this.log('disabled (leanCompanion.enabled is false)')
            return
        }
        if (process.platform === 'win32') {
            // vscode-lean4 spawns `lake` without a shell, which never runs our .cmd shims; an
            // .exe launcher would be needed (docs/editors.md). Say so once and change nothing.
            if (!this.missingNotified) {
                this.missingNotified = true
                void vscode.window.showWarningMessage(WINDOWS_MESSAGE)
            }
            return
        }
        const located = locateCompanion({
            configured: vscode.workspace.getConfiguration('leanCompanion').get<string>('path', '') ?? '',
            envPath: process.env.PATH ?? '',
        })
        if (located.kind === 'missing') {
            this.companion = undefined
            this.log(`lean-companion not found; searched ${located.searched.join(', ')}`)
            this.notifyMissing(missingCompanionMessage(located))
            return
        }
        this.companion = located.path
        this.active = true
        this.log(`using ${located.path}`)
        const written = await writeShims({
            shimDir: this.paths.shimDir,
            companion: located.path,
            logFile: this.paths.logFile,
            runtimeDir: this.paths.runtimeDir,
        })
        await vscode.workspace.fs.createDirectory(vscode.Uri.file(path.dirname(this.paths.logFile)))
        const outcome = await registerShimDir(this.paths.shimDir, this.context.globalState)
        this.log(`shims in ${this.paths.shimDir} (${written.length} rewritten); lean4.envPathExtensions: ${outcome}`)
        if (outcome === 'added' || (outcome === 'present' && written.length > 0)) await this.restartLean()
        this.startPolling()
    }

    private notifyMissing(message: string): void {
        if (this.missingNotified) return
        this.missingNotified = true
        const how = 'How to install'
        const setPath = "Set 'leanCompanion.path'"
        void vscode.window.showWarningMessage(message, how, setPath).then(answer => {
            if (answer === how) void vscode.window.showInformationMessage(INSTALL_HELP, { modal: true })
            else if (answer === setPath) void vscode.commands.executeCommand('workbench.action.openSettings', 'leanCompanion.path')
        })
    }

    private async restartLean(): Promise<void> {
        if (!vscode.window.visibleTextEditors.some(e => isLean(e.document))) return
        try {
            await vscode.commands.executeCommand('lean4.restartServer')
            this.log('asked vscode-lean4 to restart the server')
        } catch (error) {
            this.log(`lean4.restartServer failed: ${String(error)}`)
        }
    }

    async setEnabled(enabled: boolean): Promise<void> {
        if (enabled) {
            await this.context.globalState.update(CONSENT_KEY, undefined)
            await vscode.workspace.getConfiguration('leanCompanion').update('enabled', true, vscode.ConfigurationTarget.Global)
            this.missingNotified = false
            await this.start()
        } else {
            await vscode.workspace.getConfiguration('leanCompanion').update('enabled', false, vscode.ConfigurationTarget.Global)
            await this.stop()
        }
    }

    /** Take the shims out of Lean's PATH and restart Lean without the companion. */
    private stop(): Promise<void> {
        return this.serialized(() => this.stopNow())
    }

    private async stopNow(): Promise<void> {
        this.active = false
        this.stopPolling()
        this.statusBar.hide()
        const removed = await unregisterShimDir(this.paths.shimDir)
        this.log(`disabled; shim folder ${removed ? 'removed from' : 'was not in'} lean4.envPathExtensions`)
        if (removed) await this.restartLean()
    }

    private async onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
        const change = classifyChange(section => event.affectsConfiguration(section))
        try {
            if (event.affectsConfiguration('leanCompanion.enabled')) {
                // Our own Enable/Disable commands already did the work.
                if (this.enabled && !this.active) await this.start()
                else if (!this.enabled && this.active) await this.stop()
                return
            }
            if (change.restart) {
                if (this.enabled) await this.start()
                return
            }
            if (change.notify) await this.sendSettings(true)
            if (change.local) await this.pollStatus()
        } catch (error) {
            this.log(`applying a settings change failed: ${String(error)}`)
        }
    }

    /** Send `$/leanCompanion/configure` to the proxy of the active Lean file. */
    async sendSettings(force: boolean, channel?: CompanionChannel, proxyKey = 'active'): Promise<void> {
        const editor = vscode.window.activeTextEditor
        if (!channel) {
            if (!editor || !isLean(editor.document)) return
            channel = await this.channelFor(editor.document.uri)
            if (!channel) return
        }
        const { overlay, problems } = readSettings(vscode.workspace.getConfiguration('leanCompanion'))
        const text = JSON.stringify(overlay)
        if (!force && this.sentSettings.get(proxyKey) === text) return
        for (const problem of problems) this.log(`ignored setting ${problem}`)
        if (force && problems.length > 0) {
            void vscode.window.showWarningMessage(`Lean Companion: ignored ${problems.join('; ')}`)
        }
        await channel.notify(METHODS.configure, { settings: overlay })
        this.sentSettings.set(proxyKey, text)
        this.log(`sent settings to the proxy (${channel.kind}): ${text}`)
    }

    statusChanged(status: StatusResult | undefined, reason = 'no proxy for this file'): void {
        if (!vscode.workspace.getConfiguration('leanCompanion').get<boolean>('statusBar.enabled', true)) {
            this.statusBar.hide()
            return
        }
        this.statusBar.show(status, status ? undefined : reason)
    }

    /** Ask the active file's proxy for its status; the first answer from a proxy also gets the settings. */
    async pollStatus(): Promise<void> {
        const editor = vscode.window.activeTextEditor
        if (!editor || !isLean(editor.document) || !this.enabled || !this.companion) return
        const channel = await this.channelFor(editor.document.uri)
        if (!channel) {
            this.activeSubscribed = false
            this.statusChanged(undefined)
            return
        }
        try {
            // subscribe first: the proxy starts sending statusChanged once it answered status
            this.activeSubscribed = this.subscribe(channel)
            const status = await channel.request<StatusResult>(METHODS.status, {})
            this.activePid = status.pid
            this.statusChanged(status)
            await this.sendSettings(false, channel, String(status.pid ?? channel.kind))
        } catch (error) {
            this.activePid = undefined
            const code = (error as { code?: unknown })?.code
            this.statusChanged(undefined, code === -32601 ? 'Lean runs without the companion' : String((error as Error)?.message ?? error))
        }
    }

    /** Listen for `$/leanCompanion/statusChanged` on `channel`'s connection; true if it can. */
    private subscribe(channel: CompanionChannel): boolean {
        const target = channel.target
        if (!target || typeof channel.subscribe !== 'function') return false
        if (this.subscriptions.has(target)) return true
        const subscription = channel.subscribe(METHODS.statusChanged, params => this.onStatusChanged(params))
        if (!subscription) return false
        this.subscriptions.set(target, subscription)
        return true
    }

    private onStatusChanged(params: unknown): void {
        const status = params as StatusResult | undefined
        if (!this.active || !status || typeof status !== 'object' || !Array.isArray(status.models)) return
        // another project's proxy: the status bar shows the active editor's
        if (this.activePid !== undefined && status.pid !== this.activePid) return
        this.statusChanged(status)
    }

    private startPolling(): void {
        if (this.pollTimer) return
        void this.pollStatus()
        // a fallback: a proxy reached through vscode-lean4's client pushes statusChanged instead
        this.pollTimer = setInterval(() => {
            if (!this.activeSubscribed) void this.pollStatus()
        }, STATUS_POLL_MS)
    }

    private stopPolling(): void {
        if (this.pollTimer) clearInterval(this.pollTimer)
        this.pollTimer = undefined
    }

    /** Release everything once (VS Code disposes `context.subscriptions` after `deactivate`). */
    dispose(): void {
        if (this.disposed) return
        this.disposed = true
        this.active = false
        this.stopPolling()
        closeSocketChannels()
        for (const d of this.subscriptions.values()) d.dispose()
        this.subscriptions.clear()
        for (const d of this.disposables) d.dispose()
    }
}

let current: Companion | undefined

export async function activate(context: vscode.ExtensionContext): Promise<Companion> {
    current = new Companion(context)
    context.subscriptions.push(current)
    try {
        await current.start()
    } catch (error) {
        // Never take the editor down with us: report, and leave Lean as it is.
        current.output.appendLine(`start failed: ${String((error as Error)?.stack ?? error)}`)
        void vscode.window.showErrorMessage(`Lean Companion could not start: ${String((error as Error)?.message ?? error)}`)
    }
    return current
}

export function deactivate(): void {
    // Also in context.subscriptions, which VS Code disposes next; dispose() runs once.
    current?.dispose()
    current = undefined
}
