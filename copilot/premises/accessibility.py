"""Which declarations a position can use: imported modules (transitively) and the file above it."""
from __future__ import annotations

from collections.abc import Iterable, Mapping


def import_closure(module: str, imports: Mapping[str, Iterable[str]]) -> set[str]:
    """``module`` and every module it imports, directly or not (unknown modules included)."""
    seen = {module}
    stack = [module]
    while stack:
        for dep in imports.get(stack.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen

