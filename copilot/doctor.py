"""``lean-companion doctor``: Lean's checks (:mod:`lsp_proxy.doctor`) plus the companion's own:
the configuration files, every configured model (resolved and its file headers checked; nothing
is loaded) and the folders it writes into — the same problems ``serve`` shows in the editor
(:mod:`copilot.features.problems`)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lsp_proxy import doctor


def companion_checks(cwd: Path | None = None) -> list[doctor.Check]:
    """One line per problem found, or one line saying the configuration is fine."""
    from copilot.features.problems import PREFIX, environment_problems
    from local_models.config import find_project_root

    root = find_project_root(cwd or Path.cwd())
    problems = environment_problems(root)
    if not problems:
        where = f"project {root}" if root is not None else "no project here"
        return [doctor.Check("companion", True, f"configuration, configured models and folders are usable ({where})")]
    return [doctor.Check(problem.key, False, "see below", problem.message.removeprefix(PREFIX)) for problem in problems]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lean-companion doctor``."""
    return doctor.main(argv, extra=companion_checks)
