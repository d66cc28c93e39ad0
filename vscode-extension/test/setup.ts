/**
 * Import first in every test: makes `require('vscode')` resolve to the stub, and offers
 * helpers shared by the tests.
 */
import { promises as fs } from 'fs'
import Module = require('module')
import * as os from 'os'
import * as path from 'path'

const stubPath = path.join(__dirname, 'vscodeStub.js')
const moduleAny = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string }
const original = moduleAny._resolveFilename
moduleAny._resolveFilename = function (request: string, ...rest: unknown[]): string {
    if (request === 'vscode') return stubPath
    return original.call(this, request, ...rest)
}

/** The defaults of every `contributes.configuration` property, from package.json. */
export function packageDefaults(): Map<string, unknown> {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const manifest = require('../../package.json') as {
        contributes: { configuration: { properties: Record<string, { default?: unknown }> } }
    }
    const defaults = new Map<string, unknown>()
    for (const [key, spec] of Object.entries(manifest.contributes.configuration.properties)) defaults.set(key, spec.default)
    // vscode-lean4's setting, which we extend
    defaults.set('lean4.envPathExtensions', [])
    return defaults
}

/** A fresh temporary folder (removed by the caller's `after`). */
export async function tempDir(prefix = 'lc-ext-'): Promise<string> {
    return fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), prefix)))
}

/** Write an executable script. */
export async function writeExecutable(file: string, text: string): Promise<string> {
    await fs.mkdir(path.dirname(file), { recursive: true })
    await fs.writeFile(file, text, { mode: 0o755 })
    return file
}
