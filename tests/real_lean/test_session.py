"""The recorded multi-file session against real Lean: directly, through the bare proxy and
through ``lean-companion serve``, compared message by message.

Two comparisons, so that nothing depends on Lean's timing:

* **same run** (the strong one): Lean's stdio is copied by a ``tee`` wrapper
  (:func:`tests.real_lean.session.tee_command`), and what the editor received must be exactly
  what Lean sent, body for body and in the same order (and what Lean received exactly what the
  editor sent), except the documented differences below;
* **across runs**: the answer to every request, and the last diagnostics of every version, are
  byte-identical whether the editor talks to Lean directly or through either proxy. The only
  normalisation is the random RPC ``sessionId``. What is *not* compared across runs, because
  it depends on timing in Lean itself: how many ``workspace/inlayHint/refresh`` /
  ``semanticTokens/refresh`` requests arrive (one per ~0.5 s / ~2 s while a file is being
  elaborated), whether a quickly superseded version gets an early empty publish and a kind-1
  ``fileProgress``, and how replies interleave with notifications.

Documented differences of ``lean-companion serve`` (docs/copilot.md), and whether this session
triggers them:

1. the ``initialize`` reply's ``executeCommandProvider.commands`` gains the fill command
   ``leanCompanion.proxy.<pid>.fillSorry`` (triggered);
2. the companion's own traffic with Lean (ids ``lcp:…``, their ``$/cancelRequest``, and shadow
   documents ``.lean-companion-shadow-*``) never reaches the editor (not triggered: no ``sorry``);
3. ``publishDiagnostics``: the companion's checked ``Try this`` diagnostics (source
   ``lean-companion``) are appended to Lean's list, and Lean's list is re-sent once when they
   arrive after Lean's last publish of that version (not triggered: no ``sorry``; an *identical*
   re-publish is a bug, see test_serve_publishes_exactly_what_lean_publishes);
4. completion, code-action and ``getWidgets`` replies gain checked suggestions at tactic
   positions and on ``sorry`` (not triggered here).
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.real_lean.session import (
    Recording,
    bare_proxy,
    final_publishes,
    first_difference,
    isolated_env,
    normalise,
    publish_counts,
    read_frames,
    run_session,
    serve,
    tee_command,
    write_project,
)

pytestmark = [pytest.mark.real_lean, pytest.mark.timeout(600)]

FILL_COMMAND_SUFFIX = ".fillSorry"


class Run:
    """One recording and Lean's own side of the same run."""

    def __init__(self, recording: Recording, folder: Path) -> None:
        self.recording = recording
        self.from_lean = read_frames(folder / "from-lean.bin")
        self.to_lean = read_frames(folder / "to-lean.bin")


