/** Pure helpers: locating lean-companion, reading settings, the envPath list, the status text. */
import './setup'
import * as assert from 'node:assert/strict'
import * as path from 'node:path'
import { describe, it } from 'node:test'
import { expandHome, locateCompanion, missingCompanionMessage } from '../src/companionPath'
import { withEntry, withoutEntry } from '../src/pathSetting'
import { classifyChange, readSettings } from '../src/settings'
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
    const source = (values: Map<string, unknown>) => ({ get: <T>(key: string, d: T): T => (values.has(`leanCompanion.${key}`) ? (values.get(`leanCompanion.${key}`) as T) : d) })

    it("matches package.json's declared defaults", () => {
        const s = readSettings(source(packageDefaults()))
        const d = packageDefaults()
        assert.equal(s.suggestions.maxSuggestions, d.get('leanCompanion.suggestions.maxSuggestions'))
        assert.equal(s.suggestions.timeoutMs, d.get('leanCompanion.suggestions.timeoutMs'))
        assert.equal(s.search.timeoutSeconds, d.get('leanCompanion.search.timeoutSeconds'))
        assert.equal(s.search.maxExpansions, d.get('leanCompanion.search.maxExpansions'))
        assert.deepEqual(s.safety.forbiddenTactics, d.get('leanCompanion.safety.forbiddenTactics'))
        assert.deepEqual(readSettings(source(new Map())), s, 'code defaults differ from package.json defaults')
    })

    it('falls back on wrong types and clamps numbers (hand-edited settings.json)', () => {
        const s = readSettings(source(new Map<string, unknown>([
            ['leanCompanion.suggestions.maxSuggestions', 1000],
            ['leanCompanion.suggestions.timeoutMs', 'soon'],
            ['leanCompanion.threads', -3],
            ['leanCompanion.suggestions.model', '  smollm2  '],
            ['leanCompanion.safety.forbiddenTactics', ['decide', 7, '']],
            ['leanCompanion.suggestions.automatic', 'no'],
        ])))
        assert.equal(s.suggestions.maxSuggestions, 64)
        assert.equal(s.suggestions.timeoutMs, 15000)
        assert.equal(s.threads, 0)
        assert.equal(s.suggestions.model, 'smollm2')
        assert.deepEqual(s.safety.forbiddenTactics, ['decide'])
        assert.equal(s.suggestions.automatic, true)
    })

    it('classifies changes: path/enabled restart, model settings notify, UI settings stay local', () => {
        // affectsConfiguration(section) is true for the changed key and every prefix of it
        const of = (changed: string) => classifyChange(section => changed === section || changed.startsWith(section + '.'))
        assert.deepEqual(of('leanCompanion.path'), { restart: true, notify: false, local: false })
        assert.deepEqual(of('leanCompanion.premises.model'), { restart: false, notify: true, local: false })
        assert.deepEqual(of('lean4.envPathExtensions'), { restart: false, notify: false, local: false })
        assert.equal(classifyChange(s => ['leanCompanion', 'leanCompanion.suggestions', 'leanCompanion.suggestions.model'].includes(s)).notify, true)
        assert.deepEqual(classifyChange(s => ['leanCompanion', 'leanCompanion.statusBar.enabled'].includes(s)), { restart: false, notify: false, local: true })
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
    it('shows model, index and latency, and a clear "not connected" state', () => {
        const t = formatStatus({ version: '1', models: [{ id: 'enc', role: 'encoder', backend: 'onnx', installed: true, active: true }, { id: 'm', role: 'tactic', backend: 'gguf', installed: true, active: true }], index: { state: 'building', declarations: 10 }, lastLatencyMs: 2500 })
        assert.equal(t.text, '$(lightbulb) m · building · 2.5 s')
        assert.equal(formatStatus({ version: '1', models: [], index: { state: 'ready', declarations: 7 }, lastLatencyMs: null, busy: true }).text, '$(sync~spin) portfolio · 7 decls · –')
        assert.match(formatStatus(undefined, 'no proxy').tooltip, /not connected \(no proxy\)/)
    })
})
