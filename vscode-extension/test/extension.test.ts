/**
 * Activation, the envPathExtensions consent flow, enable/disable, settings reaching the proxy
 * and command wiring, all against the stubbed `vscode` module and a fake vscode-lean4 client.
 */
import './setup'
import * as assert from 'node:assert/strict'
import { existsSync, promises as fs } from 'node:fs'
import * as path from 'node:path'
import { afterEach, describe, it, mock } from 'node:test'
import { activate, deactivate, INSTALL_HELP, STATUS_POLL_MS, WINDOWS_MESSAGE } from '../src/extension'
import { CONSENT_KEY } from '../src/pathSetting'
import { eventually, fixture, installFakeLean4, Memento, type Fixture } from './helpers'
import * as vscode from './vscodeStub'

const ENV = 'lean4.envPathExtensions'
const STATUS = {
    version: '0.1.0',
    pid: 4242,
    models: [{ id: 'smollm2-135m', role: 'tactic', backend: 'gguf', installed: true, active: true }],
    index: { state: 'ready', declarations: 1234 },
    lastLatencyMs: 850,
    logFile: '/nonexistent/proxy.log',
}

let fx: Fixture | undefined

afterEach(async () => {
    deactivate()
    if (fx) await fs.rm(fx.root, { recursive: true, force: true })
    fx = undefined
})

async function start(f: Fixture, answers: Array<string | undefined> = []): Promise<void> {
    vscode.state.answers.push(...answers)
    await activate(f.context as any)
}

