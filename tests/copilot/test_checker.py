"""The checker against the Lean test double: verdicts, batched == single, unsafe candidates
never reach Lean, the user's document and directory are never touched, timeouts."""
from __future__ import annotations

import json
import os
from pathlib import Path

from copilot.checker import Checker, CheckerConfig, CheckTarget, build_shadow_text
from copilot.proof_text import locate_sorries
from copilot.shadow import is_shadow_uri, shadow_uri
from tests.copilot.double import SCENARIOS, double_client, write_scenario
from tests.copilot.test_safety import HOSTILE

TEXT = """import Foo

theorem t (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by
  rw [Nat.add_zero]
  sorry

theorem later : True := trivial
"""

CANDIDATES = [
    "rw [Nat.add_zero]\nexact h",  # accepted
    "rw [Nat.add_zero]",  # incomplete: a ≤ b left
    "simp",  # error
    "exact h",  # error: type mismatch
    "skip",  # incomplete, same goal
    "sorry",  # rejected-unsafe
    "slow_tactic",  # error: unknown tactic here
]


def _target(tmp_path: Path, text: str = TEXT) -> CheckTarget:
    uri = (tmp_path / "A.lean").as_uri()
    return CheckTarget.for_sorry(uri, text, locate_sorries(text)[0])


def _summary(results):
    return [(r.status, r.message.split("\n")[0], r.goals) for r in results]


async def test_verdicts_and_batched_agrees_with_single(tmp_path: Path) -> None:
    """Each candidate gets the verdict Lean's answer implies, and one batched elaboration
    gives exactly the single-candidate verdicts."""
    target = _target(tmp_path)
    async with double_client() as client:
        checker = Checker(client, CheckerConfig(batch_size=16))
        batched = await checker.check_many(target, CANDIDATES)
        elaborations_batched = checker.elaborations
        single = await checker.check_many(target, CANDIDATES, batch=False)
        await checker.close()
    assert _summary(batched) == _summary(single)
    statuses = [r.status for r in batched]
    assert statuses == ["accepted", "incomplete", "error", "error", "incomplete", "rejected-unsafe", "error"]
    assert batched[1].goals == ["a b : Nat\nh : a ≤ b\n⊢ a ≤ b"]
    assert batched[2].message == "simp made no progress"
    assert elaborations_batched == 1
    assert checker.elaborations == 1 + 6  # one per safe candidate when unbatched


async def test_unsafe_candidates_never_reach_lean(tmp_path: Path) -> None:
    """Every hostile candidate of the safety corpus is refused before Lean: the double's
    message log shows none of them in any document text."""
    log = tmp_path / "double.jsonl"
    target = _target(tmp_path)
    async with double_client(SCENARIOS / "search.json", "--log", str(log)) as client:
        checker = Checker(client)
        hostile = [c for c in HOSTILE if c.strip()]
        results = await checker.check_many(target, hostile + ["rw [Nat.add_zero]\nexact h"])
        await checker.close()
    assert all(r.status == "rejected-unsafe" for r in results[:-1])
    assert results[-1].status == "accepted"
    texts = []
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        params = entry.get("params") or {}
        if entry.get("method") == "textDocument/didOpen":
            texts.append(params["textDocument"]["text"])
        if entry.get("method") == "textDocument/didChange":
            texts.extend(c["text"] for c in params["contentChanges"])
    assert texts, "the double saw no document at all"
    sent = "\n".join(texts)
    assert "sorry" not in sent.replace("declaration uses", "")
    for candidate in hostile:
        assert candidate.strip() not in sent.replace(TEXT, ""), candidate


async def test_user_document_and_directory_are_never_touched(tmp_path: Path) -> None:
    """Checking opens only shadow URIs (never the user's), writes nothing to the user's
    directory, and closes its shadows at the end."""
    log = tmp_path / "logs" / "double.jsonl"
    log.parent.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    (project / "A.lean").write_text(TEXT, encoding="utf-8")
    before = sorted(os.listdir(project))
    target = _target(project)
    async with double_client(SCENARIOS / "search.json", "--log", str(log)) as client:
        checker = Checker(client)
        await checker.check(target, "rw [Nat.add_zero]\nexact h")
        assert client.open_documents == [shadow_uri(target.uri, 0)]
        await checker.close()
        assert client.open_documents == []
    assert sorted(os.listdir(project)) == before
    assert (project / "A.lean").read_text(encoding="utf-8") == TEXT
    uris = set()
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("dir") == "recv" and entry.get("method", "").startswith("textDocument/did"):
            uris.add(entry["params"]["textDocument"]["uri"])
    assert uris and all(is_shadow_uri(u) for u in uris)
    assert target.uri not in uris
    assert shadow_uri(target.uri, 0).startswith(project.as_uri() + "/.lean-companion-shadow-A-")


