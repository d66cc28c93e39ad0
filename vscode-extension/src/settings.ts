/**
 * The `leanCompanion.*` settings that configure the proxy, turned into the body of
 * `$/leanCompanion/configure`: a partial configuration with the keys of `.lean-companion.toml`
 * (local_models/config.py). Only settings the user actually set (user, workspace or folder
 * scope) are sent, so unset ones leave the project's and user's config files in charge.
 */

/** What `vscode.workspace.getConfiguration('leanCompanion')` offers that we use. */
export interface SettingsSource {
    inspect<T>(key: string): { globalValue?: T; workspaceValue?: T; workspaceFolderValue?: T } | undefined
}

/** A partial companion configuration, e.g. `{suggest: {max_candidates: 4}}`. */
export type ConfigOverlay = Record<string, Record<string, unknown>>

type Convert = (value: unknown) => { ok: true; value: unknown } | { ok: false; why: string }

const bool: Convert = v => (typeof v === 'boolean' ? { ok: true, value: v } : { ok: false, why: 'expected true or false' })

function int(min: number, max = Number.MAX_SAFE_INTEGER): Convert {
    return v =>
        typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
            ? { ok: true, value: v }
            : { ok: false, why: `expected a whole number from ${min} to ${max}` }
}

function num(min: number): Convert {
    return v => (typeof v === 'number' && Number.isFinite(v) && v >= min ? { ok: true, value: v } : { ok: false, why: `expected a number ≥ ${min}` })
}

function modelId(asList: boolean): Convert {
    return v => {
        if (typeof v !== 'string') return { ok: false, why: 'expected a model id (text)' }
        const id = v.trim()
        if (!id) return { ok: true, value: undefined } // empty: keep the configured model
        if (/\s/.test(id)) return { ok: false, why: 'a model id has no spaces' }
        return { ok: true, value: asList ? [id] : id }
    }
}

/** VS Code setting (under `leanCompanion.`) → [config section, config key, conversion]. */
export const PROXY_SETTINGS: Record<string, [string, string, Convert]> = {
    'models.tactic': ['models', 'tactic', modelId(true)],
    'models.embedding': ['models', 'embedding', modelId(false)],
    'models.threads': ['models', 'threads', v => (v === 0 ? { ok: true, value: undefined } : int(1, 1024)(v))],
    'suggest.enabled': ['suggest', 'enabled', bool],
    'suggest.completions': ['suggest', 'completions', bool],
    'suggest.codeActions': ['suggest', 'code_actions', bool],
    'suggest.maxCandidates': ['suggest', 'max_candidates', int(1, 64)],
    'suggest.timeoutSeconds': ['suggest', 'timeout_seconds', num(0.1)],
    'search.budgetSeconds': ['search', 'budget_seconds', num(1)],
    'search.maxExpansions': ['search', 'max_expansions', int(1)],
    'safety.allowNativeDecide': ['safety', 'allow_native_decide', bool],
}

/** Settings whose change needs new shims and a server restart rather than a notification. */
export const RESTART_KEYS = ['leanCompanion.path', 'leanCompanion.enabled'] as const
/** Settings that only concern the extension's own UI. */
export const LOCAL_KEYS = ['leanCompanion.statusBar.enabled', 'leanCompanion.safety.confirmFillAll'] as const

/**
 * The configure overlay from the settings the user set (the most specific scope wins), and a
 * note for each set value that is unusable (it is left out; the rest still applies).
 */
export function readSettings(source: SettingsSource): { overlay: ConfigOverlay; problems: string[] } {
    const overlay: ConfigOverlay = {}
    const problems: string[] = []
    for (const [key, [section, field, convert]] of Object.entries(PROXY_SETTINGS)) {
        const info = source.inspect<unknown>(key)
        const value = info?.workspaceFolderValue ?? info?.workspaceValue ?? info?.globalValue
        if (value === undefined) continue
        const converted = convert(value)
        if (!converted.ok) {
            problems.push(`leanCompanion.${key}: ${converted.why}; got ${JSON.stringify(value)}`)
            continue
        }
        if (converted.value === undefined) continue
        ;(overlay[section] ??= {})[field] = converted.value
    }
    return { overlay, problems }
}

/** Which kind of reaction a configuration change calls for. */
export function classifyChange(affects: (section: string) => boolean): { restart: boolean; notify: boolean; local: boolean } {
    return {
        restart: RESTART_KEYS.some(key => affects(key)),
        notify: Object.keys(PROXY_SETTINGS).some(key => affects(`leanCompanion.${key}`)),
        local: LOCAL_KEYS.some(key => affects(key)),
    }
}
