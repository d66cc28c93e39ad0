// Drives the real VS Code workbench (code-server) in Chromium with playwright-core, as a user
// would: Lean Companion's consent, the server restart through the shim, diagnostics, the
// quick-fix menu on a `sorry`, the status bar and "Disable companion". Test code, run by
// tests/editors/test_vscode_workbench.py:
//     node drive.js CONFIG.json
// CONFIG: {playwright, chromium, url, outDir, file, sorryLine, timeoutMs, tool ('lake' | 'lean',
// the server program the stand-in starts), problem (text of a diagnostic to wait for, default
// 'sorry'), fill (default true: the Ctrl+. and fill steps)}. Every step waits for
// something in the DOM, saves a screenshot under outDir and records what it saw in
// outDir/steps.json; the Python test makes the assertions. A step that times out records its
// error and the script stops there (the screenshot shows where).
'use strict'
const fs = require('fs')
const path = require('path')

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const { chromium } = require(config.playwright)
const T = config.timeoutMs || 60000
const TOOL = config.tool || 'lake'
const PROBLEM = config.problem || 'sorry'
const FILL = config.fill !== false
const steps = []

function save() {
    fs.writeFileSync(path.join(config.outDir, 'steps.json'), JSON.stringify(steps, null, 2))
}

async function step(page, name, fn) {
    const record = { name, ok: false }
    steps.push(record)
    const started = Date.now()
    try {
        Object.assign(record, (await fn()) || {})
        record.ok = true
    } catch (error) {
        record.error = String((error && error.stack) || error).slice(0, 2000)
    }
    record.ms = Date.now() - started
    record.screenshot = `${String(steps.length).padStart(2, '0')}-${name}.png`
    await page.screenshot({ path: path.join(config.outDir, record.screenshot) }).catch(() => undefined)
    save()
    if (!record.ok) throw new Error(`step ${name} failed`)
}

/** The text of the status bar items, by element id. */
async function statusItems(page) {
    return page.$$eval('.statusbar-item', els =>
        els.map(e => ({ id: e.id, text: e.innerText.trim(), label: e.getAttribute('aria-label') || '' })))
}

async function waitForStatus(page, predicate, what, timeout = T) {
    const deadline = Date.now() + timeout
    let items = []
    while (Date.now() < deadline) {
        items = await statusItems(page)
        const found = items.find(predicate)
        if (found) return found
        await page.waitForTimeout(250)
    }
    throw new Error(`timed out waiting for the status bar to show ${what}; it shows ${JSON.stringify(items)}`)
}

/** The editor's text (Monaco renders spaces as U+00A0). */
async function editorText(page) {
    const text = await page.locator('.editor-instance .view-lines').first().innerText()
    return text.replace(/\u00a0/g, ' ')
}

async function runCommand(page, title) {
    await page.keyboard.press('F1')
    const input = page.locator('.quick-input-widget .quick-input-box input.input').first()
    await input.waitFor({ state: 'visible', timeout: T })
    await input.fill('>' + title)
    await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ timeout: T })
    await page.keyboard.press('Enter')
}

const isShim = item => item.id.includes('lean4-standin.server') && item.text.includes(`/shim/${TOOL}`)
const isPlain = item => item.id.includes('lean4-standin.server') && /Lean server: \//.test(item.text) && !item.text.includes('/shim/')
const isCompanion = item => item.id.startsWith('lean-companion.') && item.text.includes('·')

