"""lsp_proxy: a transparent, crash-proof LSP proxy between an editor and Lean's server.

It frames and forwards every message untouched (original bytes), lets features hook
requests, responses and notifications per direction and method, injects its own requests
with ids that can never collide with either side's, supervises and restarts the Lean
process, mirrors open documents, and offers :class:`LeanClient`, an async API for Lean
(goals, diagnostics, documents) usable behind the proxy or headless.

This package never imports :mod:`copilot` or :mod:`local_models`.
"""
