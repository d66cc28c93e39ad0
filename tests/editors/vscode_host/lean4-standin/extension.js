// TEST STAND-IN for vscode-lean4 (extension id leanprover.lean4). Not the real extension: it does
// only what Lean Companion relies on (see README.md), so that the companion's .vsix can be tested
// in a real VS Code workbench (code-server) where the marketplace is out of reach.
'use strict'
const fs = require('fs')
const path = require('path')
const vscode = require('vscode')
const { LanguageClient, State } = require('vscode-languageclient/node')

/** PATH for the server: `lean4.envPathExtensions` (relative entries against the folder) first. */
function serverPath(folder) {
    const extra = vscode.workspace.getConfiguration('lean4').get('envPathExtensions', []) || []
    const entries = extra.filter(e => typeof e === 'string').map(e => (path.isAbsolute(e) ? e : path.join(folder, e)))
    return [...entries, process.env.PATH || ''].join(path.delimiter)
}

/** Where a bare name resolves on `pathValue` (what Node's spawn will run), for the status item. */
function which(name, pathValue) {
    for (const dir of pathValue.split(path.delimiter)) {
        if (!dir) continue
        const candidate = path.join(dir, name)
        try {
            fs.accessSync(candidate, fs.constants.X_OK)
            return candidate
        } catch {
            // next entry
        }
    }
    return undefined
}

/** One server per project folder, like vscode-lean4's LeanClient (only the members the companion uses). */
class StandinLeanClient {
    constructor(folderUri, output, statusItem) {
        this.folderUri = folderUri
        this.output = output
        this.statusItem = statusItem
        this.client = undefined
        this.customNotificationEmitter = new vscode.EventEmitter()
        /** Fires for every non-standard server notification (vscode-lean4: a star handler). */
        this.customNotification = this.customNotificationEmitter.event
    }

    get running() {
        return this.client !== undefined && this.client.state === State.Running
    }

    isRunning() {
        return this.running
    }

    async start() {
        const folder = this.folderUri.fsPath
        const lake = ['lakefile.lean', 'lakefile.toml'].some(f => fs.existsSync(path.join(folder, f)))
        // by bare name, as vscode-lean4 does: Node resolves it on the PATH of `env`
        const command = lake ? 'lake' : 'lean'
        const serverArgs = vscode.workspace.getConfiguration('lean4').get('serverArgs', []) || []
        const args = lake ? ['serve', '--', folder, ...serverArgs] : ['--server', folder, ...serverArgs]
        const env = { ...process.env, PATH: serverPath(folder) }
        const resolved = which(command, env.PATH)
        this.output.appendLine(`starting ${command} ${args.join(' ')} (resolves to ${resolved})`)
        this.statusItem.text = `Lean server: ${resolved || command + ' (not found)'}`
        this.statusItem.show()
        const serverOptions = { command, args, options: { cwd: folder, env, shell: false } }
        const clientOptions = {
            documentSelector: [{ language: 'lean4', scheme: 'file', pattern: `${folder}/**/*` }],
            workspaceFolder: vscode.workspace.getWorkspaceFolder(this.folderUri),
            outputChannel: this.output,
            initializationOptions: { hasWidgets: true },
            connectionOptions: { maxRestartCount: 0 },
        }
        this.client = new LanguageClient('lean4', 'Lean 4 (stand-in)', serverOptions, clientOptions)
        await this.client.start()
        // every notification without a handler of its own: vscode-lean4's customNotification.
        // A function as the "type" makes vscode-jsonrpc register it as its star handler; only
        // on a running connection (before start, languageclient 9 re-registers it by name).
        const star = (method, params) => this.customNotificationEmitter.fire({ method, params })
        this.client.onNotification(star, () => undefined)
        this.output.appendLine('server running')
    }

    async stop() {
        const client = this.client
        this.client = undefined
        if (client) await client.stop().catch(error => this.output.appendLine(`stop failed: ${error}`))
    }

    async restart() {
        await this.stop()
        await this.start()
    }

    sendRequest(method, params, token) {
        if (!this.client) return Promise.reject(new Error('the Lean server is not running'))
        // an `undefined` third argument would make vscode-jsonrpc send the params as [params, null]
        return token ? this.client.sendRequest(method, params, token) : this.client.sendRequest(method, params)
    }

    sendNotification(method, params) {
        if (!this.client) return Promise.resolve()
        return this.client.sendNotification(method, params)
    }
}

/** vscode-lean4's LeanClientProvider: getClients, getActiveClient, findClient. */
class ClientProvider {
    constructor(output, statusItem) {
        this.output = output
        this.statusItem = statusItem
        this.clients = new Map()
        this.pending = new Map()
    }

    folderOf(uri) {
        const folder = vscode.workspace.getWorkspaceFolder(uri)
        return folder ? folder.uri : vscode.Uri.file(path.dirname(uri.fsPath))
    }

    async ensureClient(uri) {
        const folder = this.folderOf(uri)
        const key = folder.toString()
        if (this.clients.has(key)) return this.clients.get(key)
        if (!this.pending.has(key)) {
            const client = new StandinLeanClient(folder, this.output, this.statusItem)
            this.pending.set(key, client.start().then(() => {
                this.clients.set(key, client)
                return client
            }))
        }
        return this.pending.get(key)
    }

    findClient(uri) {
        return this.clients.get(this.folderOf(vscode.Uri.parse(uri.toString())).toString())
    }

    getClients() {
        return [...this.clients.values()]
    }

    getActiveClient() {
        const editor = vscode.window.activeTextEditor
        return editor ? this.findClient(editor.document.uri) : undefined
    }

    async dispose() {
        await Promise.all(this.getClients().map(c => c.stop()))
    }
}

let provider

function activate(context) {
    const output = vscode.window.createOutputChannel('Lean 4 (stand-in)')
    const statusItem = vscode.window.createStatusBarItem('lean4-standin.server', vscode.StatusBarAlignment.Left, 0)
    provider = new ClientProvider(output, statusItem)
    let resolveFeatures
    const lean4EnabledFeatures = new Promise(resolve => (resolveFeatures = resolve))
    const onDocument = document => {
        if (document.languageId !== 'lean4' || document.uri.scheme !== 'file') return
        provider.ensureClient(document.uri).then(
            () => resolveFeatures({ clientProvider: provider }),
            error => output.appendLine(`could not start Lean: ${error}`),
        )
    }
    context.subscriptions.push(
        output,
        statusItem,
        vscode.workspace.onDidOpenTextDocument(onDocument),
        vscode.commands.registerCommand('lean4.restartServer', async () => {
            const client = provider.getActiveClient() || provider.getClients()[0]
            if (client) await client.restart()
        }),
        { dispose: () => void provider.dispose() },
    )
    vscode.workspace.textDocuments.forEach(onDocument)
    // the exports vscode-lean4 0.0.176+ has (the companion feature-detects these)
    return { lean4EnabledFeatures, allFeatures: async () => ({ ...(await lean4EnabledFeatures) }) }
}

function deactivate() {
    return provider ? provider.dispose() : undefined
}

module.exports = { activate, deactivate }
