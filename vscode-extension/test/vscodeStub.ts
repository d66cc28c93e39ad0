/**
 * A small in-memory stand-in for the `vscode` module, enough for the extension's code paths.
 * Tests script the user's answers (`state.answers`) and read back what the extension did
 * (`state.messages`, `state.executed`, settings in `state.settings`, terminals, edits).
 */
import { promises as fs } from 'fs'
import * as nodePath from 'path'

export class Disposable {
    constructor(private readonly fn: () => void = () => undefined) {}
    dispose(): void {
        this.fn()
    }
}

export class EventEmitter<T> {
    private listeners: Array<(e: T) => void> = []
    event = (listener: (e: T) => void): Disposable => {
        this.listeners.push(listener)
        return new Disposable(() => {
            this.listeners = this.listeners.filter(l => l !== listener)
        })
    }
    fire(e: T): void {
        for (const l of [...this.listeners]) l(e)
    }
    dispose(): void {
        this.listeners = []
    }
}

export class Uri {
    private constructor(
        readonly scheme: string,
        readonly fsPath: string,
        private readonly raw: string,
    ) {}
    static file(p: string): Uri {
        return new Uri('file', nodePath.resolve(p), 'file://' + nodePath.resolve(p))
    }
    static parse(s: string): Uri {
        if (s.startsWith('file://')) return new Uri('file', decodeURIComponent(s.slice(7)), s)
        const scheme = s.split(':')[0]
        return new Uri(scheme, '', s)
    }
    toString(): string {
        return this.raw
    }
}

export class Position {
    constructor(
        readonly line: number,
        readonly character: number,
    ) {}
}

export class Range {
    constructor(
        readonly start: Position,
        readonly end: Position,
    ) {}
}

export class Selection extends Range {
    get active(): Position {
        return this.end
    }
}

export class WorkspaceEdit {
    readonly entries: Array<{ uri: Uri; range: Range; newText: string }> = []
    replace(uri: Uri, range: Range, newText: string): void {
        this.entries.push({ uri, range, newText })
    }
    insert(uri: Uri, position: Position, newText: string): void {
        this.entries.push({ uri, range: new Range(position, position), newText })
    }
}

export enum ConfigurationTarget {
    Global = 1,
    Workspace = 2,
    WorkspaceFolder = 3,
}
export enum StatusBarAlignment {
    Left = 1,
    Right = 2,
}
export enum ProgressLocation {
    SourceControl = 1,
    Window = 10,
    Notification = 15,
}

/** A text document whose edits are applied to `text` and bump `version`. */
export class FakeDocument {
    version = 1
    constructor(
        readonly uri: Uri,
        public text: string,
        readonly languageId = 'lean4',
    ) {}
    getText(): string {
        return this.text
    }
    offsetAt(p: Position): number {
        const lines = this.text.split('\n')
        let offset = 0
        for (let i = 0; i < p.line; i++) offset += lines[i].length + 1
        return offset + p.character
    }
    applyEdits(edits: Array<{ range: Range; newText: string }>): void {
        const sorted = [...edits].sort((a, b) => this.offsetAt(b.range.start) - this.offsetAt(a.range.start))
        for (const e of sorted) {
            this.text = this.text.slice(0, this.offsetAt(e.range.start)) + e.newText + this.text.slice(this.offsetAt(e.range.end))
        }
        this.version += 1
    }
}

export class FakeEditor {
    selection: Selection
    constructor(
        readonly document: FakeDocument,
        cursor: Position = new Position(0, 0),
    ) {
        this.selection = new Selection(cursor, cursor)
    }
    async edit(callback: (builder: { replace(r: Range, t: string): void; insert(p: Position, t: string): void }) => void): Promise<boolean> {
        const edits: Array<{ range: Range; newText: string }> = []
        callback({
            replace: (range, newText) => edits.push({ range, newText }),
            insert: (p, newText) => edits.push({ range: new Range(p, p), newText }),
        })
        this.document.applyEdits(edits)
        return true
    }
}

type Scope = 'global' | 'workspace'
type Answer = string | undefined | ((message: string, items: unknown[]) => unknown)

