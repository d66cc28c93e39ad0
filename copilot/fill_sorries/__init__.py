"""fill-sorries: the headless batch command that fills a project's sorries with proofs Lean
accepted (verified again in the real file before anything is written)."""
