/**
 * The palette commands end to end against the stubbed `vscode` module and a fake vscode-lean4
 * client standing in for the proxy: what is sent, and what happens to the document.
 */
import './setup'
import * as assert from 'node:assert/strict'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { UNREACHABLE_MESSAGE } from '../src/commands'
import { activate, deactivate } from '../src/extension'
import { eventually, fixture, installFakeLean4, type FakeLeanClient, type Fixture } from './helpers'
import * as vscode from './vscodeStub'

const TEXT = 'theorem t (n : Nat) : n + 0 = n := by\n  sorry\n'
let fx: Fixture
let lean: FakeLeanClient
let editor: vscode.FakeEditor
let replies: Record<string, unknown>

beforeEach(async () => {
    fx = await fixture()
    replies = { '$/leanCompanion/status': { version: '0.1.0', pid: 1, models: [], index: { state: 'absent', declarations: 0 }, lastLatencyMs: null } }
    lean = installFakeLean4(fx.project, method => {
        const reply = replies[method]
        if (reply instanceof Error) throw reply
        return typeof reply === 'function' ? (reply as () => unknown)() : reply
    })
    editor = vscode.openEditor(path.join(fx.project, 'T.lean'), TEXT, 1, 2)
    vscode.state.answers.push('For all workspaces')
    await activate(fx.context as any)
    vscode.state.messages = []
})

afterEach(async () => {
    deactivate()
    await fs.rm(fx.root, { recursive: true, force: true })
})

function sent(method: string) {
    return lean.requests.filter(r => r.method === method)
}

describe('Suggest tactics at cursor', () => {
    it('sends uri, version and position, lists the suggestions and inserts the one picked', async () => {
        replies['$/leanCompanion/suggest'] = {
            goal: 'n : Nat ⊢ n + 0 = n',
            latencyMs: 420,
            suggestions: [
                { tactic: 'simp', verdict: 'closes', goalsAfter: [], source: 'portfolio', score: 0.9 },
                { tactic: 'omega', verdict: 'closes', goalsAfter: [], source: 'smollm2', score: 0.5,
                  range: { start: { line: 1, character: 2 }, end: { line: 1, character: 7 } } },
            ],
        }
        vscode.state.answers.push((_m, items) => (items as Array<{ label: string }>)[1])
        await vscode.commands.executeCommand('leanCompanion.suggestTactics')
        const [request] = sent('$/leanCompanion/suggest')
        assert.deepEqual(request.params.textDocument, { uri: editor.document.uri.toString(), version: 1 })
        assert.deepEqual(request.params.position, { line: 1, character: 2 })
        assert.equal('maxSuggestions' in request.params, false, 'the proxy configuration (max_candidates) decides')
        assert.match(request.params.requestToken, /^vscode-/)
        const pick = vscode.state.quickPicks[0].items as Array<{ label: string; description: string }>
        assert.deepEqual(pick.map(i => i.label), ['simp', 'omega'])
        assert.match(pick[0].description, /closes the goal/)
        assert.equal(editor.document.text, 'theorem t (n : Nat) : n + 0 = n := by\n  omega\n')
        await eventually(() => sent('$/leanCompanion/status').length > 0, 'status refresh after suggesting')
    })

    it('inserts newText (indented for its place) rather than the bare tactic when the proxy sends it', async () => {
        replies['$/leanCompanion/suggest'] = {
            goal: 'p q : Prop ⊢ p ∧ q → q ∧ p',
            latencyMs: 12,
            suggestions: [
                { tactic: 'intro h\nexact h.1', newText: 'intro h\n  exact h.1', verdict: 'progress', goalsAfter: ['⊢ q'],
                  source: 'portfolio', score: 0.4, range: { start: { line: 1, character: 2 }, end: { line: 1, character: 7 } } },
            ],
        }
        vscode.state.answers.push((_m, items) => (items as Array<{ label: string }>)[0])
        await vscode.commands.executeCommand('leanCompanion.suggestTactics')
        assert.equal(editor.document.text, 'theorem t (n : Nat) : n + 0 = n := by\n  intro h\n  exact h.1\n')
    })

    it('says so when there is no suggestion, and changes nothing', async () => {
        replies['$/leanCompanion/suggest'] = { goal: 'False', latencyMs: 3, suggestions: [] }
        await vscode.commands.executeCommand('leanCompanion.suggestTactics')
        assert.match(vscode.state.messages[0].text, /no suggestion for this goal/)
        assert.equal(editor.document.text, TEXT)
    })

    it('sends $/leanCompanion/cancel with the request token when the user cancels', async () => {
        let release: (v: unknown) => void = () => undefined
        replies['$/leanCompanion/suggest'] = () => new Promise(resolve => (release = resolve))
        vscode.state.cancelNextProgress = true
        const done = vscode.commands.executeCommand('leanCompanion.suggestTactics')
        await eventually(() => lean.notifications.some(n => n.method === '$/leanCompanion/cancel'), 'cancel notification')
        const cancel = lean.notifications.find(n => n.method === '$/leanCompanion/cancel')!
        assert.equal(cancel.params.requestToken, sent('$/leanCompanion/suggest')[0].params.requestToken)
        release({ goal: null, latencyMs: 1, suggestions: [] })
        await done
    })

    it("explains 'method not found' as a server running without the companion", async () => {
        replies['$/leanCompanion/suggest'] = Object.assign(new Error('Method not found'), { code: -32601 })
        await vscode.commands.executeCommand('leanCompanion.suggestTactics')
        const error = vscode.state.messages.find(m => m.level === 'error')
        assert.ok(error)
        assert.match(error.text, /runs without the companion.*Restart Server/)
    })

    it('does nothing but warn outside a Lean file', async () => {
        vscode.openEditor(path.join(fx.project, 'notes.md'), '# hi\n', 0, 0, 'markdown')
        await vscode.commands.executeCommand('leanCompanion.suggestTactics')
        assert.equal(sent('$/leanCompanion/suggest').length, 0)
        assert.match(vscode.state.messages[0].text, /open a Lean file/)
    })
})

