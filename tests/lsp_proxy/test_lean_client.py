"""LeanClient over an in-memory connection: document sync, Lean's diagnostics rules, goals,
RPC sessions (reconnect on -32900), timeouts and server restarts."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lsp_proxy.connection import SERVER_RESTARTED
from lsp_proxy.errors import RPC_NEEDS_RECONNECT, LeanRequestError, LeanTimeout
from lsp_proxy.lean_client import (
    LeanClient,
    Position,
    Range,
    TextChange,
    apply_change,
    index_to_position,
    position_to_index,
)


class FakeConnection:
    """Records what the client sends; requests are answered by ``handler`` (or hang)."""

    def __init__(self, handler=None) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.private: dict[str, bool] = {}
        self.callbacks = []
        self.handler = handler

    async def request(self, method: str, params, *, timeout=None):
        self.sent.append(("request", method, params))
        if self.handler is None:
            await asyncio.sleep(timeout if timeout is not None else 3600)
            raise LeanTimeout(method)
        return await self.handler(method, params)

    async def notify(self, method: str, params) -> None:
        self.sent.append(("notify", method, params))

    def subscribe(self, callback, methods=None):
        self.subscribed_methods = methods
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def set_private_uri(self, uri: str, private: bool = True) -> None:
        self.private[uri] = private

    @property
    def initialize_result(self):
        return {}

    def push(self, method: str, params: Any) -> None:
        for callback in list(self.callbacks):
            callback(method, params)

    def notifications(self, method: str) -> list:
        return [p for kind, m, p in self.sent if kind == "notify" and m == method]


def diag(message: str, line: int = 0, severity: int = 1) -> dict:
    rng = {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 5}}
    return {"range": rng, "fullRange": rng, "severity": severity, "message": message, "source": "Lean 4"}


def publish(uri: str, version: int, *diags: dict, incremental: bool | None = None) -> dict:
    params = {"uri": uri, "version": version, "diagnostics": list(diags)}
    if incremental is not None:
        params["isIncremental"] = incremental
    return params


def progress(uri: str, version: int, processing: list | None = None) -> dict:
    return {"textDocument": {"uri": uri, "version": version}, "processing": processing or []}


URI = "file:///p/Shadow.lean"


async def test_open_change_close_send_lean_messages_and_mark_private() -> None:
    """open/change/close send didOpen/didChange/didClose with increasing versions, and the
    document is private (and stays so after close)."""
    conn = FakeConnection()
    client = LeanClient(conn)
    await client.open(URI, "theorem t : True := by\r\n  trivial\n")
    assert conn.private[URI] is True
    opened = conn.notifications("textDocument/didOpen")[0]
    assert opened["textDocument"]["version"] == 1
    assert "\r" not in opened["textDocument"]["text"]
    assert await client.change(URI, "x") == 2
    assert await client.change(URI, "y", 7) == 7
    with pytest.raises(ValueError):
        await client.change(URI, "z", 7)
    with pytest.raises(ValueError):
        await client.open(URI, "again")
    await client.close(URI)
    assert conn.private[URI] is True  # Lean's closing empty publish must stay private too
    assert conn.notifications("textDocument/didClose") == [{"textDocument": {"uri": URI}}]
    assert client.open_documents == []


async def test_incremental_change_applies_utf16_ranges_like_lean() -> None:
    """Ranged changes are applied in UTF-16 units to the mirror and sent as ranges."""
    conn = FakeConnection()
    client = LeanClient(conn)
    await client.open(URI, "a 𝔽 ⊢ b\nsecond")
    # Replace "b" (after the astral 𝔽 counting 2 units): line 0, characters 7..8.
    change = TextChange(text="c", range=Range(Position(0, 7), Position(0, 8)))
    await client.change_incremental(URI, [change, TextChange(text="!", range=Range(Position(1, 6), Position(1, 6)))])
    assert client.document_text(URI) == "a 𝔽 ⊢ c\nsecond!"
    sent = conn.notifications("textDocument/didChange")[0]["contentChanges"][0]
    assert sent["range"]["start"] == {"line": 0, "character": 7}
    assert index_to_position("a 𝔽 ⊢ c", 6) == Position(0, 7)
    assert position_to_index("x\na 𝔽 ⊢ c", Position(1, 7)) == 8
    assert apply_change("abc", TextChange(text="X\r\nY")) == "X\nY"


async def test_diagnostics_replace_per_version_drop_older_and_append_incremental() -> None:
    """A publish replaces the list of its version, older versions are dropped, a new version
    starts empty, and isIncremental appends."""
    conn = FakeConnection()
    client = LeanClient(conn)
    conn.push("textDocument/publishDiagnostics", publish(URI, 2, diag("a")))
    conn.push("textDocument/publishDiagnostics", publish(URI, 2, diag("a"), diag("b")))
    assert [d.message for d in client.diagnostics(URI)] == ["a", "b"]
    conn.push("textDocument/publishDiagnostics", publish(URI, 1, diag("old")))
    assert [d.message for d in client.diagnostics(URI)] == ["a", "b"]
    conn.push("textDocument/publishDiagnostics", publish(URI, 3, diag("c")))
    conn.push("textDocument/publishDiagnostics", publish(URI, 3, diag("d"), incremental=True))
    assert [d.message for d in client.diagnostics(URI)] == ["c", "d"]
    conn.push("textDocument/publishDiagnostics", publish(URI, 3, diag("e"), incremental=False))
    assert [d.message for d in client.diagnostics(URI)] == ["e"]
    assert client.diagnostics_version(URI) == 3


async def test_early_empty_publish_does_not_count_as_arrived() -> None:
    """Real Lean 4.35's order (lean-lsp-protocol.md §12): an early empty publish, then
    ``processing: []`` twice, then the final publish. Only that last one counts as arrived."""
    conn = FakeConnection()
    client = LeanClient(conn)
    rng = {"start": {"line": 0, "character": 0}, "end": {"line": 3, "character": 0}}
    conn.push("$/lean/fileProgress", progress(URI, 4, [{"range": rng, "kind": 1}]))
    conn.push("textDocument/publishDiagnostics", publish(URI, 4))
    assert not client.diagnostics_arrived(URI, 4)
    assert not client.progress(URI).done
    conn.push("$/lean/fileProgress", progress(URI, 4))
    conn.push("$/lean/fileProgress", progress(URI, 4))
    assert client.progress(URI).done
    assert not client.diagnostics_arrived(URI, 4)
    conn.push("textDocument/publishDiagnostics", publish(URI, 4, diag("final")))
    assert client.diagnostics_arrived(URI, 4)
    assert [d.message for d in client.diagnostics(URI)] == ["final"]


async def test_wait_until_done_waits_for_the_publish_after_done_progress() -> None:
    """wait_until_done returns only with the version's final diagnostics: when the progress
    says done first, a waitForDiagnostics barrier (answered after the final publish) follows."""

    async def handler(method, params):
        assert method == "textDocument/waitForDiagnostics"
        conn.push("textDocument/publishDiagnostics", publish(URI, params["version"], diag("late")))
        return {}

    conn = FakeConnection(handler)
    client = LeanClient(conn)
    conn.push("textDocument/publishDiagnostics", publish(URI, 1))
    conn.push("$/lean/fileProgress", progress(URI, 1))
    done = await client.wait_until_done(URI, 1, timeout=2)
    assert done.done
    assert [d.message for d in client.diagnostics(URI)] == ["late"]
    assert [method for _, method, _ in conn.sent] == ["textDocument/waitForDiagnostics"]


async def test_wait_for_diagnostics_sends_barrier_and_returns_that_versions_list() -> None:
    """wait_for_diagnostics sends textDocument/waitForDiagnostics for our version and then
    returns the diagnostics published for it (and [] when the stored ones are older)."""

    async def handler(method, params):
        if method == "textDocument/waitForDiagnostics":
            conn.push("textDocument/publishDiagnostics", publish(URI, params["version"], diag("boom")))
            return {}
        raise AssertionError(method)

    conn = FakeConnection(handler)
    client = LeanClient(conn)
    await client.open(URI, "x", version=5)
    diags = await client.wait_for_diagnostics(URI)
    assert [d.message for d in diags] == ["boom"]
    assert conn.sent[-1][2] == {"uri": URI, "version": 5}

    async def silent(method, params):
        return {}

    conn.handler = silent
    await client.change(URI, "y")
    assert await client.wait_for_diagnostics(URI) == []


async def test_requests_time_out_when_lean_never_answers() -> None:
    """A crashed worker never answers: every wait has a timeout and raises LeanTimeout."""
    client = LeanClient(FakeConnection(None), request_timeout=0.05)
    await client.open(URI, "x")
    with pytest.raises(LeanTimeout):
        await client.wait_for_diagnostics(URI)
    with pytest.raises(LeanTimeout):
        await client.plain_goal(URI, 0, 0)
    with pytest.raises(LeanTimeout):
        await client.wait_until_done(URI, 1, timeout=0.05)


async def test_plain_goal_and_term_goal_are_parsed() -> None:
    """plainGoal/plainTermGoal results become Structs; null stays None."""

    async def handler(method, params):
        if method == "$/lean/plainGoal":
            if params["position"]["line"] == 9:
                return None
            return {"rendered": "```lean\n⊢ True\n```", "goals": ["⊢ True"]}
        rng = {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 7}}
        return {"goal": "⊢ Nat", "range": rng}

    client = LeanClient(FakeConnection(handler))
    goal = await client.plain_goal(URI, 1, 2)
    assert goal is not None and goal.goals == ["⊢ True"]
    assert await client.plain_goal(URI, 9, 0) is None
    term = await client.plain_term_goal(URI, 1, 3)
    assert term is not None and term.goal == "⊢ Nat" and term.range.start == Position(1, 2)


async def test_interactive_goals_reconnect_on_outdated_session() -> None:
    """A -32900 reply drops the session, reconnects once and retries; goals are flattened."""
    connects = []
    big = 18446744073709551000

    async def handler(method, params):
        if method == "$/lean/rpc/connect":
            connects.append(params)
            return {"sessionId": big + len(connects)}
        if params["sessionId"] == big + 1:
            raise LeanRequestError(RPC_NEEDS_RECONNECT, "Outdated RPC session")
        return {
            "goals": [
                {
                    "hyps": [{"names": ["a", "b"], "fvarIds": ["_1", "_2"], "type": {"text": "Nat"}}],
                    "type": {"append": [{"tag": [{"info": {"p": "1"}}, {"text": "a"}]}, {"text": " = b"}]},
                    "goalPrefix": "⊢ ",
                    "userName": "h",
                    "mvarId": "_m",
                    "ctx": {"p": "2"},
                }
            ]
        }

    client = LeanClient(FakeConnection(handler))
    goals = await client.interactive_goals(URI, 3, 2)
    assert len(connects) == 2
    assert goals is not None and goals[0].text == "case h\na b : Nat\n⊢ a = b"
    await client.aclose()


async def test_server_restart_reopens_own_documents() -> None:
    """On SERVER_RESTARTED the client re-opens its documents with their current text and
    version and forgets the old diagnostics."""
    conn = FakeConnection()
    client = LeanClient(conn)
    await client.open(URI, "one")
    await client.change(URI, "two")
    conn.push("textDocument/publishDiagnostics", publish(URI, 2, diag("x")))
    conn.push(SERVER_RESTARTED, {})
    await asyncio.sleep(0.01)
    reopened = conn.notifications("textDocument/didOpen")
    assert len(reopened) == 2
    assert reopened[-1]["textDocument"]["text"] == "two" and reopened[-1]["textDocument"]["version"] == 2
    assert client.diagnostics(URI) == []


async def test_malformed_notifications_are_ignored() -> None:
    """A malformed publish from Lean is logged and ignored, never raised into the pump."""
    conn = FakeConnection()
    client = LeanClient(conn)
    conn.push("textDocument/publishDiagnostics", {"uri": URI, "diagnostics": "nope"})
    conn.push("$/lean/fileProgress", {"bad": 1})
    assert client.diagnostics(URI) == []


async def test_reopen_continues_versions_so_late_close_publish_is_stale() -> None:
    """Re-opening a closed URI continues its version sequence, so Lean's late empty publish
    for the previous incarnation cannot hide the new one's diagnostics."""
    conn = FakeConnection()
    client = LeanClient(conn)
    assert await client.open(URI, "a") == 1
    await client.change(URI, "b")
    await client.close(URI)
    assert await client.open(URI, "c") == 3
    conn.push("textDocument/publishDiagnostics", publish(URI, 2))  # late, from the old worker
    conn.push("textDocument/publishDiagnostics", publish(URI, 3, diag("fresh")))
    assert [d.message for d in client.diagnostics(URI)] == ["fresh"]


