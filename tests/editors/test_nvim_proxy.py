"""Neovim (headless) as a real LSP client of ``lean-companion serve`` in front of the Lean test
double, through the ``lean_companion`` plugin module: the plain LSP round trip, and recovery from
a server crash mid-session. The round trip and the companion tests run on the oldest supported
Neovim (Debian's 0.7.2) and a current one (0.12), where also the lean.nvim route
(``vim.lsp.config('leanls', {cmd = lean_nvim_cmd()})`` + ``vim.lsp.enable('leanls')``) is run;
``:checkhealth lean_companion`` is checked on all three. The crash test runs on 0.7.

The companion tests (status, sorry-filling, suggestions, premises) follow
docs/editor-protocol.md and run against ``lean-companion serve`` with copilot's features.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.editors.nvim_session import crash_once_wrapper, double_command, require_double, require_nvim, run_session

pytestmark = pytest.mark.nvim

SETTINGS = {"suggest": {"max_candidates": 4}}
#: (Neovim, how the client is configured): setup{} on both, lean.nvim's route on 0.12.
SETUPS = [("0.7", "setup"), ("0.12", "setup"), ("0.12", "lsp_config")]
SETUP_IDS = ["nvim0.7-setup", "nvim0.12-setup", "nvim0.12-lsp_config"]
# the venv's lean-companion on PATH, so that :checkhealth finds the program
VENV_PATH = {"PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}


def _lean_diagnostics(diagnostics: list[dict]) -> list[dict]:
    """Lean's own diagnostics (the companion's carry source "lean-companion")."""
    return [d for d in diagnostics if d.get("source") != "lean-companion"]


@pytest.fixture(scope="module", params=SETUPS, ids=SETUP_IDS)
def roundtrip(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    version, route = request.param
    require_nvim(version)
    require_double()
    tmp = tmp_path_factory.mktemp("nvim-roundtrip")
    observed = run_session(tmp, "roundtrip", double_command("--log", str(tmp / "double.jsonl")),
                           proxy_args=("--log-level", "DEBUG"), settings=SETTINGS, nvim_version=version, route=route,
                           health=True, extra_env=VENV_PATH)
    log = tmp / "double.jsonl"
    observed["_double_methods"] = [json.loads(line).get("method") for line in log.read_text().splitlines()
                                   if json.loads(line).get("dir") == "recv"] if log.exists() else None
    return observed


def test_client_attaches_to_lean_buffer(roundtrip: dict) -> None:
    """The plugin sets the `lean` filetype for *.lean, one client named `leanls` runs through
    the proxy (started by the module, or by vim.lsp.enable with the module's command) and is
    attached, and the module maps its keys on the buffer."""
    assert roundtrip["nvim"].startswith("0.")
    assert roundtrip["filetype"] == "lean"
    assert roundtrip["attached"] and roundtrip["client_name"] == "leanls"
    assert roundtrip["keymap"] is True
    assert roundtrip["client_count"] == 1
    assert roundtrip["still_attached"] is True


def test_diagnostics_arrive(roundtrip: dict) -> None:
    """Lean's diagnostics reach Neovim through the proxy: the "Try this" information on the
    `exact?` line and the sorry warning on the second theorem."""
    lean = _lean_diagnostics(roundtrip["diagnostics"])
    assert any(d["lnum"] == 1 and d["severity"] == 3 and "Try this" in d["message"]
               and "exact Nat.add_comm a b" in d["message"] for d in lean), lean
    assert any(d["lnum"] == 3 and d["severity"] == 2 and "sorry" in d["message"] for d in lean), lean


def test_hover_and_plain_goal(roundtrip: dict) -> None:
    """A hover and a `$/lean/plainGoal` request go through the proxy and come back answered."""
    assert roundtrip["hover"]["result"]["contents"]["value"] == "```lean\nNat\n```"
    assert roundtrip["plain_goal"]["result"]["goals"] == ["n : Nat\n⊢ n + 0 = n"]


def test_try_this_code_action_round_trip(roundtrip: dict) -> None:
    """The double's "Try this" quickfix comes back as a code action, `:LeanCompanionTry` applies
    its edit to the buffer, and the resulting didChange is elaborated (the message goes away)."""
    titles = [a["title"] for a in roundtrip["code_actions"]["result"]]
    assert "Try this: exact Nat.add_comm a b" in titles, titles
    assert "Try this: exact Nat.add_comm a b" in roundtrip["offered"]
    assert roundtrip["line_after_action"] == "  exact Nat.add_comm a b"
    assert roundtrip["try_this_gone"] is True
    assert [d["lnum"] for d in _lean_diagnostics(roundtrip["diagnostics_after_edit"])] == [3]


def test_companion_namespace_never_hangs(roundtrip: dict) -> None:
    """`$/leanCompanion/status` is answered by the proxy (a result, or MethodNotFound while no
    copilot feature handles it), never forwarded to Lean and never left hanging."""
    status = roundtrip["status"]
    assert "transport_error" not in status, status
    if "error" in status:
        assert status["error"]["code"] == -32601
        assert "$/leanCompanion/status" in status["error"]["message"]
    else:
        assert {"version", "models", "index"} <= set(status["result"])


def test_companion_messages_never_reach_lean(roundtrip: dict) -> None:
    """The plugin's `settings` leave Neovim as `$/leanCompanion/configure` at start-up, and
    neither it nor the `status` request is forwarded to Lean (the double logs all it receives)."""
    sent = Path(roundtrip["lsp_log"]).read_text(errors="replace")
    configure = [line for line in sent.splitlines() if "rpc.send" in line and "$/leanCompanion/configure" in line]
    assert configure and "max_candidates" in configure[0], "Neovim did not send the settings"
    methods = roundtrip["_double_methods"]
    assert methods is not None and "textDocument/didOpen" in methods
    assert not [m for m in methods if m and m.startswith("$/leanCompanion/")], methods


def test_checkhealth_reports_program_command_and_side_channel(roundtrip: dict) -> None:
    """`:checkhealth lean_companion` finds the program and its version, shows the server command
    and the attached client, and sees the proxy's side channel (its status file and socket)."""
    text = "\n".join(roundtrip["health"])
    assert "lean-companion program" in text and "found: " in text, text
    assert "version: lean-companion " in text, text
    assert "server command" in text and "serve --" in text, text
    assert "client 'leanls'" in text and "is attached to T.lean" in text, text
    assert "side channel" in text and "socket" in text and "proxy " in text, text
    assert "ERROR" not in text, text


def test_status_is_remembered_for_statuslines(roundtrip: dict) -> None:
    """:LeanCompanionStatus asks the proxy, and the module keeps the answer (with what later
    `$/leanCompanion/statusChanged` notifications bring) in `last_status` for statuslines."""
    assert roundtrip["status_kept"] is True
    assert {"version", "models", "index", "pid"} <= set(roundtrip["last_status"])
    # after `configure` turned code actions off, the pushed status says so (no request asked)
    assert roundtrip["status_pushed"] is True
    assert "codeActions" not in roundtrip["last_status"]["features"]


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> dict:
    # Neovim 0.7 only: the crash point is a message count tuned to 0.7's start-up traffic (0.12
    # sends more requests of its own first); what is tested here is the proxy's recovery.
    require_nvim("0.7")
    require_double()
    tmp: Path = tmp_path_factory.mktemp("nvim-crash")
    # The bare proxy (no copilot features injecting requests of their own) keeps the message
    # count deterministic: initialize, initialized, didOpen and the reply to the double's
    # watcher registration come first, so message 8 is the 4th hover of the Lua script's burst.
    return run_session(tmp, "crash", [str(crash_once_wrapper(tmp, crash_after=8))], proxy=("lsp_proxy",))


def test_crash_answers_in_flight_requests_with_errors(crash: dict) -> None:
    """When the server dies mid-session every request gets an answer: the ones in flight an
    error reply, the ones after it real results from the restarted server."""
    assert "injected crash" in crash["_proxy_log"], crash["_proxy_log"][-2000:]
    assert crash["all_answered"] is True
    outcomes = crash["outcomes"]
    assert len(outcomes) == crash["sent"] == 25
    failed = [o for o in outcomes if not o["ok"]]
    assert failed, "no request was in flight when the server crashed"
    assert all(isinstance(o["code"], int) and o["message"] for o in failed)
    by_index = sorted(outcomes, key=lambda o: o["i"])
    assert all(o["ok"] for o in by_index[:3]), by_index[:4]  # answered by the first server
    assert by_index[3]["ok"] is False, by_index[:6]  # the hover that was the 8th message
    # Only requests in flight at the crash fail (a contiguous run from the 4th); the rest,
    # queued while Lean restarts, are answered by the new server.
    last_failure = max(o["i"] for o in failed)
    assert sorted(o["i"] for o in failed) == list(range(4, last_failure + 1)), failed
    assert last_failure < 25 and all(o["ok"] for o in by_index[last_failure:]), by_index


def test_crash_documents_come_back_and_client_stays(crash: dict) -> None:
    """After the restart the proxy re-opens the document: diagnostics are published again, hover
    works, an edit is elaborated by the new server, and the same client stays attached."""
    assert crash["republished"] is True
    assert any("sorry" in d["message"] for d in _lean_diagnostics(crash["diagnostics_after"]))
    assert crash["hover_after"]["result"]["contents"]["value"] == "```lean\nNat\n```"
    assert crash["edit_elaborated"] is True
    assert not any("sorry" in d["message"] for d in _lean_diagnostics(crash["diagnostics_after_edit"]))
    assert crash["still_attached"] is True and crash["client_count"] == 1


THREE_SORRIES = """\
theorem add_zero' (n : Nat) : n + 0 = n := by
  sorry

theorem two : 2 + 2 = 4 := by
  sorry

theorem comm (a b : Nat) : a + b = b + a := by
  sorry
"""


@pytest.fixture(scope="module", params=SETUPS, ids=SETUP_IDS)
def filled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    version, route = request.param
    require_nvim(version)
    require_double()
    tmp = tmp_path_factory.mktemp("nvim-fill")
    return run_session(tmp, "fill", double_command(), text=THREE_SORRIES, nvim_version=version, route=route)


def test_fill_sorry_code_action(filled: dict) -> None:
    """The proxy's "Fill sorry with a proof (search)" code action, run from Neovim through
    workspace/executeCommand, replaces the sorry with a proof the Lean double accepts."""
    assert filled["fill_action_offered"], "the proxy did not offer 'Fill sorry with a proof (search)'"
    assert filled["line_after_action"] not in ("  sorry", None)
    assert "sorry" not in filled["line_after_action"]
    assert not any(d["lnum"] == 0 and "sorry" in d["message"] for d in _lean_diagnostics(filled["diagnostics_after"]))


def test_fill_sorry_request(filled: dict) -> None:
    """:LeanCompanionFillSorry sends $/leanCompanion/fillSorry through the proxy and applies the
    Lean-checked edit; afterwards Lean reports no sorry in the file."""
    assert "result" in filled["status"], filled["status"]
    assert filled["line_after_request"] not in ("  sorry", None)
    assert filled["sorry_gone"] is True, filled["diagnostics_after"]


def test_suggest_and_premises_requests(filled: dict) -> None:
    """:LeanCompanionSuggest lists Lean-checked tactics for the goal under the cursor (best first)
    and the one picked replaces the sorry, which Lean then accepts; `$/leanCompanion/premises`
    answers with the documented fields."""
    assert "result" in filled["status"], filled["status"]
    offered = filled["suggestions_offered"]
    assert offered, "no suggestion for a + b = b + a"
    assert {o["verdict"] for o in offered} <= {"closes", "progress"}, "unchecked suggestions must not be offered"
    assert offered[0]["verdict"] == "closes", offered
    assert filled["line_after_suggest"].strip() and "sorry" not in filled["line_after_suggest"]
    assert filled["sorry_gone"] is True, filled["diagnostics_after"]
    premises = filled["premises"]["result"]["premises"]
    assert isinstance(premises, list)
    for premise in premises:
        assert {"name", "signature", "module", "score"} <= set(premise)