describe('Fill sorry', () => {
    const edit = (uri: string) => ({
        documentChanges: [{ textDocument: { uri, version: 1 }, edits: [{ range: { start: { line: 1, character: 2 }, end: { line: 1, character: 7 } }, newText: 'simp' }] }],
    })

    it('applies the Lean-checked edit the proxy returns', async () => {
        replies['$/leanCompanion/fillSorry'] = () => ({ status: 'proved', proof: 'simp', edit: edit(editor.document.uri.toString()), stats: { elapsedMs: 1500 } })
        await vscode.commands.executeCommand('leanCompanion.fillSorry')
        assert.equal(sent('$/leanCompanion/fillSorry')[0].params.scope, 'position')
        assert.equal(editor.document.text, 'theorem t (n : Nat) : n + 0 = n := by\n  simp\n')
        assert.match(vscode.state.messages.at(-1)!.text, /sorry filled \(checked by Lean, 1.5 s\)/)
    })

    it('does not apply a proof when the document changed during the search', async () => {
        replies['$/leanCompanion/fillSorry'] = () => {
            editor.document.applyEdits([{ range: new vscode.Range(new vscode.Position(0, 0), new vscode.Position(0, 0)), newText: '-- x\n' }])
            return { status: 'proved', edit: edit(editor.document.uri.toString()), stats: { elapsedMs: 10 } }
        }
        await vscode.commands.executeCommand('leanCompanion.fillSorry')
        assert.equal(editor.document.text, '-- x\n' + TEXT)
        assert.match(vscode.state.messages.at(-1)!.text, /file changed during the search/)
    })

    it('reports a failed search without touching the file', async () => {
        replies['$/leanCompanion/fillSorry'] = { status: 'timeout', stats: { elapsedMs: 60000 } }
        await vscode.commands.executeCommand('leanCompanion.fillSorry')
        assert.equal(editor.document.text, TEXT)
        assert.match(vscode.state.messages.at(-1)!.text, /no proof found within the time budget \(60.0 s\)/)
    })

    it('Fill all asks first (modal) and sends scope "file"; declining sends nothing', async () => {
        vscode.state.answers.push(undefined)
        await vscode.commands.executeCommand('leanCompanion.fillAllSorries')
        assert.equal(sent('$/leanCompanion/fillSorry').length, 0)
        replies['$/leanCompanion/fillSorry'] = () => ({ status: 'partial', filled: 1, remaining: 2, edit: edit(editor.document.uri.toString()), stats: { elapsedMs: 100 } })
        vscode.state.answers.push('Fill all')
        await vscode.commands.executeCommand('leanCompanion.fillAllSorries')
        assert.equal(sent('$/leanCompanion/fillSorry')[0].params.scope, 'file')
        assert.match(vscode.state.messages.at(-1)!.text, /filled 1 sorries, 2 left/)
    })
})