/** Everything the stub records or lets a test script. */
export const state = {
    settings: { global: new Map<string, unknown>(), workspace: new Map<string, unknown>() } as Record<Scope, Map<string, unknown>>,
    defaults: new Map<string, unknown>(),
    messages: [] as Array<{ level: 'info' | 'warning' | 'error'; text: string; items: string[] }>,
    /** Answers for show*Message / showQuickPick / showInputBox, consumed in order. */
    answers: [] as Answer[],
    executed: [] as Array<{ command: string; args: unknown[] }>,
    registered: new Map<string, (...args: unknown[]) => unknown>(),
    terminals: [] as Array<{ name?: string; shellPath?: string; shellArgs?: string[] }>,
    shownDocuments: [] as Uri[],
    quickPicks: [] as Array<{ items: unknown[]; options: unknown }>,
    output: [] as string[],
    statusBarItems: [] as Array<{ text: string; tooltip: string; visible: boolean; command?: string }>,
    documents: new Map<string, FakeDocument>(),
    activeTextEditor: undefined as FakeEditor | undefined,
    workspaceFolders: [] as Array<{ uri: Uri; name: string; index: number }>,
    extensions: new Map<string, unknown>(),
    configChanged: new EventEmitter<{ affectsConfiguration(section: string): boolean }>(),
    activeEditorChanged: new EventEmitter<unknown>(),
    cancelNextProgress: false,
}

/** Put the stub back to a blank VS Code. */
export function reset(): void {
    state.settings.global.clear()
    state.settings.workspace.clear()
    state.messages = []
    state.answers = []
    state.executed = []
    state.registered.clear()
    state.terminals = []
    state.shownDocuments = []
    state.quickPicks = []
    state.output = []
    state.statusBarItems = []
    state.documents.clear()
    state.activeTextEditor = undefined
    state.workspaceFolders = []
    state.extensions.clear()
    state.configChanged = new EventEmitter()
    state.activeEditorChanged = new EventEmitter()
    state.cancelNextProgress = false
}

/** Open `text` as the active Lean editor with the cursor at (line, character). */
export function openEditor(file: string, text: string, line = 0, character = 0, languageId = 'lean4'): FakeEditor {
    const doc = new FakeDocument(Uri.file(file), text, languageId)
    state.documents.set(doc.uri.toString(), doc)
    const editor = new FakeEditor(doc, new Position(line, character))
    state.activeTextEditor = editor
    return editor
}

function nextAnswer(message: string, items: unknown[]): unknown {
    const answer = state.answers.shift()
    return typeof answer === 'function' ? answer(message, items) : answer
}

function effective(key: string): unknown {
    if (state.settings.workspace.has(key)) return state.settings.workspace.get(key)
    if (state.settings.global.has(key)) return state.settings.global.get(key)
    return state.defaults.get(key)
}

function messageItems(items: unknown[]): string[] {
    return items.filter(i => typeof i === 'string') as string[]
}

export const workspace = {
    get workspaceFolders() {
        return state.workspaceFolders.length ? state.workspaceFolders : undefined
    },
    getConfiguration(section: string) {
        const full = (key: string) => `${section}.${key}`
        return {
            get<T>(key: string, defaultValue?: T): T | undefined {
                const v = effective(full(key))
                return (v === undefined ? defaultValue : v) as T
            },
            inspect<T>(key: string) {
                return {
                    key: full(key),
                    defaultValue: state.defaults.get(full(key)) as T | undefined,
                    globalValue: state.settings.global.get(full(key)) as T | undefined,
                    workspaceValue: state.settings.workspace.get(full(key)) as T | undefined,
                }
            },
            async update(key: string, value: unknown, target: ConfigurationTarget | boolean = ConfigurationTarget.Workspace): Promise<void> {
                const scope: Scope = target === ConfigurationTarget.Global || target === true ? 'global' : 'workspace'
                if (value === undefined) state.settings[scope].delete(full(key))
                else state.settings[scope].set(full(key), value)
                const changed = full(key)
                state.configChanged.fire({ affectsConfiguration: (s: string) => changed === s || changed.startsWith(s + '.') })
            },
        }
    },
    onDidChangeConfiguration(listener: (e: { affectsConfiguration(section: string): boolean }) => void) {
        return state.configChanged.event(listener)
    },
    async applyEdit(edit: WorkspaceEdit): Promise<boolean> {
        const byDoc = new Map<string, Array<{ range: Range; newText: string }>>()
        for (const e of edit.entries) {
            const key = e.uri.toString()
            if (!state.documents.has(key)) return false
            byDoc.set(key, [...(byDoc.get(key) ?? []), e])
        }
        for (const [key, edits] of byDoc) state.documents.get(key)?.applyEdits(edits)
        return true
    },
    asRelativePath(uri: Uri): string {
        return nodePath.basename(uri.fsPath)
    },
    fs: {
        async createDirectory(uri: Uri): Promise<void> {
            await fs.mkdir(uri.fsPath, { recursive: true })
        },
    },
}

