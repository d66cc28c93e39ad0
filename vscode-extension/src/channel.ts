/**
 * How the extension reaches the proxy serving a document.
 *
 * 1. Through vscode-lean4's own connection: its exported `LeanClient.sendRequest` carries
 *    `$/leanCompanion/*` to the proxy, which answers them itself. The export is not a stable
 *    API, so every step is feature-detected.
 * 2. Otherwise through the proxy's local socket, found via its status file.
 * 3. Neither: `undefined`, and the caller says the companion is unreachable.
 */
import * as path from 'path'
import * as vscode from 'vscode'
import { METHODS } from './protocol'
import { RpcError, RpcSocketClient } from './rpcSocket'
import { chooseProxy, readStatusFiles } from './statusFiles'

export const LEAN4_EXTENSION_ID = 'leanprover.lean4'

export interface CompanionChannel {
    readonly kind: 'lean4-client' | 'socket'
    /** The connection under the channel (one per proxy); a subscription is kept per target. */
    readonly target?: object
    request<T>(method: string, params: object): Promise<T>
    notify(method: string, params: object): Promise<void>
    /**
     * Call `handler` with the params of every `method` notification the proxy sends; undefined
     * when this channel cannot deliver notifications (the socket, an older vscode-lean4).
     */
    subscribe?(method: string, handler: (params: unknown) => void): vscode.Disposable | undefined
}

/** The part of vscode-lean4's `LeanClient` we use. */
interface LeanClientLike {
    sendRequest(method: string, params: unknown): Promise<unknown>
    sendNotification?(method: string, params: unknown): Promise<void> | undefined
    running?: boolean
    isRunning?: () => boolean
    folderUri?: { fsPath?: string; toString(): string }
    /** vscode-lean4: fires for every non-standard notification from the server. */
    customNotification?: (listener: (notification: { method?: string; params?: unknown }) => void) => vscode.Disposable
}

/** The error a channel request fails with; `code` is the JSON-RPC code when there was one. */
export class ChannelError extends Error {
    constructor(
        message: string,
        readonly code?: number,
    ) {
        super(message)
    }
}

function withTimeout<T>(promise: PromiseLike<T>, ms: number): Promise<T | undefined> {
    return new Promise(resolve => {
        const timer = setTimeout(() => resolve(undefined), ms)
        Promise.resolve(promise).then(
            value => {
                clearTimeout(timer)
                resolve(value)
            },
            () => {
                clearTimeout(timer)
                resolve(undefined)
            },
        )
    })
}

function isClient(value: unknown): value is LeanClientLike {
    return !!value && typeof (value as LeanClientLike).sendRequest === 'function'
}

function clientRunning(client: LeanClientLike): boolean {
    if (typeof client.isRunning === 'function') return client.isRunning()
    return client.running !== false
}

function folderPath(client: LeanClientLike): string | undefined {
    const folder = client.folderUri
    if (!folder) return undefined
    if (typeof folder.fsPath === 'string' && folder.fsPath) return folder.fsPath
    try {
        const uri = vscode.Uri.parse(folder.toString())
        return uri.scheme === 'file' ? uri.fsPath : undefined
    } catch {
        return undefined
    }
}

/**
 * The vscode-lean4 client serving `document`, from the extension's exports (0.0.176+:
 * `await exports.lean4EnabledFeatures`; up to 0.0.175: `exports.clientProvider`).
 */