async def test_other_sorries_and_axioms_decide_acceptance(tmp_path: Path) -> None:
    """A proof that depends on sorryAx (a sorried premise, seen through ``#print axioms``) or
    on a non-standard axiom is not accepted; the standard axioms are fine; a declaration that
    keeps another user sorry may still accept a step."""
    scenario = write_scenario(
        tmp_path / "axioms.json",
        {
            "declarations": {
                "(a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0": "a b : Nat\nh : a ≤ b\n⊢ a + 0 ≤ b + 0",
                "(p : Prop) (hp : p) : p ∧ True": "p : Prop\nhp : p\n⊢ p ∧ True",
            },
            "tactics": [
                {"goal": "*", "tactic": "exact sorry_lemma", "result": []},
                {"goal": "*", "tactic": "exact good_lemma", "result": []},
                {"goal": "*", "tactic": "exact cheat_lemma", "result": []},
                {"goal": "*", "tactic": "exact classical_lemma", "result": []},
                {"goal": "*", "tactic": "exact _lc_other_sorry", "result": []},
            ],
            "diagnostics": [
                {
                    "pattern": "exact sorry_lemma\\s*\\n\\s*#print axioms (_lc_cand_\\d+)",
                    "group": 1,
                    "severity": 3,
                    "message": "'_lc_cand' depends on axioms: [propext, sorryAx]",
                },
                {
                    "pattern": "exact cheat_lemma\\s*\\n\\s*#print axioms (_lc_cand_\\d+)",
                    "group": 1,
                    "severity": 3,
                    "message": "'_lc_cand' depends on axioms: [propext, cheat]",
                },
                {
                    "pattern": "exact classical_lemma\\s*\\n\\s*#print axioms (_lc_cand_\\d+)",
                    "group": 1,
                    "severity": 3,
                    "message": "'_lc_cand' depends on axioms: [propext,\n Classical.choice,\n Quot.sound]",
                },
            ],
        },
    )
    text = "theorem t (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by\n  sorry\n"
    target = _target(tmp_path, text)
    two = "theorem t (p : Prop) (hp : p) : p ∧ True := by\n  constructor\n  · sorry\n  · sorry\n"
    locs = locate_sorries(two)
    target_two = CheckTarget.for_sorry((tmp_path / "B.lean").as_uri(), two, locs[1])
    async with double_client(scenario) as client:
        checker = Checker(client)
        results = await checker.check_many(
            target, ["exact sorry_lemma", "exact good_lemma", "exact cheat_lemma", "exact classical_lemma"]
        )
        kept = await checker.check(target_two, "trivial")
        await checker.close()
    assert results[0].status == "error" and "sorryAx" in results[0].message
    assert results[1].status == "accepted"
    assert results[2].status == "error" and "non-standard axioms: cheat" in results[2].message
    assert results[3].status == "accepted"  # the three standard axioms, printed over lines
    assert target_two.other_sorries and kept.status == "accepted", kept
    # the declaration's other sorry is our own axiom in the copy: no sorry warning is left
    assert not any(d.is_sorry_warning for d in kept.diagnostics)


async def test_heartbeat_and_wall_time_timeouts(tmp_path: Path) -> None:
    """Lean's heartbeat error becomes ``timeout``; so does a check that exceeds the wall-time
    limit, after which the shadow is reset and the next check works."""
    scenario = write_scenario(
        tmp_path / "slow.json",
        {
            "declarations": {"(x : Nat) : x = x + 0": "x : Nat\n⊢ x = x + 0"},
            "tactics": [
                {"goal": "*", "tactic": "heavy", "result": {"error": "(deterministic) timeout at `whnf`, maximum number of "
                                                                      "heartbeats (200000) has been reached"}},
                {"goal": "*", "tactic": "rfl_ok", "result": []},
            ],
            "delays": {"decls": {"_lc_cand_0": 1500}},
        },
    )
    text = "theorem t (x : Nat) : x = x + 0 := by\n  sorry\n"
    target = _target(tmp_path, text)
    async with double_client(scenario) as client:
        quick = Checker(client, CheckerConfig(wall_timeout=0.4, per_candidate_timeout=0.0))
        await quick.initial_goals(target)  # opens the shadow (a fresh one gets open_timeout)
        slow = await quick.check(target, "rfl_ok")  # copy 0 takes 1.5 s in this scenario
        assert slow.status == "timeout"
        relaxed = Checker(client, CheckerConfig(wall_timeout=10.0), pool=quick.pool)
        results = await relaxed.check_many(target, ["heavy", "rfl_ok"])
        await quick.close()
    assert [r.status for r in results] == ["timeout", "accepted"]


