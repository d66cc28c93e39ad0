/**
 * The generated shims, run for real: `lake`/`lean` found by bare name on a PATH that starts
 * with the shim folder (as vscode-lean4 spawns them), against fake real tools and a fake
 * lean-companion that record their argv.
 */
import './setup'
import * as assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, promises as fs, readFileSync, statSync } from 'node:fs'
import * as path from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'
import { posixShim, shimFiles, SHIM_MARKER, shQuote, windowsShim, writeShims } from '../src/shims'
import { tempDir, writeExecutable } from './setup'

const RECORDER = (name: string) => `#!/bin/sh
# records its argv (NUL-separated) and PATH, then behaves a little like the real thing
if [ $# -gt 0 ]; then printf '%s\\0' "$@"; fi > "$RECORD_DIR/${name}.argv"
printf '%s' "$PATH" > "$RECORD_DIR/${name}.path"
printf '%s' "\${LEAN_COMPANION_RUNTIME_DIR:-}" > "$RECORD_DIR/${name}.runtime"
echo "${name} ran"
if [ -n "\${ECHO_STDIN:-}" ]; then cat; fi
exit \${EXIT_CODE:-0}
`

let root: string
let shimDir: string
let realBin: string
let companion: string
let recordDir: string
let logFile: string
let runtimeDir: string

function record(name: string): { argv: string[]; path: string; runtime: string } | undefined {
    const file = path.join(recordDir, `${name}.argv`)
    if (!existsSync(file)) return undefined
    const argv = readFileSync(file, 'utf8').split('\0')
    argv.pop()
    return {
        argv,
        path: readFileSync(path.join(recordDir, `${name}.path`), 'utf8'),
        runtime: readFileSync(path.join(recordDir, `${name}.runtime`), 'utf8'),
    }
}

function run(tool: string, args: string[], env: Record<string, string> = {}, pathDirs?: string[], input?: string) {
    const PATH = (pathDirs ?? [shimDir, realBin, '/usr/bin', '/bin']).join(':')
    return spawnSync(tool, args, {
        env: { PATH, RECORD_DIR: recordDir, HOME: root, ...env },
        encoding: 'utf8',
        input,
        timeout: 10_000,
    })
}

before(async () => {
    root = await tempDir('lc-shims-')
    // Spaces and a single quote in every path the shim embeds or searches.
    shimDir = path.join(root, "global storage/it's/shim")
    realBin = path.join(root, 'elan bin')
    companion = path.join(root, "pipx venv/bin/lean-companion")
    recordDir = path.join(root, 'records')
    logFile = path.join(root, 'logs', 'proxy.log')
    runtimeDir = path.join(root, 'proxies')
    await fs.mkdir(recordDir, { recursive: true })
    await fs.mkdir(path.dirname(logFile), { recursive: true })
    await writeExecutable(path.join(realBin, 'lake'), RECORDER('real-lake'))
    await writeExecutable(path.join(realBin, 'lean'), RECORDER('real-lean'))
    await writeExecutable(companion, RECORDER('companion'))
    await writeShims({ shimDir, companion, logFile, runtimeDir }, 'linux')
})

after(async () => {
    await fs.rm(root, { recursive: true, force: true })
})

beforeEach(async () => {
    for (const name of await fs.readdir(recordDir)) await fs.rm(path.join(recordDir, name))
})