export async function findLeanClient(exports: unknown, document: vscode.Uri, timeoutMs = 3000): Promise<LeanClientLike | undefined> {
    const e = exports as { lean4EnabledFeatures?: PromiseLike<unknown>; clientProvider?: unknown } | undefined
    if (!e) return undefined
    let provider: unknown
    if (e.lean4EnabledFeatures && typeof e.lean4EnabledFeatures.then === 'function') {
        const features = (await withTimeout(e.lean4EnabledFeatures, timeoutMs)) as { clientProvider?: unknown } | undefined
        provider = features?.clientProvider
    } else {
        provider = e.clientProvider
    }
    const p = provider as { getClients?: () => unknown; getActiveClient?: () => unknown; findClient?: (u: unknown) => unknown }
    if (!p) return undefined
    const candidates: LeanClientLike[] = []
    try {
        const all = typeof p.getClients === 'function' ? p.getClients() : []
        if (Array.isArray(all)) candidates.push(...all.filter(isClient))
    } catch {
        // an API change: fall through to the other lookups
    }
    const docPath = document.scheme === 'file' ? document.fsPath : undefined
    if (docPath) {
        const matches = candidates
            .map(c => ({ c, folder: folderPath(c) }))
            .filter(({ folder }) => folder !== undefined && !path.relative(folder, docPath).startsWith('..'))
            .sort((a, b) => (b.folder as string).length - (a.folder as string).length)
        if (matches.length > 0 && clientRunning(matches[0].c)) return matches[0].c
    }
    try {
        const active = typeof p.getActiveClient === 'function' ? p.getActiveClient() : undefined
        if (isClient(active) && clientRunning(active)) return active
    } catch {
        // ignore, see above
    }
    return undefined
}

function normalizeError(error: unknown): ChannelError {
    if (error instanceof ChannelError) return error
    if (error instanceof RpcError) return new ChannelError(error.message, error.code)
    const e = error as { code?: unknown; message?: unknown }
    if (e && typeof e === 'object' && typeof e.message === 'string') {
        return new ChannelError(e.message, typeof e.code === 'number' ? e.code : undefined)
    }
    return new ChannelError(String(error))
}

/** A channel over vscode-lean4's client. */
export function leanClientChannel(client: LeanClientLike): CompanionChannel {
    return {
        kind: 'lean4-client',
        target: client,
        subscribe(method: string, handler: (params: unknown) => void): vscode.Disposable | undefined {
            if (typeof client.customNotification !== 'function') return undefined
            try {
                return client.customNotification(notification => {
                    if (notification?.method === method) handler(notification.params)
                })
            } catch {
                return undefined // the event changed shape: the caller polls instead
            }
        },
        async request<T>(method: string, params: object): Promise<T> {
            try {
                return (await client.sendRequest(method, params)) as T
            } catch (error) {
                throw normalizeError(error)
            }
        },
        async notify(method: string, params: object): Promise<void> {
            if (typeof client.sendNotification !== 'function') throw new ChannelError('vscode-lean4 client cannot send notifications')
            await client.sendNotification(method, params)
        },
    }
}

const socketClients = new Map<number, RpcSocketClient>()

/** A channel over the local socket of the proxy serving `documentPath`, if one is running. */
export async function socketChannel(runtimeDir: string, documentPath: string): Promise<CompanionChannel | undefined> {
    const proxy = chooseProxy(await readStatusFiles(runtimeDir), documentPath)
    if (!proxy) return undefined
    let client = socketClients.get(proxy.pid)
    if (!client || client.closed) {
        try {
            client = await RpcSocketClient.connect(proxy.socket)
            await client.request(METHODS.hello, { token: proxy.token, client: 'vscode' })
        } catch {
            client?.close()
            return undefined
        }
        socketClients.set(proxy.pid, client)
    }
    const connected = client
    return {
        kind: 'socket',
        target: connected,
        async request<T>(method: string, params: object): Promise<T> {
            try {
                return await connected.request<T>(method, params)
            } catch (error) {
                throw normalizeError(error)
            }
        },
        async notify(method: string, params: object): Promise<void> {
            connected.notify(method, params)
        },
    }
}

/** Close every socket connection (on deactivate). */
export function closeSocketChannels(): void {
    for (const client of socketClients.values()) client.close()
    socketClients.clear()
}

/** The best channel for `document`: vscode-lean4's client, else the socket, else undefined. */
export async function findChannel(document: vscode.Uri, runtimeDir: string): Promise<CompanionChannel | undefined> {
    try {
        const extension = vscode.extensions.getExtension(LEAN4_EXTENSION_ID)
        if (extension) {
            const exports = extension.isActive ? extension.exports : await withTimeout(extension.activate(), 3000)
            const client = await findLeanClient(exports, document)
            if (client) return leanClientChannel(client)
        }
    } catch {
        // the export changed shape: use the fallback
    }
    if (document.scheme === 'file') return socketChannel(runtimeDir, document.fsPath)
    return undefined
}