function makeStatusBarItem() {
    const item = {
        text: '',
        tooltip: '',
        command: undefined as string | undefined,
        visible: false,
        show() {
            item.visible = true
        },
        hide() {
            item.visible = false
        },
        dispose() {
            item.visible = false
        },
    }
    state.statusBarItems.push(item)
    return item
}

export const window = {
    get activeTextEditor() {
        return state.activeTextEditor
    },
    get visibleTextEditors() {
        return state.activeTextEditor ? [state.activeTextEditor] : []
    },
    onDidChangeActiveTextEditor(listener: (e: unknown) => void) {
        return state.activeEditorChanged.event(listener)
    },
    createOutputChannel(_name: string) {
        return {
            appendLine: (line: string) => state.output.push(line),
            append: (text: string) => state.output.push(text),
            show: () => undefined,
            dispose: () => undefined,
        }
    },
    createStatusBarItem: (_alignment?: StatusBarAlignment, _priority?: number) => makeStatusBarItem(),
    async showInformationMessage(text: string, ...items: unknown[]) {
        state.messages.push({ level: 'info', text, items: messageItems(items) })
        return nextAnswer(text, items)
    },
    async showWarningMessage(text: string, ...items: unknown[]) {
        state.messages.push({ level: 'warning', text, items: messageItems(items) })
        return nextAnswer(text, items)
    },
    async showErrorMessage(text: string, ...items: unknown[]) {
        state.messages.push({ level: 'error', text, items: messageItems(items) })
        return nextAnswer(text, items)
    },
    async showQuickPick(items: unknown[], options?: unknown) {
        state.quickPicks.push({ items, options })
        return nextAnswer('quickPick', items)
    },
    async showInputBox(options?: unknown) {
        return nextAnswer('inputBox', [options])
    },
    async withProgress<T>(_options: unknown, task: (progress: unknown, token: unknown) => Promise<T>): Promise<T> {
        const cancel = new EventEmitter<void>()
        const token = { isCancellationRequested: false, onCancellationRequested: cancel.event }
        const promise = task({ report: () => undefined }, token)
        if (state.cancelNextProgress) {
            state.cancelNextProgress = false
            token.isCancellationRequested = true
            setImmediate(() => cancel.fire())
        }
        return promise
    },
    createTerminal(options: { name?: string; shellPath?: string; shellArgs?: string[] }) {
        state.terminals.push(options)
        return { show: () => undefined, dispose: () => undefined }
    },
    async showTextDocument(uri: Uri) {
        state.shownDocuments.push(uri)
        return undefined
    },
}

export const commands = {
    registerCommand(name: string, fn: (...args: unknown[]) => unknown) {
        if (state.registered.has(name)) throw new Error(`command '${name}' already exists`)
        state.registered.set(name, fn)
        return new Disposable(() => state.registered.delete(name))
    },
    async executeCommand(name: string, ...args: unknown[]) {
        state.executed.push({ command: name, args })
        const fn = state.registered.get(name)
        return fn ? fn(...args) : undefined
    },
}

export const extensions = {
    getExtension(id: string) {
        return state.extensions.get(id)
    },
}