@pytest.mark.parametrize(
    "message,expected",
    [
        ("declaration uses 'sorry'", True),  # Lean ≤ 2025 (src/Lean/AddDecl.lean)
        ("declaration uses `sorry`", True),  # 2025
        ("declaration `mySorryDef` uses `sorry`", True),  # newest (tests/lean/run/sorryWarningDeclName.lean)
        ("declaration `withWhere.helper` uses `sorry`", True),
        ("declaration `example` uses `sorry`", True),
        ("declaration uses sorry", False),
        ("declaration `foo` uses `sorryAx`", False),
        ("unsolved goals\n⊢ True", False),
        ("'foo' depends on axioms: [sorryAx]", False),
    ],
)
def test_sorry_warning_matches_every_lean_wording(message: str, expected: bool) -> None:
    """Lean's sorry warning is recognised in all three wordings Lean has used (quotes,
    backticks, and the newest form naming the declaration), and nothing else matches."""
    from lsp_proxy.lean_client import Diagnostic, is_sorry_message

    assert is_sorry_message(message) is expected
    zero = Position(0, 0)
    warning = Diagnostic(range=Range(zero, zero), message=message, severity=2)
    assert warning.is_sorry_warning is expected
    assert not Diagnostic(range=Range(zero, zero), message=message, severity=3).is_sorry_warning


