/** Pure helpers: locating lean-companion, reading settings, the envPath list, the status text. */
import './setup'
import * as assert from 'node:assert/strict'
import * as path from 'node:path'
import { describe, it } from 'node:test'
import { expandHome, locateCompanion, missingCompanionMessage } from '../src/companionPath'
import { withEntry, withoutEntry } from '../src/pathSetting'
import { classifyChange, PROXY_SETTINGS, readSettings } from '../src/settings'
import { formatStatus } from '../src/statusBar'
import { packageDefaults } from './setup'

describe('locateCompanion', () => {
    const present = (files: string[]) => (f: string) => files.includes(f)

    it('uses a configured path (with ~) and reports it when it is not executable, without falling back', () => {
        assert.deepEqual(locateCompanion({ configured: '~/venv/bin/lean-companion', envPath: '/usr/bin', home: '/h' }, present(['/h/venv/bin/lean-companion'])), {
            kind: 'found',
            path: '/h/venv/bin/lean-companion',
        })
        const missing = locateCompanion({ configured: '/opt/x', envPath: '/usr/bin', home: '/h' }, present(['/usr/bin/lean-companion']))
        assert.equal(missing.kind, 'missing')
        assert.match(missingCompanionMessage(missing as any), /'leanCompanion.path' is set to \/opt\/x/)
    })

    it('searches PATH in order, then ~/.local/bin', () => {
        const env = '/a:/b:relative'
        assert.deepEqual(locateCompanion({ configured: '', envPath: env, home: '/h' }, present(['/b/lean-companion', '/h/.local/bin/lean-companion'])), {
            kind: 'found',
            path: '/b/lean-companion',
        })
        assert.deepEqual(locateCompanion({ configured: '', envPath: env, home: '/h' }, present(['/h/.local/bin/lean-companion'])), {
            kind: 'found',
            path: '/h/.local/bin/lean-companion',
        })
        const none = locateCompanion({ configured: '', envPath: env, home: '/h' }, present([]))
        assert.equal(none.kind, 'missing')
        assert.match(missingCompanionMessage(none as any), /pipx install lean-companion.*uv tool install lean-companion/)
    })

    it('never accepts a relative PATH entry (the current folder is not trusted)', () => {
        assert.deepEqual(locateCompanion({ configured: '', envPath: 'bin', home: '/h' }, () => true), { kind: 'found', path: '/h/.local/bin/lean-companion' })
        const result = locateCompanion({ configured: '', envPath: 'bin', home: '/h' }, f => f === path.join('bin', 'lean-companion'))
        assert.equal(result.kind, 'missing')
    })

    it('tries PATHEXT names on Windows', () => {
        const result = locateCompanion({ configured: '', envPath: 'C:\\tools', platform: 'win32', home: 'C:\\h', pathExt: '.EXE;.CMD' }, f => f.endsWith('lean-companion.exe'))
        assert.deepEqual(result, { kind: 'found', path: 'C:\\tools\\lean-companion.exe' })
    })

    it('expands ~', () => {
        assert.equal(expandHome('~', '/h'), '/h')
        assert.equal(expandHome('~/x', '/h'), '/h/x')
        assert.equal(expandHome('/a/~', '/h'), '/a/~')
    })
})

