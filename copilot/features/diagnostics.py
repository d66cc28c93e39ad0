""""Try this:"-style information diagnostics on ``sorry`` s that a checked tactic closes, merged
into Lean's own ``publishDiagnostics`` (lean-lsp-protocol.md §8.6).

Lean replaces a file's whole list with each publish, so ours ride along in every Lean publish
for the same version and are dropped as soon as Lean publishes a newer version. When our
results arrive after Lean's last publish of the current version and change the editor's list,
Lean's latest list for that version is sent again with ours added: the editor never receives a
list without Lean's, and never the same list twice because of us.

After Lean finishes a version (``fileProgress`` done for the editor's current version), the
``sorry`` s of the file (at most :data:`MAX_SORRIES`) are swept in the background.
"""
from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

from copilot.features.context import CompanionContext, Job
from copilot.features.suggest import suggestions
from copilot.features.targets import target_at
from copilot.proof_text import locate_sorries, offset_to_lsp
from copilot.shadow import is_shadow_uri

logger = logging.getLogger(__name__)

SOURCE = "lean-companion"
MAX_SORRIES = 5
PUBLISH = "textDocument/publishDiagnostics"


class MergedDiagnostics:
    """Our diagnostics per document version, and Lean's current list per document.

    ``visible`` is what the editor's list holds of ours (per document: the version and our
    diagnostics in it), so a result that changes nothing is never published again.
    Incremental publishes (``isIncremental: true``, lean-lsp-protocol.md §11.1) append to
    Lean's list; ours are added to an increment only when the editor's list lacks them, and a
    re-send is a full list (``isIncremental: false``).
    """

    def __init__(self, ctx: CompanionContext) -> None:
        self.ctx = ctx
        self.ours: dict[str, tuple[int, list[dict]]] = {}
        self.last_publish: dict[str, dict] = {}  # Lean's whole current list (increments folded in)
        self.visible: dict[str, tuple[Any, list[dict]]] = {}
        self.swept: dict[str, int] = {}

    # ---------------------------------------------------------------- Lean's publishes

    def transform(self, params: Any) -> Any:
        """Notification transformer: remember Lean's list, add ours for the same version."""
        if not isinstance(params, dict) or not isinstance(params.get("uri"), str):
            return None
        uri = params["uri"]
        published = params.get("version")
        incremental = params.get("isIncremental") is True
        previous = self.last_publish.get(uri)
        if incremental and previous is not None and previous.get("version") == published:
            lean_list = list(previous.get("diagnostics") or []) + list(params.get("diagnostics") or [])
            self.last_publish[uri] = {**params, "diagnostics": lean_list}
        else:
            self.last_publish[uri] = params
        extra = self._ours_for(uri, published)
        if incremental and self._shown(uri, published):
            return None  # an increment appends: the editor's list already holds ours (set() keeps them current)
        self.visible[uri] = (published, extra)
        if not extra:
            return None
        return {**params, "diagnostics": list(params.get("diagnostics") or []) + extra}

    def _ours_for(self, uri: str, published: Any) -> list[dict]:
        """Our diagnostics that belong in a Lean publish of version ``published``."""
        entry = self.ours.get(uri)
        if entry is None:
            return []
        version, extra = entry
        doc = self.ctx.router.documents.get(uri)
        current = doc.version if doc is not None else None
        if published != version and not (published is None and current == version):
            if published is not None and published > version:
                self.ours.pop(uri, None)  # stale: gone for good
            return []
        return extra

    def _shown(self, uri: str, version: Any) -> list[dict]:
        """Ours in the editor's current list for ``version``."""
        shown = self.visible.get(uri)
        return shown[1] if shown is not None and shown[0] == version else []

    def forget(self, uri: str) -> None:
        self.ours.pop(uri, None)
        self.last_publish.pop(uri, None)
        self.visible.pop(uri, None)
        self.swept.pop(uri, None)

    async def set(self, uri: str, version: int, diagnostics: list[dict]) -> None:
        """Store ours for ``version``; if Lean already published that version and the editor's
        list does not hold exactly these, re-send Lean's latest list with ours merged."""
        doc = self.ctx.router.documents.get(uri)
        if doc is None or doc.version != version:
            return
        self.ours[uri] = (version, diagnostics)
        last = self.last_publish.get(uri)
        if last is None or last.get("version") not in (version, None):
            return  # Lean's publish of this version will carry them
        if self._shown(uri, last.get("version")) == diagnostics:
            return  # the editor already has exactly this list: publishing it again is noise
        merged = copy.copy(last)
        merged["diagnostics"] = list(last.get("diagnostics") or []) + diagnostics
        if "isIncremental" in merged:
            merged["isIncremental"] = False
        self.visible[uri] = (last.get("version"), diagnostics)
        await self.ctx.router.notify_editor(PUBLISH, merged)

    # ---------------------------------------------------------------- the sorry sweep

    def on_client_event(self, kind: str, uri: str) -> None:
        """LeanClient listener: sweep a document once Lean finished its current version."""
        if kind != "progress" or not self.ctx.config.suggest.enabled or not self.ctx.config.suggest.diagnostics:
            return
        if is_shadow_uri(uri):
            return
        doc = self.ctx.router.documents.get(uri)
        if doc is None:
            return
        progress = self.ctx.client.progress(uri)
        if not progress.done or progress.version != doc.version or self.swept.get(uri) == doc.version:
            return
        self.swept[uri] = doc.version
        task = self.ctx.spawn(self.sweep(uri, doc.version), f"sweep:{uri}")
        self.ctx.track(Job(uri, task, "sweep"))

    async def sweep(self, uri: str, version: int) -> None:
        """Suggestions for the file's ``sorry`` s; closing ones become diagnostics."""
        await asyncio.sleep(self.ctx.config.suggest.debounce_ms / 1000)
        doc = self.ctx.router.documents.get(uri)
        if doc is None or doc.version != version:
            return
        text = doc.text
        found: list[dict] = []
        for location in locate_sorries(text)[:MAX_SORRIES]:
            target = target_at(uri, version, text, location.line, location.character, allow_line=False)
            if target is None:
                continue
            try:
                result = await suggestions(self.ctx, target)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.info("no suggestions for the sorry at %s:%d: %s", uri, location.line + 1, exc)
                continue
            closing = result.closing
            if not closing:
                continue
            sl, sc = offset_to_lsp(text, location.start)
            el, ec = offset_to_lsp(text, location.end)
            where = {"start": {"line": sl, "character": sc}, "end": {"line": el, "character": ec}}
            offered = await lean_offers(self.ctx, uri, where)
            closing = [c for c in closing if _collapse(c.tactic) not in offered]
            if not closing:
                continue  # Lean itself suggests each of them (e.g. autoTry.onSorry): no duplicate
            message = f"Try this: {closing[0].tactic}"
            if len(closing) > 1:
                message += "\n(also closes the goal: " + ", ".join(s.tactic for s in closing[1:4]) + ")"
            found.append({
                "range": where,
                "severity": 3,
                "source": SOURCE,
                "code": "leanCompanion.tryThis",
                "message": message + "\nChecked by Lean (Lean Companion).",
            })
        await self.set(uri, version, found)


