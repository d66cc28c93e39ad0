"""The copilot features of ``lean-companion serve``, installed on the proxy's router.

``install(router)`` registers (docs/copilot.md has the whole picture):

* the ``$/leanCompanion/*`` requests and notifications (suggest, fillSorry, premises, status,
  configure, cancel) and the ``Fill sorry`` command (``workspace/executeCommand``);
* response transformers merging checked suggestions into Lean's completions and code actions,
  and our widget into ``Lean.Widget.getWidgets`` replies; ``getWidgetSource`` for our module;
* a ``publishDiagnostics`` transformer merging "Try this"-style diagnostics into Lean's lists;
* observers: editor edits cancel stale work, closed documents are forgotten, and Lean's
  ``fileProgress`` starts the background sweep of a file's ``sorry`` s;
* an ``initialize`` hook advertising the fill command, and an ``initialize`` observer that reads
  the editor's params (project root, client capabilities);
* the problem board (:mod:`copilot.features.problems`): a broken configuration, an ignored
  editor setting, a model that cannot be used or an unwritable folder is shown once as a
  ``window/showMessage`` warning and listed in ``status``.

Everything fails open: a failing hook leaves Lean's message as it was (lsp_proxy.hooks).
"""
from __future__ import annotations

import logging
from typing import Any

from copilot.features import code_actions, completion, custom_requests, problems, progress, widget
from copilot.features import protocol as P
from copilot.features.context import CompanionContext
from copilot.features.diagnostics import MergedDiagnostics
from copilot.features.suggest import cancel_stale
from lsp_proxy.connection import SERVER_EXITED, SERVER_RESTARTED, EditorSession
from lsp_proxy.hooks import DROP, Direction
from lsp_proxy.lean_client import LeanClient

logger = logging.getLogger(__name__)

__all__ = ["CompanionContext", "install"]

COMPLETION_DEADLINE = 0.25
CODE_ACTION_DEADLINE = 0.25
RPC_DEADLINE = 0.25


def install(router: EditorSession) -> CompanionContext:
    """Register every feature's hooks on ``router``; returns the shared context."""
    client = LeanClient(router, request_timeout=30.0)
    ctx = CompanionContext(router=router, client=client)
    ctx.load(CompanionContext.project_root_from(None))
    hooks = router.hooks
    diagnostics = MergedDiagnostics(ctx)
    board = _install_problem_board(ctx)
    custom_requests.set_problem_source(ctx, board.status)

    # -- the editor's initialize: observed, never claimed --------------------------------
    def read_initialize(params: Any) -> None:
        if isinstance(params, dict):
            capabilities = params.get("capabilities")
            ctx.client_capabilities = capabilities if isinstance(capabilities, dict) else {}
            root = CompanionContext.project_root_from(params)
            if root != ctx.project_root:
                ctx.load(root)

    hooks.observe_initialize(read_initialize)

    def advertise(result: dict) -> dict:
        capabilities = result.setdefault("capabilities", {})
        provider = capabilities.get("executeCommandProvider")
        commands = list(provider.get("commands") or []) if isinstance(provider, dict) else []
        commands.append(code_actions.fill_command_id(ctx))
        capabilities["executeCommandProvider"] = {**(provider if isinstance(provider, dict) else {}),
                                                  "commands": commands}
        return result

    hooks.on_initialize(advertise)

    requests = {
        P.SUGGEST: lambda p: custom_requests.suggest(ctx, p),
        P.FILL_SORRY: lambda p: custom_requests.fill(ctx, p),
        P.PREMISES: lambda p: custom_requests.premises(ctx, p),
        P.STATUS: lambda p: custom_requests.status(ctx, p),
    }

    def on_initialized(_method: str, _params: Any) -> None:
        if not ctx.initialized:
            ctx.start()
            board.start()
            ctx.spawn(_check_environment(ctx, board), "check-environment")

    hooks.observe("initialized", on_initialized, direction=Direction.FROM_EDITOR)

    # -- custom requests -------------------------------------------------------------------
    for method, handler in requests.items():
        hooks.intercept_request(method, handler)
    hooks.intercept_request("workspace/executeCommand", lambda p: custom_requests.execute_fill_command(ctx, p),
                            when=lambda p: isinstance(p, dict) and p.get("command") == code_actions.fill_command_id(ctx))
    hooks.intercept_request("codeAction/resolve", code_actions.resolve, when=code_actions.is_ours)
    hooks.intercept_request("completionItem/resolve", code_actions.resolve, when=code_actions.is_ours)
    hooks.intercept_request("$/lean/rpc/call", widget.serve_source, when=widget.is_our_source_call)

    def companion_notification(handler: Any) -> Any:
        def transformer(params: Any) -> Any:
            try:
                handler(ctx, params)
            except Exception:  # logged, not swallowed silently; cancellation is not caught
                logger.warning("handling %r failed", params, exc_info=True)
            return DROP  # never forwarded to Lean, whatever happened
        return transformer

    hooks.transform_notification(P.CONFIGURE, companion_notification(custom_requests.configure),
                                 direction=Direction.FROM_EDITOR)
    hooks.transform_notification(P.CANCEL, companion_notification(custom_requests.cancel),
                                 direction=Direction.FROM_EDITOR)

    def progress_cancel(params: Any) -> Any:
        return DROP if progress.on_cancel_notification(ctx, params) else None

    hooks.transform_notification(progress.CANCEL_METHOD, progress_cancel, direction=Direction.FROM_EDITOR)
    hooks.observe("workspace/didChangeConfiguration",
                  lambda _m, p: custom_requests.did_change_configuration(ctx, p), direction=Direction.FROM_EDITOR)

    # -- merged surfaces -------------------------------------------------------------------
    hooks.transform_response("textDocument/completion", lambda p, r: completion.transform(ctx, p, r),
                             deadline=COMPLETION_DEADLINE)
    hooks.transform_response("textDocument/codeAction", lambda p, r: code_actions.transform(ctx, p, r),
                             deadline=CODE_ACTION_DEADLINE)
    hooks.transform_response("$/lean/rpc/call", lambda p, r: widget.transform_rpc(ctx, p, r), deadline=RPC_DEADLINE)
    hooks.transform_notification("textDocument/publishDiagnostics", diagnostics.transform)

    # -- edits, closes, Lean's progress ------------------------------------------------------
    def on_edit(_method: str, params: Any) -> None:
        uri = (params or {}).get("textDocument", {}).get("uri") if isinstance(params, dict) else None
        if isinstance(uri, str):
            cancel_stale(ctx, uri)

    def on_close(_method: str, params: Any) -> None:
        uri = (params or {}).get("textDocument", {}).get("uri") if isinstance(params, dict) else None
        if isinstance(uri, str):
            cancel_stale(ctx, uri)
            diagnostics.forget(uri)
            if ctx.checker is not None:
                ctx.spawn(ctx.checker.pool.release(uri), f"release-shadow:{uri}")

    hooks.observe("textDocument/didChange", on_edit, direction=Direction.FROM_EDITOR)
    hooks.observe("textDocument/didClose", on_close, direction=Direction.FROM_EDITOR)
    client.add_listener(diagnostics.on_client_event)

    def lean_state(method: str, _params: Any) -> None:
        if method == SERVER_EXITED:
            ctx.lean_running = False
        elif method == SERVER_RESTARTED:
            ctx.lean_running = True
            ctx.cache.clear()

    router.subscribe(lean_state, (SERVER_EXITED, SERVER_RESTARTED))
    logger.info("lean-companion features installed (pid %s, project %s)", ctx.pid, ctx.project_root)
    return ctx