describe('readSettings', () => {
    const source = (scopes: { global?: Record<string, unknown>; workspace?: Record<string, unknown>; folder?: Record<string, unknown> }) => ({
        inspect: <T>(key: string) => ({
            globalValue: scopes.global?.[key] as T | undefined,
            workspaceValue: scopes.workspace?.[key] as T | undefined,
            workspaceFolderValue: scopes.folder?.[key] as T | undefined,
        }),
    })

    it('sends nothing for settings the user never set, so the config files stay in charge', () => {
        assert.deepEqual(readSettings(source({})), { overlay: {}, problems: [] })
    })

    it('maps set values to the .lean-companion.toml keys; the most specific scope wins', () => {
        const { overlay, problems } = readSettings(source({
            global: { 'models.tactic': 'smollm2-135m', 'suggest.maxCandidates': 4, 'search.budgetSeconds': 90 },
            workspace: { 'suggest.maxCandidates': 6, 'safety.allowNativeDecide': true },
            folder: { 'suggest.maxCandidates': 2, 'suggest.completions': false },
        }))
        assert.deepEqual(problems, [])
        assert.deepEqual(overlay, {
            models: { tactic: ['smollm2-135m'] },
            suggest: { max_candidates: 2, completions: false },
            search: { budget_seconds: 90 },
            safety: { allow_native_decide: true },
        })
    })

    it('leaves out unusable values and says why; empty model ids and 0 threads mean "keep the configured one"', () => {
        const { overlay, problems } = readSettings(source({
            global: {
                'suggest.maxCandidates': 1000, 'suggest.timeoutSeconds': 'soon', 'models.tactic': '  ', 'models.embedding': 'two words',
                'models.threads': 0, 'suggest.enabled': 'no', 'search.maxExpansions': 12,
            },
        }))
        assert.deepEqual(overlay, { search: { max_expansions: 12 } })
        assert.equal(problems.length, 4)
        assert.match(problems.join('\n'), /leanCompanion.suggest.maxCandidates: expected a whole number from 1 to 64; got 1000/)
        assert.match(problems.join('\n'), /leanCompanion.models.embedding: a model id has no spaces/)
        assert.match(problems.join('\n'), /leanCompanion.suggest.enabled: expected true or false; got "no"/)
    })

    it('every proxy setting is declared in package.json with a default of the right type', () => {
        const defaults = packageDefaults()
        const sample: Record<string, unknown> = {}
        for (const key of Object.keys(PROXY_SETTINGS)) {
            assert.ok(defaults.has(`leanCompanion.${key}`), key)
            sample[key] = defaults.get(`leanCompanion.${key}`)
        }
        assert.deepEqual(readSettings(source({ global: sample })).problems, [], 'package.json defaults must be valid values')
    })

    it('classifies changes: path/enabled restart, proxy settings notify, UI settings stay local', () => {
        // affectsConfiguration(section) is true for the changed key and every prefix of it
        const of = (changed: string) => classifyChange(section => changed === section || changed.startsWith(section + '.'))
        assert.deepEqual(of('leanCompanion.path'), { restart: true, notify: false, local: false })
        assert.deepEqual(of('leanCompanion.models.embedding'), { restart: false, notify: true, local: false })
        assert.deepEqual(of('leanCompanion.statusBar.enabled'), { restart: false, notify: false, local: true })
        assert.deepEqual(of('lean4.envPathExtensions'), { restart: false, notify: false, local: false })
    })
})

describe('envPathExtensions entries', () => {
    it('puts the shim folder first, once, and removes it again (trailing separators ignored)', () => {
        assert.deepEqual(withEntry(['/a', '/s/', 3], '/s'), ['/s', '/a'])
        assert.deepEqual(withEntry(undefined, '/s'), ['/s'])
        assert.deepEqual(withoutEntry(['/a', '/s', '/s/'], '/s'), ['/a'])
        assert.deepEqual(withoutEntry('junk', '/s'), [])
    })
})

describe('status bar text', () => {
    const base = { protocolVersion: 1, pid: 1, busy: false, logFile: null, features: [], lean: { running: true, restarts: 0 }, problems: [] }
    it('shows model, index and latency, and a clear "not connected" state', () => {
        const t = formatStatus({ ...base, version: '1', models: [{ id: 'enc', role: 'encoder', backend: 'onnx', installed: true, active: true }, { id: 'm', role: 'tactic', backend: 'gguf', installed: true, active: true }], index: { state: 'building', declarations: 10 }, lastLatencyMs: 2500 })
        assert.equal(t.text, '$(lightbulb) m · building · 2.5 s')
        assert.equal(formatStatus({ ...base, version: '1', models: [], index: { state: 'ready', declarations: 7 }, lastLatencyMs: null, busy: true }).text, '$(sync~spin) portfolio · 7 decls · –')
        assert.match(formatStatus(undefined, 'no proxy').tooltip, /not connected \(no proxy\)/)
    })
})
