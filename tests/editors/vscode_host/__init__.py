"""The real VS Code workbench (code-server) for the end-to-end test: test code."""
