"""Editor integrations: the VS Code extension, Neovim against the proxy, packaging."""
