"""RPC sessions and the JSON of Lean's widget RPC methods (lean-lsp-protocol.md §3.6)."""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from .goals import RefMaker, interactive_goal, tagged
from .state import Session


def open_session(sessions: dict[str, Session], rng: random.Random, wire_format: str, numeric_refs: bool) -> str:
    """A new session with a random 64-bit id (top bit set, so it exceeds 2^53), as Lean sends it:
    a JSON string of decimal digits (lean-lsp-protocol.md §12)."""
    session_id = str(rng.getrandbits(64) | (1 << 63))
    sessions[session_id] = Session(time.monotonic(), RefMaker(wire_format, numeric=numeric_refs))
    return session_id


def touch_session(sessions: dict[str, Session], session_id: Any, expiry_s: float) -> Session | None:
    """The live session with that id (its expiry clock restarted), or None if unknown/expired."""
    session = sessions.get(session_id) if isinstance(session_id, str) else None
    if session is None:
        return None
    now = time.monotonic()
    if now - session.last > expiry_s:
        del sessions[session_id]
        return None
    session.last = now
    return session


def interactive_term_goal(term: dict[str, Any], refs: RefMaker, ids: Callable[[], int]) -> dict[str, Any]:
    """``InteractiveTermGoal`` for a plain term goal ``{goal, range}``."""
    goal = interactive_goal(term["goal"], refs, ids)
    return {"hyps": goal["hyps"], "type": goal["type"], "ctx": goal["ctx"], "range": term["range"], "term": refs()}


def interactive_diagnostics(diagnostics: list[dict[str, Any]], refs: RefMaker) -> list[dict[str, Any]]:
    """Diagnostics with their message as TaggedText (``getInteractiveDiagnostics``)."""
    out = []
    for d in diagnostics:
        d = dict(d)
        d["message"] = tagged(d["message"], refs)["tag"][1]
        out.append(d)
    return out