def test_shadow_text_wraps_renames_and_keeps_statement() -> None:
    """Each copy is wrapped in set_option maxHeartbeats, renamed, followed by #print axioms,
    and the statement check sees the signature unchanged."""
    target = CheckTarget.for_sorry("file:///p/A.lean", TEXT, locate_sorries(TEXT)[0])
    text, slots = build_shadow_text(target, ["simp", "rfl"], CheckerConfig(max_heartbeats=1234))
    assert text.startswith("import Foo\n\nset_option maxHeartbeats 1234 in\ntheorem _lc_cand_0 (a b : Nat)")
    assert "theorem _lc_cand_1 (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by\n  rw [Nat.add_zero]\n  rfl" in text
    assert "#print axioms _lc_cand_1" in text
    assert "later" not in text  # truncated after the declaration
    assert all(s.statement_ok for s in slots)
    assert text[slots[1].cand_end - 3 : slots[1].cand_end] == "rfl"


async def test_checking_through_the_proxy_stays_private(tmp_path: Path) -> None:
    """Behind the proxy's router (a live editor session), checks run in private shadow
    documents: the editor sees nothing about them, and its own document keeps working."""
    import asyncio

    from lsp_proxy.lean_client import LeanClient
    from lsp_proxy.router import Router
    from lsp_proxy.transport import LeanProcess, ServerCommand
    from tests.copilot.double import REPO_ROOT, double_command
    from tests.lsp_proxy.memory import FrameSink, frame

    editor_in, editor = asyncio.StreamReader(), FrameSink()
    command = ServerCommand(double_command(SCENARIOS / "search.json", "--elab-delay-ms", "5"), cwd=str(REPO_ROOT))
    router = Router(editor_in, editor, lambda: LeanProcess.spawn(command))
    task = asyncio.ensure_future(router.run())
    seen: list[dict] = []

    async def reply(id_: int) -> dict:
        while True:
            message = await editor.message(timeout=10)
            seen.append(message)
            if message.get("id") == id_ and "method" not in message:
                return message

    target = _target(tmp_path)
    editor_in.feed_data(frame({"id": 0, "method": "initialize", "params": {"capabilities": {}}}))
    await reply(0)
    editor_in.feed_data(frame({"method": "initialized", "params": {}}))
    editor_in.feed_data(frame({"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": target.uri, "languageId": "lean4", "version": 1, "text": TEXT}}}))
    checker = Checker(LeanClient(router))
    results = await checker.check_many(target, CANDIDATES[:4])
    await checker.close()
    editor_in.feed_data(frame({"id": 1, "method": "textDocument/waitForDiagnostics",
                               "params": {"uri": target.uri, "version": 1}}))
    await reply(1)
    editor_in.feed_data(frame({"id": 2, "method": "shutdown"}))
    await reply(2)
    editor_in.feed_data(frame({"method": "exit"}))
    assert await asyncio.wait_for(task, 10) == 0
    while not editor.nothing_pending():
        seen.append(await editor.message())

    assert [r.status for r in results] == ["accepted", "incomplete", "error", "error"], results[0].message
    leaked = [m for m in seen if ".lean-companion-shadow-" in json.dumps(m) or "_lc_cand_" in json.dumps(m)]
    assert not leaked, leaked
    published = [m["params"]["uri"] for m in seen if m.get("method") == "textDocument/publishDiagnostics"]
    assert published and set(published) == {target.uri}


