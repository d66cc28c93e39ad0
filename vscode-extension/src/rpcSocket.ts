/**
 * A minimal JSON-RPC 2.0 client over a stream with LSP's `Content-Length` framing: the
 * fallback channel to a proxy's local socket (docs/editor-protocol.md, "Fallback channel").
 */
import * as net from 'net'

export class RpcError extends Error {
    constructor(
        readonly code: number,
        message: string,
        readonly data?: unknown,
    ) {
        super(message)
    }
}

/** One LSP frame for `message`. */
export function encodeFrame(message: unknown): Buffer {
    const body = Buffer.from(JSON.stringify(message), 'utf8')
    return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body])
}

/** Splits a byte stream into message bodies; throws on a malformed header. */
export class FrameDecoder {
    private buffer = Buffer.alloc(0)

    push(chunk: Buffer): unknown[] {
        this.buffer = Buffer.concat([this.buffer, chunk])
        const messages: unknown[] = []
        for (;;) {
            const headerEnd = this.buffer.indexOf('\r\n\r\n')
            if (headerEnd < 0) break
            const header = this.buffer.subarray(0, headerEnd).toString('ascii')
            const match = /(?:^|\r\n)Content-Length:\s*(\d+)/i.exec(header)
            if (!match) throw new Error(`frame without Content-Length: ${JSON.stringify(header.slice(0, 80))}`)
            const length = Number(match[1])
            const start = headerEnd + 4
            if (this.buffer.length < start + length) break
            messages.push(JSON.parse(this.buffer.subarray(start, start + length).toString('utf8')))
            this.buffer = this.buffer.subarray(start + length)
        }
        return messages
    }
}

interface Pending {
    resolve: (value: unknown) => void
    reject: (error: Error) => void
}

/** A JSON-RPC connection on a socket. Requests fail when the socket closes. */
export class RpcSocketClient {
    private nextId = 1
    private readonly pending = new Map<number, Pending>()
    private readonly decoder = new FrameDecoder()
    private closedError: Error | undefined

    private constructor(private readonly socket: net.Socket) {
        socket.on('data', chunk => this.onData(chunk))
        socket.on('error', error => this.close(error))
        socket.on('close', () => this.close(new Error('connection to lean-companion closed')))
    }

    /** Connect to a Unix socket / named pipe (`path`) or a TCP port on 127.0.0.1. */
    static connect(target: { path: string } | { port: number; host?: string }, timeoutMs = 2000): Promise<RpcSocketClient> {
        return new Promise((resolve, reject) => {
            const socket = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host ?? '127.0.0.1')
            const timer = setTimeout(() => {
                socket.destroy()
                reject(new Error('timed out connecting to lean-companion'))
            }, timeoutMs)
            socket.once('connect', () => {
                clearTimeout(timer)
                resolve(new RpcSocketClient(socket))
            })
            socket.once('error', error => {
                clearTimeout(timer)
                reject(error)
            })
        })
    }

    get closed(): boolean {
        return this.closedError !== undefined
    }

    request<T>(method: string, params: unknown): Promise<T> {
        if (this.closedError) return Promise.reject(this.closedError)
        const id = this.nextId++
        return new Promise<T>((resolve, reject) => {
            this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
            this.socket.write(encodeFrame({ jsonrpc: '2.0', id, method, params }))
        })
    }

    notify(method: string, params: unknown): void {
        if (this.closedError) throw this.closedError
        this.socket.write(encodeFrame({ jsonrpc: '2.0', method, params }))
    }

    close(error: Error = new Error('connection to lean-companion closed')): void {
        if (this.closedError) return
        this.closedError = error
        this.socket.destroy()
        for (const waiter of this.pending.values()) waiter.reject(error)
        this.pending.clear()
    }

    private onData(chunk: Buffer): void {
        let messages: unknown[]
        try {
            messages = this.decoder.push(chunk)
        } catch (error) {
            this.close(error as Error)
            return
        }
        for (const message of messages) {
            const m = message as { id?: unknown; result?: unknown; error?: { code: number; message: string; data?: unknown } }
            if (typeof m.id !== 'number') continue // notifications from the proxy are not used yet
            const waiter = this.pending.get(m.id)
            if (!waiter) continue
            this.pending.delete(m.id)
            if (m.error) waiter.reject(new RpcError(m.error.code, m.error.message, m.error.data))
            else waiter.resolve(m.result)
        }
    }
}
