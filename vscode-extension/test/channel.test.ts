/**
 * Reaching the proxy: vscode-lean4's exports in their old and new shapes (feature-detected),
 * and the fallback over a proxy's local socket found through its status file.
 */
import './setup'
import * as assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { closeSocketChannels, findChannel, findLeanClient } from '../src/channel'
import { encodeFrame, FrameDecoder } from '../src/rpcSocket'
import { chooseProxy, parseStatusFile, type ProxyStatusFile } from '../src/statusFiles'
import { tempDir } from './setup'
import * as vscode from './vscodeStub'

const client = (folder: string, running = true) => ({ running, folderUri: { fsPath: folder, toString: () => 'file://' + folder }, sendRequest: async () => 'ok' })

describe('vscode-lean4 exports', () => {
    const doc = vscode.Uri.file('/proj/b/Foo.lean') as any

    it('finds the client of the folder holding the document (0.0.176+: lean4EnabledFeatures promise)', async () => {
        const a = client('/proj/a')
        const b = client('/proj/b')
        const found = await findLeanClient({ lean4EnabledFeatures: Promise.resolve({ clientProvider: { getClients: () => [a, b], getActiveClient: () => a } }) }, doc)
        assert.equal(found, b)
    })

    it('understands the old `exports.clientProvider` shape', async () => {
        const b = client('/proj/b')
        assert.equal(await findLeanClient({ clientProvider: { getClients: () => [b] } }, doc), b)
    })

    it('falls back to the active client, and ignores stopped ones', async () => {
        const active = client('/elsewhere')
        assert.equal(await findLeanClient({ clientProvider: { getClients: () => [client('/proj/b', false)], getActiveClient: () => active } }, doc), active)
        assert.equal(await findLeanClient({ clientProvider: { getClients: () => [], getActiveClient: () => client('/x', false) } }, doc), undefined)
    })

    it('gives up (undefined) on unknown shapes, throwing providers and a promise that never settles', async () => {
        assert.equal(await findLeanClient(undefined, doc), undefined)
        assert.equal(await findLeanClient({ somethingElse: 1 }, doc), undefined)
        const throwing = { clientProvider: { getClients: () => { throw new Error('api changed') }, getActiveClient: () => { throw new Error('api changed') } } }
        assert.equal(await findLeanClient(throwing, doc), undefined)
        const started = Date.now()
        assert.equal(await findLeanClient({ lean4EnabledFeatures: new Promise(() => undefined) }, doc, 50), undefined)
        assert.ok(Date.now() - started < 1000)
    })
})

describe('status files', () => {
    const base: ProxyStatusFile = { version: 1, pid: 1, root: '/proj', socket: { path: '/tmp/x.sock' }, token: 't' }

    it('parses well-formed files and rejects malformed ones', () => {
        assert.deepEqual(parseStatusFile(JSON.stringify(base)), base)
        for (const bad of ['', '{', '[]', JSON.stringify({ ...base, version: 2 }), JSON.stringify({ ...base, socket: {} }),
            JSON.stringify({ ...base, socket: { port: 70000 } }), JSON.stringify({ ...base, token: 5 })]) {
            assert.equal(parseStatusFile(bad), undefined, bad)
        }
    })

    it('chooses the live proxy with the closest root containing the document', () => {
        const files = [
            { ...base, pid: 1, root: '/proj' },
            { ...base, pid: 2, root: '/proj/sub' },
            { ...base, pid: 3, root: '/proj/sub' },
            { ...base, pid: 4, root: '/other' },
        ]
        const alive = (pid: number) => pid !== 2
        assert.equal(chooseProxy(files, '/proj/sub/A.lean', alive)?.pid, 3)
        assert.equal(chooseProxy(files, '/proj/B.lean', alive)?.pid, 1)
        assert.equal(chooseProxy(files, '/projX/B.lean', alive), undefined)
    })
})

