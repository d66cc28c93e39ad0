/** The `leanCompanion.*` settings, read defensively and turned into the configure payload. */
import type { CompanionSettings } from './protocol'

/** What `vscode.workspace.getConfiguration('leanCompanion')` offers that we use. */
export interface SettingsSource {
    get<T>(key: string, defaultValue: T): T
}

/** Settings whose change needs new shims and a server restart rather than a notification. */
export const RESTART_KEYS = ['leanCompanion.path', 'leanCompanion.enabled'] as const
/** Settings that only concern the extension's own UI. */
export const LOCAL_KEYS = ['leanCompanion.statusBar.enabled', 'leanCompanion.safety.confirmFillAll'] as const

function integer(value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof value !== 'number' || !Number.isFinite(value)) return fallback
    return Math.min(max, Math.max(min, Math.round(value)))
}

function number(value: unknown, fallback: number, min: number): number {
    if (typeof value !== 'number' || !Number.isFinite(value)) return fallback
    return Math.max(min, value)
}

function text(value: unknown): string {
    return typeof value === 'string' ? value.trim() : ''
}

function strings(value: unknown, fallback: string[]): string[] {
    if (!Array.isArray(value)) return fallback
    return value.filter((item): item is string => typeof item === 'string' && item.trim() !== '').map(s => s.trim())
}

/**
 * The payload of `$/leanCompanion/configure`. Wrongly typed values (hand-edited settings.json)
 * fall back to the defaults declared in package.json; numbers are clamped to their range.
 */
export function readSettings(source: SettingsSource): CompanionSettings {
    return {
        suggestions: {
            model: text(source.get('suggestions.model', '')),
            automatic: source.get<unknown>('suggestions.automatic', true) !== false,
            maxSuggestions: integer(source.get('suggestions.maxSuggestions', 8), 8, 1, 64),
            timeoutMs: integer(source.get('suggestions.timeoutMs', 15000), 15000, 100),
        },
        premises: { model: text(source.get('premises.model', '')) },
        search: {
            timeoutSeconds: number(source.get('search.timeoutSeconds', 60), 60, 1),
            maxExpansions: integer(source.get('search.maxExpansions', 200), 200, 1),
        },
        threads: integer(source.get('threads', 0), 0, 0, 1024),
        safety: { forbiddenTactics: strings(source.get('safety.forbiddenTactics', ['sorry', 'admit', 'native_decide']), ['sorry', 'admit', 'native_decide']) },
    }
}

/** Which kind of reaction a configuration change calls for. */
export function classifyChange(affects: (section: string) => boolean): { restart: boolean; notify: boolean; local: boolean } {
    const restart = RESTART_KEYS.some(key => affects(key))
    const local = LOCAL_KEYS.some(key => affects(key))
    const notify =
        affects('leanCompanion') &&
        ['suggestions', 'premises', 'search', 'threads', 'safety.forbiddenTactics'].some(key => affects(`leanCompanion.${key}`))
    return { restart, notify, local }
}