describe('activation', () => {
    it('with lean-companion missing: one notification with install help, and nothing else', async () => {
        fx = await fixture()
        vscode.state.settings.global.delete('leanCompanion.path')
        const savedPath = process.env.PATH
        const savedHome = process.env.HOME
        process.env.PATH = path.join(fx.root, 'empty')
        process.env.HOME = fx.root
        let helpShown: Promise<void> | undefined
        try {
            vscode.state.answers.push((_m, _items) => {
                helpShown = eventually(() => vscode.state.messages.some(m => m.text === INSTALL_HELP), 'install help')
                return 'How to install'
            })
            const companion = await activate(fx.context as any)
            assert.equal(vscode.state.messages.length >= 1, true)
            const first = vscode.state.messages[0]
            assert.equal(first.level, 'warning')
            assert.match(first.text, /'lean-companion' program was not found/)
            assert.match(first.text, /pipx install lean-companion/)
            assert.deepEqual(first.items, ['How to install', "Set 'leanCompanion.path'"])
            await helpShown
            assert.match(INSTALL_HELP, /uv tool install lean-companion/)
            // nothing else: no shims, no setting, no restart, no question
            assert.equal(existsSync(fx.shimDir), false)
            assert.equal(vscode.state.settings.global.has(ENV), false)
            assert.equal(vscode.state.executed.some(e => e.command === 'lean4.restartServer'), false)
            // a later start (e.g. a settings change) does not nag again
            await companion.start()
            assert.equal(vscode.state.messages.filter(m => m.level === 'warning').length, 1)
        } finally {
            process.env.PATH = savedPath
            process.env.HOME = savedHome
        }
    })

    it('a configured path that is not executable is reported as such', async () => {
        fx = await fixture()
        vscode.state.settings.global.set('leanCompanion.path', path.join(fx.root, 'nope'))
        await start(fx)
        assert.match(vscode.state.messages[0].text, /'leanCompanion.path' is set to .*nope, which is not an executable file/)
        assert.equal(existsSync(fx.shimDir), false)
    })

    it('writes the shims, asks once, adds the folder in front of the user setting and restarts Lean', async () => {
        fx = await fixture()
        vscode.state.settings.global.set(ENV, ['/existing/entry'])
        vscode.openEditor(path.join(fx.project, 'A.lean'), 'theorem a : True := by\n  sorry\n')
        await start(fx, ['For all workspaces'])
        assert.ok(existsSync(path.join(fx.shimDir, 'lake')) && existsSync(path.join(fx.shimDir, 'lean')))
        const question = vscode.state.messages.find(m => m.text.includes('lean4.envPathExtensions'))
        assert.ok(question)
        assert.deepEqual(question.items, ['For all workspaces', 'This workspace only', 'Not now'])
        assert.deepEqual(vscode.state.settings.global.get(ENV), [fx.shimDir, '/existing/entry'])
        assert.equal(vscode.state.settings.workspace.has(ENV), false)
        assert.ok(vscode.state.executed.some(e => e.command === 'lean4.restartServer'))
        assert.equal(fx.context.globalState.get(CONSENT_KEY), 'user')
        const shim = await fs.readFile(path.join(fx.shimDir, 'lake'), 'utf8')
        assert.ok(shim.includes(`companion='${fx.companion}'`))

        // Second activation: the folder is there, the shims unchanged: no question, no restart.
        deactivate()
        const state = fx.context.globalState
        vscode.state.messages = []
        vscode.state.executed = []
        vscode.state.registered.clear()
        await activate({ ...fx.context, globalState: state } as any)
        assert.equal(vscode.state.messages.length, 0)
        assert.equal(vscode.state.executed.some(e => e.command === 'lean4.restartServer'), false)
    })

    it("'This workspace only' puts the folder in the workspace setting, keeping the user's entries", async () => {
        fx = await fixture()
        vscode.state.settings.global.set(ENV, ['/user/entry'])
        await start(fx, ['This workspace only'])
        assert.deepEqual(vscode.state.settings.workspace.get(ENV), [fx.shimDir, '/user/entry'])
        assert.deepEqual(vscode.state.settings.global.get(ENV), ['/user/entry'])
    })

    it("'Not now' changes nothing and is remembered", async () => {
        const memento = new Memento()
        fx = await fixture(memento)
        await start(fx, ['Not now'])
        assert.equal(vscode.state.settings.global.has(ENV), false)
        assert.equal(memento.get(CONSENT_KEY), 'declined')
        deactivate()
        vscode.state.messages = []
        vscode.state.registered.clear()
        await activate(fx.context as any)
        assert.equal(vscode.state.messages.length, 0, 'asked again after a refusal')
    })

    it('Disable removes the folder from every scope and restarts; Enable asks again and puts it back', async () => {
        fx = await fixture()
        vscode.openEditor(path.join(fx.project, 'A.lean'), 'example : True := trivial\n')
        await start(fx, ['For all workspaces'])
        vscode.state.settings.workspace.set(ENV, [fx.shimDir])
        vscode.state.executed = []
        await vscode.commands.executeCommand('leanCompanion.disable')
        await eventually(() => vscode.state.executed.some(e => e.command === 'lean4.restartServer'), 'restart after disable')
        assert.deepEqual(vscode.state.settings.global.get(ENV), [])
        assert.equal(vscode.state.settings.workspace.has(ENV), false)
        assert.equal(vscode.state.settings.global.get('leanCompanion.enabled'), false)
        assert.equal(vscode.state.statusBarItems[0].visible, false)

        vscode.state.executed = []
        vscode.state.answers.push('For all workspaces')
        await vscode.commands.executeCommand('leanCompanion.enable')
        await eventually(() => vscode.state.executed.some(e => e.command === 'lean4.restartServer'), 'restart after enable')
        assert.deepEqual(vscode.state.settings.global.get(ENV), [fx.shimDir])
        assert.equal(vscode.state.settings.global.get('leanCompanion.enabled'), true)
    })

    it('on Windows says it is unsupported, once, and touches nothing', async () => {
        fx = await fixture()
        const original = Object.getOwnPropertyDescriptor(process, 'platform')!
        Object.defineProperty(process, 'platform', { value: 'win32' })
        try {
            const companion = await activate(fx.context as any)
            await companion.start()
            assert.deepEqual(vscode.state.messages.map(m => m.text), [WINDOWS_MESSAGE])
            assert.equal(existsSync(fx.shimDir), false)
            assert.equal(vscode.state.settings.global.has(ENV), false)
        } finally {
            Object.defineProperty(process, 'platform', original)
        }
    })

    it('does not touch Lean when leanCompanion.enabled is false at startup', async () => {
        fx = await fixture()
        vscode.state.settings.global.set('leanCompanion.enabled', false)
        await start(fx)
        assert.equal(existsSync(fx.shimDir), false)
        assert.equal(vscode.state.messages.length, 0)
    })

    it('a new leanCompanion.path rewrites the shims and restarts Lean', async () => {
        fx = await fixture()
        vscode.openEditor(path.join(fx.project, 'A.lean'), 'example : True := trivial\n')
        await start(fx, ['For all workspaces'])
        const other = path.join(fx.root, 'other', 'lean-companion')
        await fs.mkdir(path.dirname(other), { recursive: true })
        await fs.writeFile(other, '#!/bin/sh\n', { mode: 0o755 })
        vscode.state.executed = []
        await vscode.workspace.getConfiguration('leanCompanion').update('path', other, vscode.ConfigurationTarget.Global)
        await eventually(() => vscode.state.executed.some(e => e.command === 'lean4.restartServer'), 'restart')
        assert.ok((await fs.readFile(path.join(fx.shimDir, 'lean'), 'utf8')).includes(`companion='${other}'`))
    })
})