async def test_accepted_behind_other_copies_is_confirmed_alone(tmp_path: Path) -> None:
    """A candidate accepted at a later position in a batch is re-checked alone: here the
    scenario makes `exact_found_prev` succeed only when an earlier copy exists (as `exact?`
    could find a failed earlier copy in real Lean), so the confirmed verdict is an error."""
    scenario = write_scenario(
        tmp_path / "borrow.json",
        {
            "declarations": {"(a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0": "a b : Nat\nh : a ≤ b\n⊢ a + 0 ≤ b + 0"},
            "tactics": [
                {"goal": "*", "tactic": "exact_found_prev", "result": []},
                {"goal": "*", "tactic": "honest_closer", "result": []},
            ],
            "diagnostics": [
                {
                    "pattern": "_lc_cand_0 [^\\n]*\\n  (exact_found_prev)",
                    "group": 1,
                    "message": "no earlier copy to borrow from",
                }
            ],
        },
    )
    text = "theorem t (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by\n  sorry\n"
    target = _target(tmp_path, text)
    async with double_client(scenario) as client:
        checker = Checker(client)
        batched = await checker.check_many(target, ["simp", "exact_found_prev", "honest_closer"])
        assert checker.elaborations == 1 + 2  # the batch, then each later acceptance alone
        unconfirmed = Checker(client, CheckerConfig(confirm_accepted=False), pool=checker.pool)
        raw = await unconfirmed.check_many(target, ["simp", "exact_found_prev"])
        single = await checker.check(target, "exact_found_prev")
        await checker.close()
    assert [r.status for r in batched] == ["error", "error", "accepted"]
    assert batched[1].message == "no earlier copy to borrow from" == single.message
    assert raw[1].status == "accepted"  # what batching alone would have claimed


async def test_checks_recover_after_lean_restarts_behind_the_proxy(tmp_path: Path) -> None:
    """When Lean dies mid-check behind the router, that check fails with a LeanError, the
    router restarts Lean, LeanClient re-opens its shadow on SERVER_RESTARTED, and later
    checks work again."""
    import asyncio

    from lsp_proxy.errors import LeanError
    from lsp_proxy.lean_client import LeanClient
    from lsp_proxy.router import Router
    from lsp_proxy.supervisor import RestartPolicy
    from lsp_proxy.transport import LeanProcess, ServerCommand
    from tests.copilot.double import REPO_ROOT, double_command
    from tests.lsp_proxy.memory import FrameSink, frame

    editor_in, editor = asyncio.StreamReader(), FrameSink()
    argv = double_command(SCENARIOS / "search.json", "--elab-delay-ms", "5", "--crash-after", "14")
    command = ServerCommand(argv, cwd=str(REPO_ROOT))
    router = Router(editor_in, editor, lambda: LeanProcess.spawn(command),
                    policy=RestartPolicy(backoff=(0.05,), max_per_minute=10), stop_grace=0.5)
    task = asyncio.ensure_future(router.run())
    target = _target(tmp_path)
    editor_in.feed_data(frame({"id": 0, "method": "initialize", "params": {"capabilities": {}}}))
    while (await editor.message(timeout=10)).get("id") != 0:
        pass
    editor_in.feed_data(frame({"method": "initialized", "params": {}}))
    client = LeanClient(router, request_timeout=5.0)
    events: list[str] = []
    client.add_listener(lambda kind, uri: events.append(kind))
    checker = Checker(client, CheckerConfig(wall_timeout=5.0, open_timeout=5.0))
    outcomes = []
    for _ in range(10):
        try:
            result = await checker.check(target, "rw [Nat.add_zero]\nexact h")
            outcomes.append(result.status)
        except LeanError as exc:
            outcomes.append(type(exc).__name__)
    await checker.close()
    router.request_stop()
    await asyncio.wait_for(task, 10)
    assert router.restarts >= 1 and "restarted" in events
    failed_at = next(i for i, o in enumerate(outcomes) if o != "accepted")
    assert outcomes[:failed_at] == ["accepted"] * failed_at and failed_at >= 2
    assert outcomes[failed_at] == "LeanExited"
    assert outcomes[failed_at + 1] == "accepted", outcomes  # the very next check works again


def test_examples_become_named_noncomputable_defs() -> None:
    """An ``example`` copy is a named ``noncomputable def`` (so its axioms can be printed),
    with the statement unchanged."""
    text = "example (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by\n  sorry\n"
    target = CheckTarget.for_sorry("file:///p/E.lean", text, locate_sorries(text)[0])
    shadow, slots = build_shadow_text(target, ["simp", "omega"], CheckerConfig())
    assert "noncomputable def _lc_cand_1 (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by\n  omega" in shadow
    assert "#print axioms _lc_cand_1" in shadow
    assert all(s.statement_ok for s in slots)
    assert shadow[slots[0].cand_end - 4 : slots[0].cand_end] == "simp"