describe('socket fallback', () => {
    let dir: string
    let server: net.Server
    const seen: Array<{ method: string; params: any }> = []

    before(async () => {
        dir = await tempDir('lc-sock-')
        const socketPath = path.join(dir, 'p.sock')
        server = net.createServer(socket => {
            const decoder = new FrameDecoder()
            let authorised = false
            socket.on('data', chunk => {
                for (const m of decoder.push(chunk) as Array<{ id?: number; method: string; params: any }>) {
                    seen.push({ method: m.method, params: m.params })
                    if (m.method === '$/leanCompanion/hello') {
                        authorised = m.params.token === 'secret'
                        if (!authorised) return void socket.destroy()
                        socket.write(encodeFrame({ jsonrpc: '2.0', id: m.id, result: { version: '0.1.0' } }))
                    } else if (!authorised) {
                        socket.destroy()
                    } else if (m.id !== undefined) {
                        socket.write(encodeFrame({ jsonrpc: '2.0', id: m.id, error: { code: -32602, message: 'bad position' } }))
                    }
                }
            })
        })
        await new Promise<void>(resolve => server.listen(socketPath, resolve))
        const runtime = path.join(dir, 'proxies')
        await fs.mkdir(runtime)
        const file: ProxyStatusFile = { version: 1, pid: process.pid, root: path.join(dir, 'proj'), socket: { path: socketPath }, token: 'secret' }
        await fs.writeFile(path.join(runtime, `${process.pid}.json`), JSON.stringify(file))
        // a stale file of a proxy that is gone, and junk
        await fs.writeFile(path.join(runtime, '999999999.json'), JSON.stringify({ ...file, pid: 999999999, token: 'wrong' }))
        await fs.writeFile(path.join(runtime, 'notes.txt'), 'ignore me')
    })

    after(async () => {
        closeSocketChannels()
        server.close()
        await fs.rm(dir, { recursive: true, force: true })
    })

    it('is used when vscode-lean4 offers no client: hello with the token, then requests; errors keep their code', async () => {
        vscode.reset()
        const channel = await findChannel(vscode.Uri.file(path.join(dir, 'proj', 'A.lean')) as any, path.join(dir, 'proxies'))
        assert.ok(channel)
        assert.equal(channel.kind, 'socket')
        assert.deepEqual(seen[0], { method: '$/leanCompanion/hello', params: { token: 'secret', client: 'vscode' } })
        await assert.rejects(channel.request('$/leanCompanion/suggest', { position: { line: -1, character: 0 } }), (e: any) => e.code === -32602 && /bad position/.test(e.message))
        await channel.notify('$/leanCompanion/configure', { settings: {} })
        await new Promise(resolve => setTimeout(resolve, 50))
        assert.deepEqual(seen.map(s => s.method), ['$/leanCompanion/hello', '$/leanCompanion/suggest', '$/leanCompanion/configure'])
    })

    it('is not used for documents outside every proxy root', async () => {
        assert.equal(await findChannel(vscode.Uri.file('/somewhere/else/A.lean') as any, path.join(dir, 'proxies')), undefined)
        assert.equal(await findChannel(vscode.Uri.file(path.join(dir, 'proj', 'A.lean')) as any, path.join(dir, 'missing')), undefined)
    })
})

describe('framing', () => {
    it('decodes frames split at every byte boundary, with multi-byte UTF-8', () => {
        const messages = [{ jsonrpc: '2.0', id: 1, result: { goal: '⊢ ∀ n, n + 0 = n' } }, { jsonrpc: '2.0', method: 'x', params: [] }]
        const bytes = Buffer.concat(messages.map(encodeFrame))
        for (let cut = 0; cut <= bytes.length; cut++) {
            const decoder = new FrameDecoder()
            const out = [...decoder.push(bytes.subarray(0, cut)), ...decoder.push(bytes.subarray(cut))]
            assert.deepEqual(out, messages)
        }
    })

    it('rejects a header without Content-Length', () => {
        assert.throws(() => new FrameDecoder().push(Buffer.from('Content-Type: x\r\n\r\n{}')), /without Content-Length/)
    })
})
