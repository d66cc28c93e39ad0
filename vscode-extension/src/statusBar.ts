/** The status bar item: active model, premise index state and the last suggestion latency. */
import * as vscode from 'vscode'
import type { StatusResult } from './protocol'

export interface StatusText {
    text: string
    tooltip: string
}

/** What the status bar shows for `status` (undefined: the companion is unreachable). */
export function formatStatus(status: StatusResult | undefined, reason?: string): StatusText {
    if (!status) {
        return {
            text: '$(circle-slash) Companion',
            tooltip: `Lean Companion: not connected${reason ? ` (${reason})` : ''}. Click for the log.`,
        }
    }
    const tactic = status.models.find(m => m.active && m.role === 'tactic') ?? status.models.find(m => m.active)
    const model = tactic ? tactic.id : 'portfolio'
    const index =
        status.index.state === 'ready' ? `${status.index.declarations} decls` : status.index.state
    const latency = status.lastLatencyMs == null ? '–' : status.lastLatencyMs >= 1000
        ? `${(status.lastLatencyMs / 1000).toFixed(1)} s` : `${Math.round(status.lastLatencyMs)} ms`
    const icon = status.busy ? '$(sync~spin)' : '$(lightbulb)'
    return {
        text: `${icon} ${model} · ${index} · ${latency}`,
        tooltip: [
            `Lean Companion ${status.version}`,
            `Model: ${model}`,
            `Premise index: ${status.index.state} (${status.index.declarations} declarations)`,
            `Last suggestion latency: ${latency}`,
        ].join('\n'),
    }
}

/** Owns the status bar item; `show` updates it. */
export class StatusBar implements vscode.Disposable {
    readonly item: vscode.StatusBarItem

    constructor(command: string) {
        this.item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100)
        this.item.command = command
    }

    show(status: StatusResult | undefined, reason?: string): void {
        const { text, tooltip } = formatStatus(status, reason)
        this.item.text = text
        this.item.tooltip = tooltip
        this.item.show()
    }

    hide(): void {
        this.item.hide()
    }

    dispose(): void {
        this.item.dispose()
    }
}
