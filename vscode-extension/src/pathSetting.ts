/**
 * Putting the shim folder into `lean4.envPathExtensions` (vscode-lean4 prepends those entries
 * to the PATH it starts `lake serve` with) and taking it out again.
 */
import * as path from 'path'
import * as vscode from 'vscode'

export const LEAN4_SECTION = 'lean4'
export const ENV_PATH_KEY = 'envPathExtensions'
/** globalState key remembering the user's answer: 'user' | 'workspace' | 'declined'. */
export const CONSENT_KEY = 'leanCompanion.envPathConsent'

export type Consent = 'user' | 'workspace' | 'declined'
export type RegisterOutcome = 'present' | 'added' | 'declined'

function same(a: string, b: string): boolean {
    return path.resolve(a).replace(/[\\/]+$/, '') === path.resolve(b).replace(/[\\/]+$/, '')
}

/** `list` with `dir` in front (once). Non-string entries of a hand-edited setting are dropped. */
export function withEntry(list: unknown, dir: string): string[] {
    const entries = Array.isArray(list) ? list.filter((e): e is string => typeof e === 'string') : []
    return [dir, ...entries.filter(e => !same(e, dir))]
}

/** `list` without `dir`. */
export function withoutEntry(list: unknown, dir: string): string[] {
    const entries = Array.isArray(list) ? list.filter((e): e is string => typeof e === 'string') : []
    return entries.filter(e => !same(e, dir))
}

/** True when the effective value of `lean4.envPathExtensions` contains `dir`. */
export function isRegistered(dir: string): boolean {
    const value = vscode.workspace.getConfiguration(LEAN4_SECTION).get<unknown>(ENV_PATH_KEY)
    return Array.isArray(value) && value.some(e => typeof e === 'string' && same(e, dir))
}

async function addAt(dir: string, consent: 'user' | 'workspace'): Promise<void> {
    const config = vscode.workspace.getConfiguration(LEAN4_SECTION)
    const info = config.inspect<unknown>(ENV_PATH_KEY)
    if (consent === 'user') {
        await config.update(ENV_PATH_KEY, withEntry(info?.globalValue, dir), vscode.ConfigurationTarget.Global)
    } else {
        // A workspace value replaces the user's, so start from the effective list.
        await config.update(ENV_PATH_KEY, withEntry(info?.workspaceValue ?? info?.globalValue, dir), vscode.ConfigurationTarget.Workspace)
    }
}

/**
 * Make sure `dir` is in `lean4.envPathExtensions`. Asks once (the answer is kept in
 * `memento`); afterwards the remembered scope is used silently and a refusal is respected.
 */
export async function registerShimDir(dir: string, memento: vscode.Memento): Promise<RegisterOutcome> {
    if (isRegistered(dir)) return 'present'
    let consent = memento.get<Consent>(CONSENT_KEY)
    const hasWorkspace = (vscode.workspace.workspaceFolders?.length ?? 0) > 0
    if (consent === 'declined') return 'declined'
    if (consent === 'workspace' && !hasWorkspace) consent = undefined
    if (consent === undefined) {
        const user = 'For all workspaces'
        const workspace = 'This workspace only'
        const no = 'Not now'
        const choices = hasWorkspace ? [user, workspace, no] : [user, no]
        const answer = await vscode.window.showInformationMessage(
            'Lean Companion starts Lean\'s server through its proxy by adding its shim folder to the ' +
                "'lean4.envPathExtensions' setting. Add it?",
            ...choices,
        )
        consent = answer === user ? 'user' : answer === workspace ? 'workspace' : 'declined'
        await memento.update(CONSENT_KEY, consent)
        if (consent === 'declined') return 'declined'
    }
    await addAt(dir, consent)
    return 'added'
}

/** Remove `dir` from every scope of `lean4.envPathExtensions` it is in; true if it was anywhere. */
export async function unregisterShimDir(dir: string): Promise<boolean> {
    const config = vscode.workspace.getConfiguration(LEAN4_SECTION)
    const info = config.inspect<unknown>(ENV_PATH_KEY)
    let removed = false
    const scopes: Array<[unknown, vscode.ConfigurationTarget]> = [
        [info?.globalValue, vscode.ConfigurationTarget.Global],
        [info?.workspaceValue, vscode.ConfigurationTarget.Workspace],
    ]
    for (const [value, target] of scopes) {
        if (!Array.isArray(value)) continue
        const next = withoutEntry(value, dir)
        if (next.length !== value.length) {
            // An emptied workspace value is removed, so the user's value applies again.
            const keep = target === vscode.ConfigurationTarget.Workspace && next.length === 0 ? undefined : next
            await config.update(ENV_PATH_KEY, keep, target)
            removed = true
        }
    }
    return removed
}
