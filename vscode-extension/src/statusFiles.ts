/**
 * The proxies' status files (`<runtime dir>/<pid>.json`, docs/editor-protocol.md "Fallback
 * channel"): which running proxy serves a document, and how to reach its socket.
 */
import { promises as fs } from 'fs'
import * as path from 'path'

export interface ProxyStatusFile {
    version: 1
    pid: number
    root: string
    socket: { path: string } | { port: number; host?: string }
    token: string
    logFile?: string
    companionVersion?: string
}

/** The parsed file, or undefined when it does not follow the format. */
export function parseStatusFile(text: string): ProxyStatusFile | undefined {
    let value: unknown
    try {
        value = JSON.parse(text)
    } catch {
        return undefined
    }
    const v = value as Partial<ProxyStatusFile> & { socket?: Record<string, unknown> }
    if (!v || v.version !== 1 || !Number.isInteger(v.pid) || typeof v.root !== 'string' || typeof v.token !== 'string') return undefined
    const socket = v.socket
    if (!socket) return undefined
    const okPath = typeof socket.path === 'string' && socket.path !== ''
    const okPort = Number.isInteger(socket.port) && (socket.port as number) > 0 && (socket.port as number) < 65536
    if (!okPath && !okPort) return undefined
    return v as ProxyStatusFile
}

/** True while process `pid` exists (EPERM: it exists but is not ours to signal). */
export function processAlive(pid: number): boolean {
    try {
        process.kill(pid, 0)
        return true
    } catch (error) {
        return (error as NodeJS.ErrnoException).code === 'EPERM'
    }
}

function contains(root: string, file: string): boolean {
    const relative = path.relative(path.resolve(root), path.resolve(file))
    return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))
}

/** Of `files`, the live proxy whose root contains `documentPath` most closely. */
export function chooseProxy(
    files: ProxyStatusFile[],
    documentPath: string,
    alive: (pid: number) => boolean = processAlive,
): ProxyStatusFile | undefined {
    return files
        .filter(f => contains(f.root, documentPath) && alive(f.pid))
        .sort((a, b) => path.resolve(b.root).length - path.resolve(a.root).length)[0]
}

/** Every well-formed status file in `dir` (missing folder: none). */
export async function readStatusFiles(dir: string): Promise<ProxyStatusFile[]> {
    let names: string[]
    try {
        names = await fs.readdir(dir)
    } catch {
        return []
    }
    const files: ProxyStatusFile[] = []
    for (const name of names.filter(n => /^\d+\.json$/.test(n))) {
        try {
            const parsed = parseStatusFile(await fs.readFile(path.join(dir, name), 'utf8'))
            if (parsed) files.push(parsed)
        } catch {
            // vanished between readdir and read: the proxy just exited
        }
    }
    return files
}