async def test_example_checks_against_the_double(tmp_path: Path) -> None:
    """Checking an example's sorry works end to end."""
    text = "example (a b : Nat) (h : a ≤ b) : a + 0 ≤ b + 0 := by\n  sorry\n"
    target = _target(tmp_path, text)
    async with double_client() as client:
        checker = Checker(client)
        results = await checker.check_many(target, ["simp only [Nat.add_zero]\nexact h", "simp"])
        await checker.close()
    assert [r.status for r in results] == ["accepted", "error"]


async def test_term_sorry_inside_a_tactic_block_gets_its_expected_type(tmp_path: Path) -> None:
    """For `have h : p := sorry` the goal is the term's expected type (plainTermGoal), not the
    enclosing tactic's goal that plainGoal reports there."""
    text = "theorem conj (p : Prop) (hp : p) : p ∧ True := by\n  have h : p := sorry\n  exact ⟨h, trivial⟩\n"
    loc = locate_sorries(text)[0]
    assert (loc.kind, loc.in_have) == ("term", True)
    scenario = write_scenario(
        tmp_path / "term.json",
        {
            "declarations": {"(p : Prop) (hp : p) : p ∧ True": "p : Prop\nhp : p\n⊢ p ∧ True"},
            "positions": [{"line": loc.line, "character": loc.character, "term_goal": {"goal": "p : Prop\nhp : p\n⊢ p"}}],
        },
    )
    target = CheckTarget.for_sorry((tmp_path / "T.lean").as_uri(), text, loc)
    async with double_client(scenario) as client:
        checker = Checker(client)
        goals, kind = await checker.initial_goals(target)
        tactic_goal = await client.plain_goal(shadow_uri(target.uri, 0), loc.line, loc.character)
        await checker.close()
    assert (goals, kind) == (["p : Prop\nhp : p\n⊢ p"], "term")
    assert tactic_goal is not None and tactic_goal.goals == ["p : Prop\nhp : p\n⊢ p ∧ True"]


async def test_timed_out_batch_is_retried_in_halves(tmp_path: Path) -> None:
    """When a batch exceeds the wall time because of one slow copy, its halves are checked
    separately so the fast neighbour still gets its real verdict."""
    scenario = write_scenario(
        tmp_path / "neighbour.json",
        {
            "declarations": {"(x : Nat) : x = x + 0": "x : Nat\n⊢ x = x + 0"},
            "tactics": [{"goal": "*", "tactic": "rfl_ok", "result": []}],
            "delays": {"decls": {"_lc_cand_1": 1500}},  # the second copy of a batch is slow
        },
    )
    text = "theorem t (x : Nat) : x = x + 0 := by\n  sorry\n"
    target = _target(tmp_path, text)
    async with double_client(scenario) as client:
        checker = Checker(client, CheckerConfig(wall_timeout=0.5, per_candidate_timeout=0.0))
        await checker.initial_goals(target)
        before = checker.elaborations
        results = await checker.check_many(target, ["rfl_ok", "simp"])
        await checker.close()
    assert [r.status for r in results] == ["accepted", "error"]
    assert checker.elaborations - before == 3  # the batch, then each half


def test_protected_copies_lose_protected_so_axioms_can_be_printed() -> None:
    """`protected` is dropped from copies (a protected name cannot be printed by its short
    name); the statement is unchanged."""
    text = "namespace Foo\n\nprotected theorem bar (x : Nat) : x = x + 0 := by\n  sorry\n"
    target = CheckTarget.for_sorry("file:///p/P.lean", text, locate_sorries(text)[0])
    shadow, slots = build_shadow_text(target, ["rfl"], CheckerConfig())
    assert "\ntheorem _lc_cand_0 (x : Nat) : x = x + 0 := by\n  rfl\n\n#print axioms _lc_cand_0" in shadow
    assert slots[0].statement_ok and shadow[slots[0].cand_end - 3 : slots[0].cand_end] == "rfl"


async def test_an_error_from_print_axioms_blocks_acceptance(tmp_path: Path) -> None:
    """If `#print axioms` itself fails (the copy cannot be found), the axioms are unverified
    and the candidate is not accepted."""
    scenario = write_scenario(
        tmp_path / "printerr.json",
        {
            "declarations": {"(x : Nat) : x = x + 0": "x : Nat\n⊢ x = x + 0"},
            "tactics": [{"goal": "*", "tactic": "rfl_ok", "result": []}],
            "diagnostics": [{"pattern": "#print axioms (_lc_cand_\\d+)", "group": 1, "message": "unknown constant '_lc_cand_0'"}],
        },
    )
    target = _target(tmp_path, "theorem t (x : Nat) : x = x + 0 := by\n  sorry\n")
    async with double_client(scenario) as client:
        checker = Checker(client)
        result = await checker.check(target, "rfl_ok")
        await checker.close()
    assert result.status == "error" and "could not verify" in result.message