async function main() {
    const browser = await chromium.launch({
        executablePath: config.chromium,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
            '--disable-extensions', '--no-first-run', '--disable-sync'],
    })
    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } })
    try {
        await step(page, 'workbench', async () => {
            await page.goto(config.url)
            await page.waitForSelector('.monaco-workbench', { timeout: T })
            return { title: await page.title() }
        })

        await step(page, 'trust', async () => {
            const button = page.getByRole('button', { name: /Yes, I trust the authors/ })
            await button.waitFor({ state: 'visible', timeout: T })
            const dialog = (await page.locator('.monaco-dialog-box').first().innerText()).slice(0, 400)
            await button.click()
            await page.locator('.monaco-dialog-box').waitFor({ state: 'detached', timeout: T })
            return { dialog }
        })

        await step(page, 'open', async () => {
            await page.getByRole('treeitem', { name: path.basename(config.file) }).click()
            await page.locator('.editor-instance .view-lines').first().waitFor({ timeout: T })
            const plain = await waitForStatus(page, isPlain, 'Lean started directly (before consent)')
            return { text: await editorText(page), server: plain.text }
        })

        await step(page, 'consent', async () => {
            const toast = page.locator('.notification-toast', { hasText: 'lean4.envPathExtensions' })
            await toast.waitFor({ state: 'visible', timeout: T })
            const message = (await toast.innerText()).trim()
            const buttons = await toast.locator('.monaco-button').allInnerTexts()
            await page.screenshot({ path: path.join(config.outDir, 'consent-question.png') })
            await toast.locator('.monaco-button', { hasText: 'For all workspaces' }).click()
            return { message, buttons }
        })

        await step(page, 'restarted-through-shim', async () => {
            const server = await waitForStatus(page, isShim, 'Lean started through the shim')
            const companion = await waitForStatus(page, isCompanion, "the companion's status")
            return { server: server.text, companion: companion.text, companionLabel: companion.label }
        })

        await step(page, 'problems', async () => {
            await runCommand(page, 'View: Focus Problems')
            const row = page.locator('.markers-panel .monaco-list-row', { hasText: PROBLEM }).first()
            await row.waitFor({ state: 'visible', timeout: T })
            const rows = await page.locator('.markers-panel .monaco-list-row').allInnerTexts()
            return { rows: rows.map(r => r.replace(/\s+/g, ' ').trim()) }
        })

        if (FILL) await step(page, 'quick-fix', async () => {
            await page.locator('.editor-instance .view-lines').first().click()
            await page.keyboard.press('Control+G')
            const input = page.locator('.quick-input-widget .quick-input-box input.input').first()
            await input.waitFor({ state: 'visible', timeout: T })
            await input.fill(`:${config.sorryLine + 1}:4`)
            await page.keyboard.press('Enter')
            await page.waitForTimeout(500)
            // The companion answers code actions from its cache only (Lean is never held up) and
            // computes on a miss: a user who opens the menu again a moment later sees "Try: …".
            const menu = page.locator('.action-widget')
            const rows = menu.locator('.monaco-list-row')
            const deadline = Date.now() + T
            let actions = []
            let attempts = 0
            for (;;) {
                attempts++
                await page.keyboard.press('Control+.')
                await rows.filter({ hasText: 'Fill sorry with a proof' }).first().waitFor({ state: 'visible', timeout: T })
                actions = (await rows.allInnerTexts()).map(a => a.replace(/\s+/g, ' ').trim())
                if (actions.some(a => a.startsWith('Try: ')) || Date.now() > deadline) break
                await page.keyboard.press('Escape')
                await page.waitForTimeout(1000)
            }
            await page.screenshot({ path: path.join(config.outDir, 'quick-fix-menu.png') })
            // choose it with the keyboard, as the menu expects (its pointer guard swallows
            // synthetic clicks): the first action is focused, go down to ours and press Enter
            const labels = await menu.locator('.monaco-list-row.action').evaluateAll(els => els.map(e => e.getAttribute('aria-label') || ''))
            const index = labels.findIndex(l => l.startsWith('Fill sorry with a proof'))
            for (let i = 0; i < index; i++) await page.keyboard.press('ArrowDown')
            await page.keyboard.press('Enter')
            return { actions, attempts }
        })

        if (FILL) await step(page, 'filled', async () => {
            const deadline = Date.now() + T
            let text = await editorText(page)
            while (/\bsorry\b/.test(text.split('\n')[config.sorryLine] || '') && Date.now() < deadline) {
                await page.waitForTimeout(250)
                text = await editorText(page)
            }
            const line = text.split('\n')[config.sorryLine] || ''
            if (/\bsorry\b/.test(line)) throw new Error(`the sorry is still there: ${JSON.stringify(text)}`)
            // Lean (the double) elaborates the edit: the sorry warning leaves the Problems panel
            const gone = page.locator('.markers-panel .monaco-list-row', { hasText: 'sorry' })
            await gone.first().waitFor({ state: 'detached', timeout: T }).catch(() => undefined)
            return { text, line, sorryWarnings: await gone.count() }
        })

        await step(page, 'status-bar', async () => {
            const companion = await waitForStatus(page, isCompanion, "the companion's status")
            await page.locator(`[id="${companion.id}"]`).hover()
            await page.waitForTimeout(800)
            return { companion: companion.text, companionLabel: companion.label }
        })

        await step(page, 'disable', async () => {
            await runCommand(page, 'Lean Companion: Disable companion')
            const server = await waitForStatus(page, isPlain, 'Lean started directly again')
            const items = await statusItems(page)
            return { server: server.text, companionVisible: items.some(isCompanion) }
        })
    } finally {
        save()
        await browser.close()
    }
}

main().catch(error => {
    steps.push({ name: 'driver', ok: false, error: String((error && error.stack) || error).slice(0, 2000) })
    save()
    process.exit(1)
})