@pytest.fixture(scope="module")
def runs(real_lean: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """The session run directly, through the bare proxy and through serve (one project path, so
    URIs inside Lean's answers are the same in every run)."""
    base = tmp_path_factory.mktemp("real-session")
    root = write_project(base / "proj")
    out: dict[str, Run] = {}
    for name in ("direct", "bare", "serve"):
        folder = base / name
        folder.mkdir()
        server = tee_command(folder, real_lean)
        argv = server if name == "direct" else (bare_proxy if name == "bare" else serve)(folder, server)
        recording = asyncio.run(run_session(argv, root, env=isolated_env(folder)))
        out[name] = Run(recording, folder)
    return out


def companion_owned(message: dict[str, Any]) -> bool:
    """Documented difference 2: the companion's own traffic with Lean."""
    id_ = message.get("id")
    if isinstance(id_, str) and id_.startswith("lcp"):
        return True
    params = message.get("params")
    if message.get("method") == "$/cancelRequest" and isinstance(params, dict):
        return str(params.get("id", "")).startswith("lcp")
    if isinstance(params, dict):
        uri = params.get("uri") or (params.get("textDocument") or {}).get("uri") or ""
        return ".lean-companion-shadow-" in uri
    return False


def without_fill_command(body: bytes) -> dict[str, Any]:
    """Documented difference 1, undone: the initialize reply without our fill command."""
    message = json.loads(body)
    provider = message["result"]["capabilities"].get("executeCommandProvider") or {}
    commands = [c for c in provider.get("commands", []) if not c.endswith(FILL_COMMAND_SUFFIX)]
    if commands:
        provider["commands"] = commands
    else:
        provider.pop("commands", None)
        if not provider:
            message["result"]["capabilities"].pop("executeCommandProvider", None)
    return message


def test_direct_session_is_sane(runs: dict[str, Run]) -> None:
    """The reference run itself: every request answered, Lean exits 0 and says nothing on stderr."""
    rec = runs["direct"].recording
    assert rec.returncode == 0
    assert rec.stderr == b""
    assert json.loads(rec.replies[3])["result"]["range"]["start"] == {"line": 7, "character": 7}  # after 𝔸 (2 units)
    assert json.loads(rec.replies["never"])["error"]["code"] == -32801  # cancelled wait: answered at shutdown only
    assert isinstance(json.loads(rec.replies[15])["result"]["sessionId"], str)
    assert first_difference(runs["direct"].from_lean, rec.bodies) is None  # the tee itself changes nothing


def test_bare_proxy_is_byte_faithful_in_the_same_run(runs: dict[str, Run]) -> None:
    """Through ``python -m lsp_proxy``: the editor gets exactly Lean's bodies in Lean's order,
    and Lean gets exactly the editor's."""
    run = runs["bare"]
    assert run.recording.returncode == 0
    assert run.recording.stderr == b""
    assert first_difference(run.from_lean, run.recording.bodies) is None
    assert first_difference(run.recording.sent, run.to_lean) is None


def test_serve_differs_only_as_documented_in_the_same_run(runs: dict[str, Run]) -> None:
    """Through ``lean-companion serve``: byte-identical except the documented differences."""
    run = runs["serve"]
    rec = run.recording
    assert rec.returncode == 0
    assert rec.stderr == b""
    lean_side = [body for body in run.from_lean if not companion_owned(json.loads(body))]
    # 1: the initialize reply (the first message both sides) differs only by the fill command
    assert without_fill_command(rec.bodies[0]) == json.loads(lean_side[0])
    commands = json.loads(rec.bodies[0])["result"]["capabilities"]["executeCommandProvider"]["commands"]
    assert [c for c in commands if c.endswith(FILL_COMMAND_SUFFIX)] != []
    # everything else: byte for byte, nothing added, dropped or reordered
    assert first_difference(lean_side[1:], rec.bodies[1:]) is None
    to_lean = [body for body in run.to_lean if not companion_owned(json.loads(body))]
    assert first_difference(rec.sent, to_lean) is None


@pytest.mark.parametrize("proxy", ["bare", "serve"])
def test_answers_identical_to_direct_across_runs(runs: dict[str, Run], proxy: str) -> None:
    """Every answer (normalising only the random RPC ``sessionId``) and the final diagnostics of
    every version are the same as when the editor talks to Lean directly."""
    direct, proxied = runs["direct"].recording, runs[proxy].recording
    assert sorted(map(str, proxied.replies)) == sorted(map(str, direct.replies))
    for id_, body in direct.replies.items():
        theirs = proxied.replies[id_]
        if id_ == 0 and proxy == "serve":
            assert without_fill_command(theirs) == json.loads(body)  # documented difference 1
            continue
        assert normalise(theirs) == normalise(body), f"reply {id_!r} differs"
    assert final_publishes(proxied.messages, proxied.bodies) == final_publishes(direct.messages, direct.bodies)


def test_serve_publishes_exactly_what_lean_publishes(runs: dict[str, Run]) -> None:
    """No identical re-publication: with no companion diagnostic to add, the editor gets exactly
    as many ``publishDiagnostics`` per version as Lean sent in that run (it used to get one more,
    ~300 ms after each final publish)."""
    run = runs["serve"]
    lean_counts = publish_counts([json.loads(b) for b in run.from_lean if not companion_owned(json.loads(b))])
    assert publish_counts(run.recording.messages) == lean_counts