describe('settings flow', () => {
    it('sends the settings when a proxy first answers, and again when a leanCompanion setting changes', async () => {
        fx = await fixture()
        const lean = installFakeLean4(fx.project, method => (method === '$/leanCompanion/status' ? STATUS : null))
        vscode.openEditor(path.join(fx.project, 'A.lean'), 'example : True := trivial\n')
        await start(fx, ['For all workspaces'])
        await eventually(() => lean.notifications.some(n => n.method === '$/leanCompanion/configure'), 'first configure')
        // nothing set yet: an empty overlay, the config files decide
        assert.deepEqual(lean.notifications.find(n => n.method === '$/leanCompanion/configure')!.params, { settings: {} })
        const config = vscode.workspace.getConfiguration('leanCompanion')
        await config.update('models.tactic', 'deepseek-prover-v2-7b-q4', vscode.ConfigurationTarget.Global)
        await eventually(() => lean.notifications.filter(n => n.method === '$/leanCompanion/configure').length === 2, 'second configure')
        const second = lean.notifications.filter(n => n.method === '$/leanCompanion/configure')[1].params.settings
        assert.deepEqual(second, { models: { tactic: ['deepseek-prover-v2-7b-q4'] } })
        assert.equal(vscode.state.executed.filter(e => e.command === 'lean4.restartServer').length, 1, 'a model change must not restart Lean')
        // a bad value is reported once and left out; the rest still goes
        await config.update('suggest.maxCandidates', 0, vscode.ConfigurationTarget.Workspace)
        await eventually(() => lean.notifications.filter(n => n.method === '$/leanCompanion/configure').length === 3, 'third configure')
        assert.deepEqual(lean.notifications.filter(n => n.method === '$/leanCompanion/configure')[2].params.settings, { models: { tactic: ['deepseek-prover-v2-7b-q4'] } })
        assert.ok(vscode.state.messages.some(m => m.level === 'warning' && /leanCompanion.suggest.maxCandidates/.test(m.text)))
        // the status bar shows model, index and latency
        const item = vscode.state.statusBarItems[0]
        assert.ok(item.visible)
        assert.match(item.text, /smollm2-135m · 1234 decls · 850 ms/)
    })

    it('says in the status bar when Lean answers without the companion (MethodNotFound)', async () => {
        fx = await fixture()
        installFakeLean4(fx.project, () => {
            throw Object.assign(new Error("No request handler found for '$/leanCompanion/status'"), { code: -32601 })
        })
        vscode.openEditor(path.join(fx.project, 'A.lean'), 'x\n')
        await start(fx, ['For all workspaces'])
        await eventually(() => /without the companion/.test(vscode.state.statusBarItems[0]?.tooltip ?? ''), 'status bar reason')
        assert.match(vscode.state.statusBarItems[0].tooltip, /not connected \(Lean runs without the companion\)/)
    })

    it('shows "not connected" in the status bar when no proxy answers', async () => {
        fx = await fixture()
        vscode.openEditor(path.join(fx.project, 'A.lean'), 'x\n')
        await start(fx, ['For all workspaces'])
        await eventually(() => vscode.state.statusBarItems[0]?.visible === true, 'status bar')
        assert.match(vscode.state.statusBarItems[0].text, /Companion/)
        assert.match(vscode.state.statusBarItems[0].tooltip, /not connected/)
    })
})

