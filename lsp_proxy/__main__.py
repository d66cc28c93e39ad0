"""``python -m lsp_proxy [serve options] -- SERVER_CMD ...``: the bare proxy, no features."""
from __future__ import annotations

import sys

from lsp_proxy.cli import main

if __name__ == "__main__":
    sys.exit(main())
