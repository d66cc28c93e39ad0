"""The premise index: the project's declarations (project, Lake packages, toolchain), searchable.

Public API (see ``docs/premises.md``)::

    index = PremiseIndex.open(project_root, encoder=None)
    index.search(query, k=32, file=path, line=n)   # -> list[PremiseHit]
    index.search_goal(goal_text, k, file=..., line=...)
    index.search_prefix("Nat.add_", k)
    index.update_file(path); index.remove_file(path)
    index.start_watching(); index.stop_watching()
    index.stats()

All methods block; copilot calls them from a worker thread.
"""
import logging

from .index import PremiseIndex
from .records import Declaration, PremiseHit

# Library logging only: the host (proxy, CLI) decides where records go; nothing reaches stderr
# through logging's last-resort handler when it configures nothing.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["Declaration", "PremiseHit", "PremiseIndex"]