def test_interactive_goal_text_shows_let_values_like_plain_goal() -> None:
    """A let-bound hypothesis (`val` in Lean's HypBundle) is shown `x : Nat := 5`, the way
    `$/lean/plainGoal` prints it; case tags and the conv prefix are kept."""
    from lsp_proxy.lean_client import parse_interactive_goals

    result = {
        "goals": [
            {
                "hyps": [
                    {"names": ["a", "b"], "fvarIds": ["_1", "_2"], "type": {"text": "Nat"}},
                    {"names": ["x"], "fvarIds": ["_3"], "type": {"tag": [{"info": {"p": "1"}}, {"text": "Nat"}]},
                     "val": {"append": [{"text": "2 + "}, {"text": "3"}]}},
                ],
                "type": {"text": "x = 5"},
                "goalPrefix": "⊢ ",
                "userName": "h",
                "mvarId": "_m",
                "ctx": {"p": "0"},
            },
            {"hyps": [], "type": {"text": "True = True"}, "goalPrefix": "| ", "mvarId": "_n", "ctx": {"p": "2"}},
        ]
    }
    goals = parse_interactive_goals(result)
    assert [g.text for g in goals] == ["case h\na b : Nat\nx : Nat := 2 + 3\n⊢ x = 5", "| True = True"]


async def test_diagnostics_are_converted_only_when_asked_and_a_bad_one_is_skipped() -> None:
    """Publishes are stored as Lean's JSON (no per-diagnostic conversion behind the proxy); the
    typed list is built on demand, once, and a malformed entry is skipped, not the publish."""
    conn = FakeConnection()
    client = LeanClient(conn)
    conn.push("textDocument/publishDiagnostics", publish(URI, 1, diag("a"), {"message": 7}, diag("b")))
    first = client.diagnostics(URI)
    assert [d.message for d in first] == ["a", "b"]
    assert client.diagnostics(URI) == first
    conn.push("textDocument/publishDiagnostics", publish(URI, 1, diag("c"), incremental=True))
    assert [d.message for d in client.diagnostics(URI)] == ["a", "b", "c"]
