/**
 * The whole chain vscode-lean4 starts, for real: `lake +toolchain serve -- <folder>` by bare
 * name → our shim → `lean-companion serve` (the Python proxy from this repository) → the "real"
 * lake (a stand-in that records its argv and runs the Lean test double). An LSP initialize
 * goes through and back, nothing is written to stderr (VS Code would show it as an error),
 * and the proxy writes its log where the shim told it to.
 *
 * Needs Python with this repository's packages: $PYTHON, else ../.venv/bin/python; skipped
 * when neither exists or the Lean test double is missing.
 */
import './setup'
import * as assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, promises as fs, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { describe, it } from 'node:test'
import { encodeFrame, FrameDecoder } from '../src/rpcSocket'
import { writeShims } from '../src/shims'
import { tempDir, writeExecutable } from './setup'

const REPO = path.resolve(__dirname, '..', '..', '..')
const PYTHON = process.env.PYTHON ?? path.join(REPO, '.venv', 'bin', 'python')
const SCENARIO = path.join(REPO, 'tests', 'lean_double', 'scenarios', 'basic.json')
const available = existsSync(PYTHON) && existsSync(SCENARIO) && existsSync(path.join(REPO, 'copilot', 'serve.py'))

function sh(value: string): string {
    return "'" + value.replace(/'/g, "'\\''") + "'"
}

describe('shim → lean-companion serve → lake serve', { skip: available ? false : 'no Python with the repository, or no Lean test double' }, () => {
    it('carries an LSP session with +toolchain and the folder argument intact, and nothing on stderr', async () => {
        const root = await tempDir('lc-chain-')
        try {
            const project = path.join(root, 'my project')
            await fs.mkdir(project)
            const shimDir = path.join(root, 'shim')
            const realBin = path.join(root, 'elan', 'bin')
            const logFile = path.join(root, 'logs', 'proxy.log')
            const argvFile = path.join(root, 'lake-argv')
            const companion = await writeExecutable(
                path.join(root, 'venv', 'bin', 'lean-companion'),
                `#!/bin/sh\nPYTHONPATH=${sh(REPO)} exec ${sh(PYTHON)} -m copilot.cli "$@"\n`,
            )
            await writeExecutable(
                path.join(realBin, 'lake'),
                `#!/bin/sh\nprintf '%s\\0' "$@" > ${sh(argvFile)}\n` +
                    `PYTHONPATH=${sh(REPO)} exec ${sh(PYTHON)} -m tests.lean_double --scenario ${sh(SCENARIO)}\n`,
            )
            await writeShims({ shimDir, companion, logFile, runtimeDir: path.join(root, 'proxies') }, 'linux')

            const child = spawn('lake', ['+leanprover/lean4:v4.9.0', 'serve', '--', project], {
                cwd: project,
                env: { PATH: [shimDir, realBin, '/usr/bin', '/bin'].join(':'), HOME: root },
                stdio: ['pipe', 'pipe', 'pipe'],
            })
            let stderr = ''
            child.stderr.on('data', chunk => (stderr += chunk))
            const decoder = new FrameDecoder()
            const received: any[] = []
            child.stdout.on('data', chunk => received.push(...decoder.push(chunk)))
            const waitFor = async (predicate: (m: any) => boolean, what: string) => {
                const deadline = Date.now() + 20_000
                while (!received.some(predicate)) {
                    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${stderr}`)
                    await new Promise(resolve => setTimeout(resolve, 20))
                }
                return received.find(predicate)
            }
            const uri = 'file://' + encodeURI(project)
            child.stdin.write(encodeFrame({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { processId: null, rootUri: uri, capabilities: {} } }))
            const init = await waitFor(m => m.id === 1, 'the initialize reply')
            assert.ok(init.result?.capabilities, JSON.stringify(init))
            child.stdin.write(encodeFrame({ jsonrpc: '2.0', method: 'initialized', params: {} }))
            const fileUri = uri + '/T.lean'
            child.stdin.write(encodeFrame({
                jsonrpc: '2.0', method: 'textDocument/didOpen',
                params: { textDocument: { uri: fileUri, languageId: 'lean4', version: 1, text: 'theorem t (n : Nat) : n + 0 = n := by\n  sorry\n' } },
            }))
            const published = await waitFor(m => m.method === 'textDocument/publishDiagnostics' && m.params.diagnostics.length > 0, 'diagnostics')
            assert.match(published.params.diagnostics[0].message, /sorry/)
            child.stdin.write(encodeFrame({ jsonrpc: '2.0', id: 2, method: 'shutdown', params: null }))
            await waitFor(m => m.id === 2, 'the shutdown reply')
            child.stdin.write(encodeFrame({ jsonrpc: '2.0', method: 'exit', params: null }))
            const code = await new Promise<number | null>(resolve => child.on('exit', resolve))

            assert.equal(code, 0)
            assert.equal(stderr, '', 'VS Code shows anything on stderr as an error')
            const argv = readFileSync(argvFile, 'utf8').split('\0').slice(0, -1)
            assert.deepEqual(argv, ['+leanprover/lean4:v4.9.0', 'serve', '--', project])
            assert.ok(existsSync(logFile), 'the proxy did not log to the file the shim named')
        } finally {
            await fs.rm(root, { recursive: true, force: true })
        }
    })
})