describe('lake shim', () => {
    it('routes `lake +toolchain serve -- <folder> <serverArgs>` through lean-companion with every argument intact', () => {
        const args = ['+leanprover/lean4:v4.9.0', 'serve', '--', "/home/u/my project's", '--stats', '-Dtrace.x=true']
        const result = run('lake', args)
        assert.equal(result.status, 0, result.stderr)
        assert.equal(result.stdout, 'companion ran\n')
        const c = record('companion')
        assert.ok(c, 'lean-companion was not started')
        assert.deepEqual(c.argv, ['serve', '--log-file', logFile, '--', path.join(realBin, 'lake'), ...args])
        assert.equal(record('real-lake'), undefined, 'the real lake must not be started by the shim itself')
        assert.ok(!c.path.split(':').includes(shimDir), `shim folder still on the child's PATH: ${c.path}`)
        assert.ok(c.path.split(':').includes(realBin))
        assert.equal(c.runtime, runtimeDir)
    })

    it('routes `lake serve` without a toolchain and with global options before the command', () => {
        for (const args of [['serve', '--'], ['-d', 'sub dir', 'serve', '--', '/p'], ['--dir=/x', '-R', 'serve']]) {
            const result = run('lake', args)
            assert.equal(result.status, 0, result.stderr)
            assert.deepEqual(record('companion')?.argv.slice(4), [path.join(realBin, 'lake'), ...args])
        }
    })

    it('hands every other invocation straight to the real lake, unchanged', () => {
        for (const args of [
            ['build', 'Foo.Bar'],
            ['exe', 'cache', 'get'],
            ['+leanprover/lean4:v4.9.0', '--version'],
            ['env', 'lean', '--server'],
            ['-d', 'serve', 'build'],
            ['--', 'serve'],
            [],
        ]) {
            const result = run('lake', args)
            assert.equal(result.status, 0, result.stderr)
            assert.equal(result.stdout, 'real-lake ran\n')
            assert.deepEqual(record('real-lake')?.argv, args)
            assert.equal(record('companion'), undefined, `companion started for ${JSON.stringify(args)}`)
        }
    })

    it("passes the real tool's exit status, stdout and stdin through", () => {
        const result = run('lake', ['build'], { EXIT_CODE: '3', ECHO_STDIN: '1' }, undefined, 'hello\n')
        assert.equal(result.status, 3)
        assert.equal(result.stdout, 'real-lake ran\nhello\n')
        const served = run('lake', ['serve', '--'], { ECHO_STDIN: '1' }, undefined, 'Content-Length: 2\r\n\r\n{}')
        assert.equal(served.stdout, 'companion ran\nContent-Length: 2\r\n\r\n{}')
    })

    it('honours LEAN_COMPANION_REAL_LAKE', async () => {
        const other = await writeExecutable(path.join(root, 'custom', 'my-lake'), RECORDER('custom-lake'))
        run('lake', ['serve', '--'], { LEAN_COMPANION_REAL_LAKE: other })
        assert.equal(record('companion')?.argv[4], other)
        run('lake', ['build'], { LEAN_COMPANION_REAL_LAKE: other })
        assert.deepEqual(record('custom-lake')?.argv, ['build'])
    })

    it('bypasses the companion when LEAN_COMPANION_DISABLE is set', () => {
        run('lake', ['serve', '--'], { LEAN_COMPANION_DISABLE: '1' })
        assert.equal(record('companion'), undefined)
        assert.deepEqual(record('real-lake')?.argv, ['serve', '--'])
    })

    it('skips a second copy of a shim further down PATH instead of recursing into it', async () => {
        const oldShims = path.join(root, 'old shims')
        await writeShims({ shimDir: oldShims, companion, logFile }, 'linux')
        const result = run('lake', ['build'], {}, [shimDir, shimDir + '/', oldShims, realBin, '/usr/bin', '/bin'])
        assert.equal(result.status, 0, result.stderr)
        assert.deepEqual(record('real-lake')?.argv, ['build'])
        const served = run('lake', ['serve', '--'], {}, [shimDir, oldShims, realBin, '/usr/bin', '/bin'])
        assert.equal(served.status, 0, served.stderr)
        assert.equal(record('companion')?.argv[4], path.join(realBin, 'lake'))
    })

    it('fails with exit 127 and a clear message when there is no real lake', () => {
        const result = run('lake', ['build'], {}, [shimDir, '/usr/bin', '/bin'])
        assert.equal(result.status, 127)
        assert.match(result.stderr, /cannot find the real lake on PATH \(set LEAN_COMPANION_REAL_LAKE\)/)
    })

    it('starts the plain server, silently, when lean-companion has been uninstalled', async () => {
        const gone = path.join(root, 'gone')
        await writeShims({ shimDir: gone, companion: path.join(root, 'nowhere', 'lean-companion'), logFile }, 'linux')
        const result = run('lake', ['serve', '--', '/p'], {}, [gone, realBin, '/usr/bin', '/bin'])
        assert.equal(result.status, 0)
        assert.equal(result.stderr, '', 'VS Code would show stderr output as an error')
        assert.deepEqual(record('real-lake')?.argv, ['serve', '--', '/p'])
        assert.match(readFileSync(logFile, 'utf8'), /is missing; started .*lake without the companion/)
    })
})