describe('other commands', () => {
    it('Show premises lists name, module and signature and inserts the name picked', async () => {
        replies['$/leanCompanion/premises'] = {
            premises: [{ name: 'Nat.add_zero', signature: '∀ (n : Nat), n + 0 = n', module: 'Init.Core', score: 0.8 }],
        }
        vscode.state.answers.push((_m, items) => (items as unknown[])[0])
        await vscode.commands.executeCommand('leanCompanion.showPremises')
        assert.equal(sent('$/leanCompanion/premises')[0].params.k, 20)
        const item = (vscode.state.quickPicks[0].items as Array<Record<string, string>>)[0]
        assert.deepEqual([item.label, item.description, item.detail], ['Nat.add_zero', 'Init.Core', '∀ (n : Nat), n + 0 = n'])
        assert.equal(editor.document.text, 'theorem t (n : Nat) : n + 0 = n := by\n  Nat.add_zerosorry\n')
    })

    it('Pull model runs `lean-companion models pull <id>` in a terminal, offering the models the proxy knows', async () => {
        replies['$/leanCompanion/status'] = {
            version: '0.1.0', pid: 1, index: { state: 'ready', declarations: 3 }, lastLatencyMs: null,
            models: [{ id: 'smollm2-135m', role: 'tactic', backend: 'gguf', installed: false, active: false, sizeBytes: 105e6 }],
        }
        vscode.state.answers.push((_m, items) => (items as unknown[])[0])
        await vscode.commands.executeCommand('leanCompanion.pullModel')
        assert.deepEqual(vscode.state.terminals[0], { name: 'Lean Companion: pull smollm2-135m', shellPath: fx.companion, shellArgs: ['models', 'pull', 'smollm2-135m'] })
    })

    it('Show companion log opens the log file the proxy names', async () => {
        const log = path.join(fx.root, 'proxy.log')
        await fs.writeFile(log, 'started\n')
        replies['$/leanCompanion/status'] = { version: '0.1.0', pid: 1, models: [], index: { state: 'absent', declarations: 0 }, lastLatencyMs: null, logFile: log }
        await vscode.commands.executeCommand('leanCompanion.showLog')
        assert.equal(vscode.state.shownDocuments[0].fsPath, log)
    })

    it('every request command degrades to a warning when no proxy is reachable', async () => {
        vscode.state.extensions.clear()
        for (const command of ['leanCompanion.suggestTactics', 'leanCompanion.fillSorry', 'leanCompanion.showPremises']) {
            vscode.state.messages = []
            await vscode.commands.executeCommand(command)
            assert.deepEqual(vscode.state.messages.map(m => m.text), [UNREACHABLE_MESSAGE], command)
        }
        assert.equal(editor.document.text, TEXT)
    })
})
