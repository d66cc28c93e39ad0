/** Finding the `lean-companion` executable: the `leanCompanion.path` setting, else PATH. */
import { accessSync, constants, statSync } from 'fs'
import * as os from 'os'
import * as path from 'path'

export type LocateResult =
    | { kind: 'found'; path: string }
    | { kind: 'missing'; configured?: string; searched: string[] }

export interface LocateOptions {
    /** Value of `leanCompanion.path` (may be empty, may start with `~`). */
    configured: string
    /** The PATH to search when nothing is configured. */
    envPath: string
    platform?: NodeJS.Platform
    home?: string
    /** Windows PATHEXT; ignored elsewhere. */
    pathExt?: string
}

/** True when `file` is a regular file we may execute. */
export function isExecutableFile(file: string): boolean {
    try {
        if (!statSync(file).isFile()) return false
        accessSync(file, constants.X_OK)
        return true
    } catch {
        return false
    }
}

/** `~` and `~/…` expanded against `home`. */
export function expandHome(value: string, home: string = os.homedir()): string {
    if (value === '~') return home
    if (value.startsWith('~/') || value.startsWith('~\\')) return path.join(home, value.slice(2))
    return value
}

/**
 * Locate lean-companion. A configured path is used as is (no fallback: a wrong setting must
 * be reported, not silently replaced). Otherwise PATH is searched, then `~/.local/bin`,
 * where `pipx install` and `uv tool install` put it and which a GUI-started VS Code often
 * lacks on PATH.
 */
export function locateCompanion(options: LocateOptions, isExecutable = isExecutableFile): LocateResult {
    const platform = options.platform ?? process.platform
    const paths = platform === 'win32' ? path.win32 : path.posix
    const home = options.home ?? os.homedir()
    const configured = options.configured.trim()
    if (configured) {
        const file = paths.resolve(expandHome(configured, home))
        return isExecutable(file) ? { kind: 'found', path: file } : { kind: 'missing', configured: file, searched: [file] }
    }
    const separator = platform === 'win32' ? ';' : ':'
    const names =
        platform === 'win32'
            ? (options.pathExt ?? '.EXE;.CMD;.BAT;.COM').split(';').filter(Boolean).map(ext => `lean-companion${ext.toLowerCase()}`)
            : ['lean-companion']
    const dirs = options.envPath.split(separator).filter(Boolean)
    dirs.push(paths.join(home, '.local', 'bin'))
    const searched: string[] = []
    for (const dir of dirs) {
        for (const name of names) {
            const file = paths.join(expandHome(dir, home), name)
            searched.push(file)
            if (paths.isAbsolute(file) && isExecutable(file)) return { kind: 'found', path: file }
        }
    }
    return { kind: 'missing', searched }
}

/** The text shown when lean-companion cannot be found. */
export function missingCompanionMessage(result: Extract<LocateResult, { kind: 'missing' }>): string {
    if (result.configured) {
        return `Lean Companion: 'leanCompanion.path' is set to ${result.configured}, which is not an executable file.`
    }
    return (
        "Lean Companion: the 'lean-companion' program was not found on PATH or in ~/.local/bin. " +
        "Install it with 'pipx install lean-companion' or 'uv tool install lean-companion', " +
        "or set 'leanCompanion.path'."
    )
}
