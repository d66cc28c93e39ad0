"""copilot: what the user sees, built on lsp_proxy and local_models.

Lean-checked tactic suggestions, premise suggestions, proof search for ``sorry`` and the
LSP surfaces that carry them (completions, code actions, merged diagnostics, custom
``$/leanCompanion/*`` requests, the infoview widget), plus the ``lean-companion`` and
``fill-sorries`` command lines.
"""