# --------------------------------------------------------------------------- real-Lean shadow text


def _shadow(text: str, candidates: list[str], index: int = 0):
    target = CheckTarget.for_sorry("file:///p/A.lean", text, locate_sorries(text)[index])
    return build_shadow_text(target, candidates, CheckerConfig(max_heartbeats=99))


def test_module_files_get_no_print_axioms() -> None:
    """In a file of Lean's module system `#print axioms` is an error ("cannot use `#print
    axioms` in a `module`", src/Lean/Elab/Print.lean), which would reject every candidate:
    copies there are not followed by it."""
    shadow, slots = _shadow("module\n\npublic import Foo\n\ntheorem t : True := by\n  sorry\n", ["trivial", "simp"])
    assert "#print axioms" not in shadow
    assert "theorem _lc_cand_1 : True := by\n  simp" in shadow
    assert all(slot.print_start == -1 for slot in slots)
    plain, _ = _shadow("import Foo\n\ntheorem t : True := by\n  sorry\n", ["trivial"])
    assert "#print axioms _lc_cand_0" in plain


def test_copies_drop_attributes() -> None:
    """Attributes are removed from copies: `@[to_additive]` cannot translate `_lc_cand_0`
    and `@[to_additive foo]`/`@[reassoc]` would declare the same name once per copy, while
    `@[simp]`/`@[instance]` would leak into later copies. Doc comment and statement stay."""
    text = (
        "namespace Foo\n\n/-- doc -/\n@[to_additive (attr := simp) \"add [doc]\", simp]\n@[reassoc]\n"
        "protected theorem mul_one' (n : Nat) : n * 1 = n := by\n  sorry\n"
    )
    shadow, slots = _shadow(text, ["simp", "omega"])
    assert "@[" not in shadow and "to_additive" not in shadow and "reassoc" not in shadow
    assert "set_option maxHeartbeats 99 in\n/-- doc -/\ntheorem _lc_cand_1 (n : Nat) : n * 1 = n := by\n  omega\n" in shadow
    assert all(slot.statement_ok for slot in slots)
    assert [shadow[s.cand_end - 5 : s.cand_end] for s in slots] == [" simp", "omega"]


def test_self_references_follow_the_rename() -> None:
    """A declaration's references to itself (recursive proofs and definitions, `where`
    helpers by full name) are renamed with it, in the body and in the candidate, so they
    still resolve; the statement is untouched and other identifiers are not."""
    text = (
        "theorem all_eq : ∀ n : Nat, n = n\n  | 0 => rfl\n  | n+1 => by\n    have := all_eq n\n    sorry\n\n"
    )
    shadow, slots = _shadow(text, ["exact congrArg (· + 1) all_eq.foo"])
    assert "theorem _lc_cand_0 : ∀ n : Nat, n = n\n  | 0 => rfl\n  | n+1 => by\n    have := _lc_cand_0 n\n" in shadow
    assert "exact congrArg (· + 1) _lc_cand_0.foo" in shadow
    assert slots[0].statement_ok
    dotted = "def Nat.double : Nat → Nat\n  | 0 => 0\n  | n+1 => Nat.double n + double n + sorry\n"
    shadow, _ = _shadow(dotted, ["2"])
    assert "def Nat._lc_cand_0 : Nat → Nat\n  | 0 => 0\n  | n+1 => Nat._lc_cand_0 n + _lc_cand_0 n + (by 2)" in shadow
    assert "#print axioms Nat._lc_cand_0" in shadow


def test_open_in_prefix_is_repeated_for_every_copy() -> None:
    """`open Foo in` before a declaration scopes only the next command: every copy gets it
    (otherwise only the first copy of a batch would see the opened names)."""
    shadow, _ = _shadow("open Nat in\ntheorem t (n : Nat) : succ n = n + 1 := by\n  sorry\n", ["rfl", "simp"])
    assert shadow.count("open Nat in\ntheorem _lc_cand_") == 2
    assert not shadow.startswith("open Nat in")