describe('lean shim', () => {
    it('routes `lean [+toolchain] --server <folder>` through lean-companion', () => {
        for (const args of [['--server', '/home/u/proj'], ['+leanprover/lean4:nightly', '--server', 'untitled'], ['-DmaxHeartbeats=0', '--server']]) {
            const result = run('lean', args)
            assert.equal(result.status, 0, result.stderr)
            assert.deepEqual(record('companion')?.argv, ['serve', '--log-file', logFile, '--', path.join(realBin, 'lean'), ...args])
            assert.equal(record('real-lean'), undefined)
        }
    })

    it('hands other invocations (including --server after a file name) to the real lean', () => {
        for (const args of [['--version'], ['Foo.lean'], ['--run', 'script.lean', '--server'], ['+v4.9.0', '--print-prefix']]) {
            run('lean', args)
            assert.deepEqual(record('real-lean')?.argv, args)
            assert.equal(record('companion'), undefined)
        }
    })

    it('works the same under bash as under the default /bin/sh', () => {
        for (const shell of ['/bin/sh', '/bin/bash', '/usr/bin/bash'].filter(existsSync)) {
            const result = spawnSync(shell, [path.join(shimDir, 'lean'), '+tc', '--server', '/p q'], {
                env: { PATH: [shimDir, realBin, '/usr/bin', '/bin'].join(':'), RECORD_DIR: recordDir },
                encoding: 'utf8',
            })
            assert.equal(result.status, 0, `${shell}: ${result.stderr}`)
            assert.equal(result.stderr, '')
            assert.deepEqual(record('companion')?.argv.slice(4), [path.join(realBin, 'lean'), '+tc', '--server', '/p q'])
        }
    })
})

describe('shim files', () => {
    it('writes executable POSIX shims, and rewrites them only when their text changes', async () => {
        const dir = path.join(root, 'write-test')
        const options = { shimDir: dir, companion, logFile }
        assert.deepEqual((await writeShims(options, 'linux')).map(f => path.basename(f)).sort(), ['lake', 'lean'])
        assert.equal(statSync(path.join(dir, 'lake')).mode & 0o777, 0o755)
        assert.deepEqual(await writeShims(options, 'linux'), [])
        const moved = await writeShims({ ...options, companion: '/opt/lc/bin/lean-companion' }, 'linux')
        assert.equal(moved.length, 2)
        assert.match(readFileSync(path.join(dir, 'lake'), 'utf8'), /companion='\/opt\/lc\/bin\/lean-companion'/)
    })

    it('refuses relative paths', async () => {
        await assert.rejects(writeShims({ shimDir: 'shim', companion }, 'linux'), /absolute/)
    })

    it('starts with an absolute interpreter and carries the marker', () => {
        const text = posixShim('lake', { shimDir: '/s', companion: '/c' })
        assert.ok(text.startsWith('#!/bin/sh\n'))
        assert.ok(text.split('\n')[1].includes(SHIM_MARKER))
        assert.ok(!text.includes('--log-file'), 'no --log-file without a log file')
    })

    it('quotes for sh', () => {
        assert.equal(shQuote("it's"), "'it'\\''s'")
        const out = spawnSync('/bin/sh', ['-c', `printf %s ${shQuote("a 'b' $HOME `x` \\")}`], { encoding: 'utf8' })
        assert.equal(out.stdout, "a 'b' $HOME `x` \\")
    })

    it('makes .cmd shims on Windows, marked untested, routing `serve` / `--server`', () => {
        const files = shimFiles({ shimDir: 'C:\\s', companion: 'C:\\lc\\lean-companion.exe', logFile: 'C:\\l.log' }, 'win32')
        assert.deepEqual([...files.keys()].sort(), ['lake.cmd', 'lean.cmd'])
        const lake = windowsShim('lake', { shimDir: 'C:\\s', companion: 'C:\\lc\\lean-companion.exe' })
        assert.match(lake, /UNTESTED and UNSUPPORTED/)
        assert.match(lake, /if "%WORD%"=="serve" goto server/)
        assert.match(lake, /"C:\\lc\\lean-companion.exe" serve -- "%REAL%" %\*/)
        assert.match(windowsShim('lean', { shimDir: 'C:\\s', companion: 'C:\\c.exe' }), /"%WORD%"=="--server"/)
        assert.ok(lake.includes('\r\n'))
    })
})
