/** Fakes for the extension tests: a vscode-lean4 client, an extension context, a companion. */
import * as path from 'node:path'
import * as vscode from './vscodeStub'
import { packageDefaults, tempDir, writeExecutable } from './setup'

export interface FakeLeanClient {
    requests: Array<{ method: string; params: any }>
    notifications: Array<{ method: string; params: any }>
    handler: (method: string, params: any) => unknown
    client: Record<string, unknown>
    /** Listeners on the client's `customNotification` event (vscode-lean4). */
    listeners: Array<(notification: { method: string; params: unknown }) => void>
    /** Deliver a server notification as vscode-lean4's star handler does. */
    fire(method: string, params: unknown): void
}

export interface FakeLean4Options {
    /** Give the client vscode-lean4's `customNotification` event (default true). */
    customNotification?: boolean
}

/** Install a fake `leanprover.lean4` whose exports hand out one running client for `folder`. */
export function installFakeLean4(
    folder: string,
    handler: (method: string, params: any) => unknown,
    options: FakeLean4Options = {},
): FakeLeanClient {
    const fake: FakeLeanClient = {
        requests: [],
        notifications: [],
        handler,
        client: {},
        listeners: [],
        fire(method, params) {
            for (const listener of [...fake.listeners]) listener({ method, params })
        },
    }
    fake.client = {
        running: true,
        folderUri: { fsPath: folder, toString: () => 'file://' + folder },
        sendRequest: async (method: string, params: any) => {
            fake.requests.push({ method, params })
            return fake.handler(method, params)
        },
        sendNotification: async (method: string, params: any) => {
            fake.notifications.push({ method, params })
        },
    }
    if (options.customNotification !== false) {
        fake.client.customNotification = (listener: (n: { method: string; params: unknown }) => void) => {
            fake.listeners.push(listener)
            return { dispose: () => void fake.listeners.splice(fake.listeners.indexOf(listener), 1) }
        }
    }
    const clientProvider = { getClients: () => [fake.client], getActiveClient: () => fake.client }
    vscode.state.extensions.set('leanprover.lean4', {
        isActive: true,
        exports: { lean4EnabledFeatures: Promise.resolve({ clientProvider }) },
        activate: async () => undefined,
    })
    return fake
}

export class Memento {
    readonly values = new Map<string, unknown>()
    get<T>(key: string, defaultValue?: T): T | undefined {
        return (this.values.has(key) ? this.values.get(key) : defaultValue) as T | undefined
    }
    async update(key: string, value: unknown): Promise<void> {
        if (value === undefined) this.values.delete(key)
        else this.values.set(key, value)
    }
    keys(): string[] {
        return [...this.values.keys()]
    }
}

export interface Fixture {
    root: string
    project: string
    companion: string
    context: { globalStorageUri: vscode.Uri; globalState: Memento; subscriptions: Array<{ dispose(): void }> }
    shimDir: string
}

/** A blank stubbed VS Code with a project folder, an installed fake lean-companion and a context. */
export async function fixture(globalState = new Memento()): Promise<Fixture> {
    vscode.reset()
    vscode.state.defaults = packageDefaults()
    const root = await tempDir('lc-ext-')
    const project = path.join(root, 'project')
    const companion = await writeExecutable(path.join(root, 'bin', 'lean-companion'), '#!/bin/sh\nexit 0\n')
    vscode.state.settings.global.set('leanCompanion.path', companion)
    vscode.state.workspaceFolders = [{ uri: vscode.Uri.file(project), name: 'project', index: 0 }]
    const globalStorage = path.join(root, 'globalStorage')
    return {
        root,
        project,
        companion,
        context: { globalStorageUri: vscode.Uri.file(globalStorage), globalState, subscriptions: [] },
        shimDir: path.join(globalStorage, 'shim'),
    }
}

/** Wait until `condition()` holds (the extension reacts to events asynchronously). */
export async function eventually(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!condition()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
        await new Promise(resolve => setTimeout(resolve, 5))
    }
}