def test_sorries_in_mutual_blocks_are_refused_clearly() -> None:
    """A sorry in a `mutual` block cannot be checked alone (its partners are cut): the target
    says so instead of producing verdicts that are wrong for every candidate."""
    import pytest

    text = "mutual\ndef e : Nat → Bool\n  | 0 => true\n  | n+1 => o n\ndef o : Nat → Bool\n  | 0 => sorry\n  | n+1 => e n\nend\n"
    with pytest.raises(ValueError, match="mutual"):
        CheckTarget.for_sorry("file:///p/A.lean", text, locate_sorries(text)[0])


def test_lean_resource_limit_messages_are_timeouts() -> None:
    """Lean's heartbeat, recursion-depth and kernel limit errors count as timeouts; ordinary
    errors that merely mention heartbeats in passing do not."""
    from copilot.checker import _is_timeout
    from lsp_proxy.lean_client import Diagnostic, Position, Range

    def error(message: str) -> Diagnostic:
        return Diagnostic(range=Range(Position(0, 0), Position(0, 1)), message=message, severity=1)

    for message in (
        "(deterministic) timeout at `whnf`, maximum number of heartbeats (200000) has been reached\n"
        "Use `set_option maxHeartbeats <num>` to set the limit.",
        "(kernel) deterministic timeout",
        "maximum recursion depth has been reached\nuse `set_option maxRecDepth <num>` to increase limit",
        "(kernel) deep recursion detected",
        "failed to synthesize\n  Foo\n(deterministic) timeout at `typeclass`, "
        "maximum number of heartbeats (20000) has been reached",
    ):
        assert _is_timeout(error(message)), message
    assert not _is_timeout(error("unknown identifier 'heartbeats'"))
    assert not _is_timeout(error("type mismatch"))


async def test_a_failed_header_rejects_every_candidate(tmp_path: Path) -> None:
    """When Lean cannot load the imports (header error, e.g. "Imports are out of date and must
    be rebuilt"), it elaborates no command, so the copies show no error: that must not read
    as acceptance. An error in an earlier declaration of the user's file does not count."""
    from lsp_proxy.lean_client import Diagnostic, Position, Range

    header_error = Diagnostic(
        range=Range(Position(0, 0), Position(0, 10)),
        message='Imports are out of date and must be rebuilt; use the "Restart File" command in your editor.',
        severity=1,
    )
    text = "import Foo\n\ntheorem broken : True := nonsense\n\ntheorem t : True := by\n  sorry\n"
    user_error = Diagnostic(range=Range(Position(2, 25), Position(2, 33)), message="unknown identifier 'nonsense'")

    class FixedDiagnostics(Checker):
        def __init__(self, client, diagnostics):
            # Fixed diagnostics carry no `#print axioms` answers, and Lean never saw the text
            # (so it has no view of it to ask for): judge the rest.
            super().__init__(client, CheckerConfig(require_axiom_report=False, verify_commands=False))
            self.fixed = diagnostics

        async def _elaborate(self, doc, text, timeout):
            return list(self.fixed)

    target = _target(tmp_path, text)
    async with double_client() as client:
        broken = await FixedDiagnostics(client, [header_error]).check_many(target, ["trivial", "simp"])
        fine = await FixedDiagnostics(client, [user_error]).check_many(target, ["trivial"])
    assert [r.status for r in broken] == ["error", "error"]
    assert broken[0].message.startswith("Lean could not load the file's imports: Imports are out of date")
    assert [r.status for r in fine] == ["accepted"]


def test_self_reference_rename_leaves_shadowing_binders_alone() -> None:
    """When a binder of the statement has the declaration's own name, that name in the body
    means the binder (it shadows the declaration), so nothing is renamed."""
    shadow, _ = _shadow("theorem t (t : Nat) : t = t := by\n  have := t\n  sorry\n", ["rfl"])
    assert "theorem _lc_cand_0 (t : Nat) : t = t := by\n  have := t\n  rfl" in shadow


def test_declarations_after_exit_are_refused() -> None:
    """Lean elaborates nothing after `#exit`, so a copy there would show no error at all: such
    targets are refused with a clear reason (a `#exit` inside a comment does not count)."""
    import pytest

    text = "theorem a : True := trivial\n\n#exit\n\ntheorem t : True := by\n  sorry\n"
    with pytest.raises(ValueError, match="#exit"):
        CheckTarget.for_sorry("file:///p/A.lean", text, locate_sorries(text)[0])
    with pytest.raises(ValueError, match="#exit"):
        CheckTarget.at_cursor("file:///p/A.lean", text, 5, 2)
    commented = text.replace("#exit", "-- #exit")
    assert CheckTarget.for_sorry("file:///p/A.lean", commented, locate_sorries(commented)[0]).decl.name == "t"