describe('status updates', () => {
    const statusRequests = (lean: { requests: Array<{ method: string }> }) =>
        lean.requests.filter(r => r.method === '$/leanCompanion/status').length

    it('statusChanged from the proxy updates the status bar, and no 10 s polling runs meanwhile', async () => {
        fx = await fixture()
        mock.timers.enable({ apis: ['setInterval'] })
        try {
            const lean = installFakeLean4(fx.project, method => (method === '$/leanCompanion/status' ? STATUS : null))
            vscode.openEditor(path.join(fx.project, 'A.lean'), 'example : True := trivial\n')
            await start(fx, ['For all workspaces'])
            await eventually(() => /850 ms/.test(vscode.state.statusBarItems[0]?.text ?? ''), 'first status')
            assert.equal(lean.listeners.length, 1, 'subscribed to the client\'s customNotification')
            const asked = statusRequests(lean)
            lean.fire('$/leanCompanion/statusChanged', { ...STATUS, busy: true, lastLatencyMs: 1500 })
            assert.match(vscode.state.statusBarItems[0].text, /sync~spin.*smollm2-135m · 1234 decls · 1\.5 s/)
            // another proxy's status (another project) does not take over the status bar
            lean.fire('$/leanCompanion/statusChanged', { ...STATUS, pid: 1, lastLatencyMs: 7 })
            assert.match(vscode.state.statusBarItems[0].text, /1\.5 s/)
            mock.timers.tick(3 * STATUS_POLL_MS)
            await new Promise(resolve => setTimeout(resolve, 20))
            assert.equal(statusRequests(lean), asked, 'polled although the proxy pushes its status')
        } finally {
            mock.timers.reset()
        }
    })

    it('without customNotification (older vscode-lean4) it falls back to polling every 10 s', async () => {
        fx = await fixture()
        mock.timers.enable({ apis: ['setInterval'] })
        try {
            const lean = installFakeLean4(fx.project, method => (method === '$/leanCompanion/status' ? STATUS : null),
                { customNotification: false })
            vscode.openEditor(path.join(fx.project, 'A.lean'), 'example : True := trivial\n')
            await start(fx, ['For all workspaces'])
            await eventually(() => statusRequests(lean) === 1, 'first status')
            mock.timers.tick(STATUS_POLL_MS)
            await eventually(() => statusRequests(lean) === 2, 'polled status')
        } finally {
            mock.timers.reset()
        }
    })

    it('disposes itself once although VS Code disposes context.subscriptions after deactivate', async () => {
        fx = await fixture()
        const lean = installFakeLean4(fx.project, method => (method === '$/leanCompanion/status' ? STATUS : null))
        vscode.openEditor(path.join(fx.project, 'A.lean'), 'example : True := trivial\n')
        const companion = await activate(fx.context as any)
        await eventually(() => lean.listeners.length === 1, 'subscribed')
        let outputDisposed = 0
        const original = companion.output.dispose.bind(companion.output)
        companion.output.dispose = () => {
            outputDisposed++
            original()
        }
        assert.ok(fx.context.subscriptions.includes(companion))
        deactivate() // VS Code calls deactivate() ...
        for (const d of fx.context.subscriptions) d.dispose() // ... then disposes the subscriptions
        assert.equal(outputDisposed, 1)
        assert.equal(lean.listeners.length, 0, 'the statusChanged subscription is released')
    })
})

describe('command wiring', () => {
    it('registers exactly the commands package.json contributes, and keybindings only name those', async () => {
        fx = await fixture()
        await start(fx, ['Not now'])
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const manifest = require('../../package.json')
        const contributed = manifest.contributes.commands.map((c: { command: string }) => c.command).sort()
        assert.deepEqual([...vscode.state.registered.keys()].sort(), contributed)
        for (const binding of manifest.contributes.keybindings) assert.ok(contributed.includes(binding.command), binding.command)
        assert.deepEqual(manifest.extensionDependencies, ['leanprover.lean4'])
    })
})
