"""``lean-companion serve``: the proxy with the copilot features installed.

The features live in :mod:`copilot.features` (``install(router)``). If that module is missing
or fails to import, the failure is logged and the proxy runs as a plain pass-through.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence

from lsp_proxy import cli

logger = logging.getLogger(__name__)


def install_features(router: object) -> None:
    """Import :mod:`copilot.features` and let it register its hooks on ``router``."""
    try:
        features = importlib.import_module("copilot.features")
    except ImportError:
        logger.warning("copilot.features could not be imported; running the bare proxy", exc_info=True)
        return
    install = getattr(features, "install", None)
    if install is None:
        logger.warning("copilot.features has no install(router); running the bare proxy")
        return
    install(router)
    logger.info("copilot features installed")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lean-companion serve``."""
    return cli.main(argv, install=install_features)


if __name__ == "__main__":
    import sys

    sys.exit(main())