LEAN_OFFERS_TIMEOUT = 5.0
MAX_RESOLVES = 5


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _overlaps(a: dict, b: dict) -> bool:
    def key(p: dict) -> tuple[int, int]:
        return (p["line"], p["character"])
    return key(a["start"]) <= key(b["end"]) and key(b["start"]) <= key(a["end"])


def _edit_texts(action: dict, where: dict) -> list[str]:
    """New texts of an action's edits that touch ``where``."""
    edit = action.get("edit") if isinstance(action.get("edit"), dict) else {}
    edits = [e for change in edit.get("documentChanges") or [] if isinstance(change, dict)
             for e in change.get("edits") or []]
    edits += [e for group in (edit.get("changes") or {}).values() for e in group or []]
    return [e["newText"] for e in edits if isinstance(e, dict) and isinstance(e.get("newText"), str)
            and isinstance(e.get("range"), dict) and _overlaps(e["range"], where)]


async def lean_offers(ctx: CompanionContext, uri: str, where: dict) -> set[str]:
    """Tactics Lean itself offers at ``where`` (its "Try this"/"Try these" suggestions, e.g.
    ``autoTry.onSorry``), read from its code actions rather than its message text (whose
    format changes between versions, lean-lsp-protocol.md §11.4); whitespace-collapsed."""
    params = {"textDocument": {"uri": uri}, "range": where, "context": {"diagnostics": [], "only": ["quickfix"]}}
    try:
        actions = await ctx.router.request("textDocument/codeAction", params, timeout=LEAN_OFFERS_TIMEOUT)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        logger.info("no code actions from Lean at %s: %s", uri, exc)
        return set()
    offered: set[str] = set()
    resolves = 0
    for action in actions if isinstance(actions, list) else []:
        if not isinstance(action, dict) or action.get("kind", "quickfix") != "quickfix":
            continue
        if "edit" not in action and "data" in action and resolves < MAX_RESOLVES:
            resolves += 1  # Lean's lazy actions carry their edit only after codeAction/resolve
            try:
                action = await ctx.router.request("codeAction/resolve", action, timeout=LEAN_OFFERS_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.info("codeAction/resolve failed at %s: %s", uri, exc)
                continue
            if not isinstance(action, dict):
                continue
        offered.update(_collapse(text) for text in _edit_texts(action, where))
    return offered