def _install_problem_board(ctx: CompanionContext) -> problems.ProblemBoard:
    """A problem board whose messages go to the editor, fed by model loads and editor settings."""

    def send(problem: problems.Problem) -> None:
        ctx.spawn(ctx.router.notify_editor("window/showMessage", {"type": problems.WARNING, "message": problem.message}),
                  "show-problem")

    board = problems.ProblemBoard(send)
    configure = ctx.sources.configure

    def configure_and_watch(config: Any) -> None:
        configure(config)
        for slot in list(ctx.sources.slots.values()):
            if slot.task is not None and not getattr(slot.task, "_lc_watched", False):
                slot.task._lc_watched = True  # type: ignore[attr-defined]
                slot.task.add_done_callback(lambda _t, slot=slot: _model_settled(ctx, board, slot))

    ctx.sources.configure = configure_and_watch  # type: ignore[method-assign]
    set_overlay = ctx.set_overlay

    def set_overlay_and_tell(overlay: Any) -> list[str]:
        ignored = set_overlay(overlay)
        for problem in ignored:
            key = problem.split(":", 1)[0]
            board.report(problems.Problem(f"setting:{key}", f"{problems.PREFIX}editor setting ignored: {problem}. "
                                                             "Fix it in the editor's Lean Companion settings."))
        return ignored

    ctx.set_overlay = set_overlay_and_tell  # type: ignore[method-assign]
    return board


def _model_settled(ctx: CompanionContext, board: problems.ProblemBoard, slot: Any) -> None:
    if slot.state == "failed":
        board.report(problems.model_problem(slot.model_id, slot.error, ctx.config))
    elif slot.state == "ready":
        board.clear(f"model:{slot.model_id}")


async def _check_environment(ctx: CompanionContext, board: problems.ProblemBoard) -> None:
    """The configuration files and the folders (read in a thread: they touch the disk)."""
    import asyncio

    problem = await asyncio.to_thread(problems.config_problem, ctx.project_root)
    if problem is not None:
        board.report(problem)
    for problem in await asyncio.to_thread(problems.folder_problems, ctx.config):
        board.report(problem)
    # the embedding model is loaded by the premise index, not the sources: check its files here
    for problem in await asyncio.to_thread(problems.configured_model_problems, ctx.config, roles=("embedding",)):
        board.report(problem)