async def test_required_axiom_report_is_positive_evidence(tmp_path: Path) -> None:
    """By default a copy is accepted only when Lean's `#print axioms` answer for it was seen
    ("does not depend on any axioms" or a list): a copy that shows no error but got no answer
    (so was never elaborated) is not accepted. With the option off the same copy passes."""

    class NoAnswers(Checker):
        async def _elaborate(self, doc, text, timeout):
            return []  # no errors, and no `#print axioms` answers either

    target = _target(tmp_path, "theorem t : True := by\n  sorry\n")
    async with double_client() as client:
        real = await Checker(client).check_many(target, ["trivial"])
        strict = await NoAnswers(client).check_many(target, ["trivial"])
        lenient = await NoAnswers(client, CheckerConfig(require_axiom_report=False)).check_many(target, ["trivial"])
    assert real[0].status == "accepted"  # the double answers `#print axioms` as Lean does
    assert strict[0].status == "error" and "printed none" in strict[0].message
    assert lenient[0].status == "accepted"


def test_protected_is_dropped_as_a_keyword_not_as_a_word_in_the_doc_comment() -> None:
    """Only the `protected` modifier is dropped from copies; the word in a doc comment stays."""
    text = "namespace Foo\n\n/-- Not protected by anything. -/\nprotected theorem bar : True := by\n  sorry\n"
    shadow, _ = _shadow(text, ["trivial"])
    assert "/-- Not protected by anything. -/\ntheorem _lc_cand_0 : True := by\n  trivial" in shadow


def test_parse_errors_reported_at_the_next_command_belong_to_the_copy_before() -> None:
    """Lean reports a parse error that runs past a command at the next token: the next copy's
    `set_option` line, or the end of the text when nothing follows (module files print no
    axioms). Such an error is the previous copy's; one at the first copy's start comes from
    the user's unfinished prefix and is nobody's. Other diagnostics stay where they start."""
    from lsp_proxy.lean_client import Diagnostic, Position, Range

    text = "module\n\ntheorem t : True := by\n  sorry\n"
    target = CheckTarget.for_sorry("file:///p/A.lean", text, locate_sorries(text)[0])
    shadow, slots = build_shadow_text(target, ["trivial", "exact", "simp at"], CheckerConfig())

    def at(offset: int, message: str, severity: int = 1) -> Diagnostic:
        line = shadow.count("\n", 0, offset)
        character = offset - (shadow.rfind("\n", 0, offset) + 1)
        return Diagnostic(range=Range(Position(line, character), Position(line, character)), message=message, severity=severity)

    diagnostics = [
        at(slots[0].start, "unexpected token 'set_option'; expected term"),
        at(slots[2].start, "unexpected token 'set_option'; expected term"),
        at(len(shadow), "unexpected end of input; expected term"),
        at(slots[2].start + 5, "some other error"),
    ]
    Checker.__new__(Checker)._attribute(shadow, slots, diagnostics)
    assert [d.message for d in slots[0].diagnostics] == []
    assert [d.message for d in slots[1].diagnostics] == ["unexpected token 'set_option'; expected term"]
    assert sorted(d.message for d in slots[2].diagnostics) == ["some other error", "unexpected end of input; expected term"]


def test_without_imports_an_error_at_the_start_is_no_header_error() -> None:
    """A file without imports has no header that could fail: an error at its very first
    character belongs to its first declaration, and does not reject the batch."""
    from copilot.checker import _header_errors
    from lsp_proxy.lean_client import Diagnostic, Position, Range

    text = "lemma broken : True := trivial\n\ntheorem t : True := by\n  sorry\n"
    target = CheckTarget.for_sorry("file:///p/A.lean", text, locate_sorries(text)[0])
    shadow, slots = build_shadow_text(target, ["trivial"], CheckerConfig())
    error = Diagnostic(range=Range(Position(0, 0), Position(0, 5)), message="unexpected identifier; expected command")
    assert _header_errors(shadow, slots, [error]) == []
    with_imports = "import Foo\n" + text
    target = CheckTarget.for_sorry("file:///p/A.lean", with_imports, locate_sorries(with_imports)[0])
    shadow, slots = build_shadow_text(target, ["trivial"], CheckerConfig())
    assert _header_errors(shadow, slots, [error]) == [error]
