"""The companion never disturbs the editor's session: models that raise or hang, edits during
work, a companion whose every check fails (Lean's own answers pass unchanged), a model that
fails to load."""
from __future__ import annotations

import asyncio
import time

from tests.features.session import Session

SORRY_FILE = "theorem add_zero' (n : Nat) : n + 0 = n := by\n  sorry\n"
SLOW_SOURCES = "[suggest]\ntimeout_seconds = 30.0\n"


async def _models_settled(session: Session, *ids: str) -> bool:
    status = (await session.request("$/leanCompanion/status", {}))["result"]
    states = {m["id"]: m.get("state") for m in status["models"]}
    return all(states.get(i) in ("ready", "failed") for i in ids)


async def test_raising_and_hanging_models_do_not_disturb_lean_traffic(tmp_path, scenario):
    """With one model raising and one hanging, a suggest request still answers (portfolio
    suggestions, after the per-source timeout), and Lean requests sent meanwhile (hover,
    plainGoal) are answered promptly and exactly as the double answers them."""
    session = await Session.start(tmp_path, scenario=scenario, models={
        "boom": {"mode": "raise"}, "stuck": {"mode": "hang"}}, config="[suggest]\ntimeout_seconds = 1.5\n")
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        await session.until(lambda: _models_settled(session, "boom", "stuck"))
        _, suggest = session.start_request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}})
        await asyncio.sleep(0.2)
        started = time.monotonic()
        hover = await session.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                             "position": {"line": 0, "character": 24}}, timeout=5)
        goal = await session.request("$/lean/plainGoal", {"textDocument": {"uri": uri},
                                                          "position": {"line": 1, "character": 2}}, timeout=5)
        lean_latency = time.monotonic() - started
        assert not suggest.done(), "the hanging model should still hold the suggestion back"
        assert lean_latency < 1.0, lean_latency
        assert hover["result"]["contents"]["value"] == "```lean\nNat\n```"
        assert goal["result"]["goals"] == ["n : Nat\n⊢ n + 0 = n"]
        result = (await asyncio.wait_for(suggest, 30))["result"]
        assert {"simp", "rfl"} & {s["tactic"] for s in result["suggestions"]}
        assert all(s["source"] == "portfolio" for s in result["suggestions"])
        log = session.proxy_log()
        assert "source boom failed (RuntimeError: scripted model failure)" in log
        assert "source stuck gave no candidates within 1.5 s" in log
    finally:
        await session.close()


async def test_an_edit_cancels_work_for_that_document(tmp_path, scenario):
    """A suggest request held up by a hanging model is answered -32801 as soon as the user edits
    the document, and a running `fillSorry` stops with status `cancelled`."""
    session = await Session.start(tmp_path, scenario=scenario, models={"stuck": {"mode": "hang"}},
                                  config=SLOW_SOURCES + "[search]\nbudget_seconds = 60\n")
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        await session.until(lambda: _models_settled(session, "stuck"))
        _, suggest = session.start_request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}})
        _, fill = session.start_request("$/leanCompanion/fillSorry", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}})
        await asyncio.sleep(1.0)
        assert not suggest.done() and not fill.done()
        started = time.monotonic()
        session.change(uri, SORRY_FILE + "\n-- edited\n")
        reply = await asyncio.wait_for(suggest, 10)
        assert reply["error"]["code"] == -32801, reply
        filled = await asyncio.wait_for(fill, 10)
        assert filled["result"]["status"] == "cancelled", filled
        assert time.monotonic() - started < 5
    finally:
        await session.close()


async def test_cancel_by_token_and_by_request_id(tmp_path, scenario):
    """`$/leanCompanion/cancel {requestToken}` stops a fillSorry (status `cancelled`); `$/cancelRequest`
    for a suggest request's id answers it -32800."""
    session = await Session.start(tmp_path, scenario=scenario, models={"stuck": {"mode": "hang"}},
                                  config=SLOW_SOURCES)
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        await session.until(lambda: _models_settled(session, "stuck"))
        _, fill = session.start_request("$/leanCompanion/fillSorry", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}, "requestToken": "t-1"})
        suggest_id, suggest = session.start_request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}})
        await asyncio.sleep(0.5)
        session.notify("$/leanCompanion/cancel", {"requestToken": "t-1"})
        session.notify("$/cancelRequest", {"id": suggest_id})
        assert (await asyncio.wait_for(fill, 10))["result"]["status"] == "cancelled"
        assert (await asyncio.wait_for(suggest, 10))["error"]["code"] == -32800
    finally:
        await session.close()


async def test_lean_answers_pass_unchanged_when_every_check_fails(tmp_path, scenario):
    """Every shadow worker crashes (the double crashes workers whose text contains `_lc_cand_`):
    completions and code actions still carry Lean's own answer unchanged, the editor's document
    keeps working, and suggest reports no suggestion rather than anything unchecked."""
    text = "theorem t (a b : Nat) : a + b = b + a := by\n  exact?\n"
    session = await Session.start(tmp_path, scenario=scenario,
                                  double_args=("--elab-delay-ms", "10", "--worker-crash-on", "_lc_cand_"),
                                  config="[search]\ncheck_timeout_seconds = 2.0\n")
    try:
        uri = session.open("E.lean", text)
        await session.wait_diagnostics(uri, 1)
        actions = (await session.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 8}},
            "context": {"diagnostics": []}}))["result"]
        assert [a["title"] for a in actions] == ["Try this: exact Nat.add_comm a b"]
        completion = (await session.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 4}}))["result"]
        assert [i["label"] for i in completion["items"]] == ["Nat.add_comm", "Nat.add_zero"]
        reply = await session.request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}}, timeout=60)
        assert reply.get("result", {}).get("suggestions", []) == [] or reply.get("error")
        version = session.change(uri, "theorem t (a b : Nat) : a + b = b + a := by\n  omega\n")
        await session.wait_diagnostics(uri, version)
        goal = await session.request("$/lean/plainGoal", {"textDocument": {"uri": uri},
                                                          "position": {"line": 1, "character": 2}})
        assert goal["result"]["goals"] == ["a b : Nat\n⊢ a + b = b + a"]
    finally:
        await session.close()


async def test_model_that_fails_to_load_is_reported_and_skipped(tmp_path, scenario):
    """A configured model whose backend fails to load is listed in `status` as failed with its
    error (one log line), and suggestions still come from the portfolio."""
    session = await Session.start(tmp_path, scenario=scenario, models={"broken": {"mode": "fail-load"}})
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        await session.until(lambda: _models_settled(session, "broken"))
        status = (await session.request("$/leanCompanion/status", {}))["result"]
        broken = next(m for m in status["models"] if m["id"] == "broken")
        assert broken["state"] == "failed" and broken["active"] is False and "scripted load failure" in broken["error"]
        result = (await session.request("$/leanCompanion/suggest", {
            "textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}}))["result"]
        assert result["suggestions"]
        assert session.proxy_log().count("model broken disabled") == 1
    finally:
        await session.close()


# ---------------------------------------------------------------- the user hears about problems


def _shown(session: Session) -> list[str]:
    return [n["params"]["message"] for n in session.notifications
            if n.get("method") == "window/showMessage" and n["params"].get("type") == 2]


async def _status_problems(session: Session) -> list[dict]:
    return (await session.request("$/leanCompanion/status", {}))["result"]["problems"]


async def test_broken_project_config_is_shown_once_with_file_and_key(tmp_path, scenario):
    """A value of the wrong type in .lean-companion.toml: one warning naming the file and the key
    (not repeated by later activity), listed in status; Lean's traffic is untouched."""
    session = await Session.start(tmp_path, scenario=scenario, config='[suggest]\nmax_candidates = "eight"\n')
    try:
        await session.until(lambda: _async_true(bool(_shown(session))))
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        session.notify("workspace/didChangeConfiguration", {"settings": {}})
        await session.request("$/leanCompanion/suggest", {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}})
        shown = _shown(session)
        assert len(shown) == 1, shown
        assert ".lean-companion.toml" in shown[0] and "suggest.max_candidates" in shown[0] and "docs/config.md" in shown[0]
        problems = await _status_problems(session)
        assert [p["key"] for p in problems] == ["config"]
    finally:
        await session.close()


async def test_invalid_toml_is_shown(tmp_path, scenario):
    """A file that is not TOML at all: the warning names it and says it is invalid."""
    session = await Session.start(tmp_path, scenario=scenario, config="[suggest\n")
    try:
        await session.until(lambda: _async_true(bool(_shown(session))))
        assert "invalid TOML" in _shown(session)[0] and ".lean-companion.toml" in _shown(session)[0]
    finally:
        await session.close()


async def _async_true(value: bool) -> bool:
    return value


def _gguf_model(root, model_id: str, content: bytes | None, *, directory: bool = False) -> str:
    path = root / "models" / f"{model_id}.gguf"
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    return (f'[models.custom.{model_id}]\npath = "models/{model_id}.gguf"\nrole = "tactic"\nformat = "gguf"\n'
            'template = "raw-goal"\n')


async def test_unusable_models_are_each_shown_once_naming_the_model(tmp_path, scenario):
    """A truncated .gguf, a Git LFS pointer, a directory named .gguf, a missing file and an
    unknown id: one warning each, naming the model id and what is wrong with the file (a
    truncated file is blamed on the file, not on llama-cpp-python)."""
    root = tmp_path / "proj"
    root.mkdir()
    lfs = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 4000000000\n"
    config = "".join([
        _gguf_model(root, "short", b"GGUF\x03\x00"),
        _gguf_model(root, "pointer", lfs),
        _gguf_model(root, "folder", None, directory=True),
        _gguf_model(root, "absent", None),
    ])
    ids = ["short", "pointer", "folder", "absent", "no-such-model-id"]
    config = f"[models]\ntactic = {ids!r}\n\n".replace("'", '"') + config
    session = await Session.start(tmp_path, scenario=scenario, config=config)
    try:
        await session.until(lambda: _async_true(len(_shown(session)) >= len(ids)), timeout=60)
        shown = _shown(session)
        assert len(shown) == len(ids), shown
        by_id = {i: next(m for m in shown if f"model {i} " in m) for i in ids}
        assert "short.gguf" in by_id["short"] and "truncated" in by_id["short"]
        assert "llama" not in by_id["short"].lower()
        assert "pointer.gguf" in by_id["pointer"]
        assert "folder.gguf" in by_id["folder"] and "not a file" in by_id["folder"]
        assert "absent.gguf" in by_id["absent"] and "does not exist" in by_id["absent"]
        assert "no-such-model-id" in by_id["no-such-model-id"] and "models list" in by_id["no-such-model-id"]
        assert all("models.tactic in" in m and ".lean-companion.toml" in m for m in shown)
        keys = {p["key"] for p in await _status_problems(session)}
        assert keys == {f"model:{i}" for i in ids}
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        assert len(_shown(session)) == len(ids), "no repeats"
    finally:
        await session.close()


async def test_unusable_cache_folder_is_shown(tmp_path, scenario):
    """XDG_CACHE_HOME pointing at a file: the cache folder problem is shown, naming the path."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    session = await Session.start(tmp_path, scenario=scenario, env={"XDG_CACHE_HOME": str(blocker)})
    try:
        await session.until(lambda: _async_true(bool(_shown(session))))
        shown = _shown(session)
        assert len(shown) == 1 and "cache folder" in shown[0] and str(blocker) in shown[0]
    finally:
        await session.close()


async def test_ignored_editor_setting_is_shown(tmp_path, scenario):
    """A wrong-typed editor setting ($/leanCompanion/configure) is shown once, naming the key."""
    session = await Session.start(tmp_path, scenario=scenario)
    try:
        for _ in range(2):
            session.notify("$/leanCompanion/configure", {"settings": {"suggest": {"max_candidates": "lots"}}})
        await session.until(lambda: _async_true(bool(_shown(session))))
        await asyncio.sleep(0.3)
        shown = _shown(session)
        assert len(shown) == 1 and "suggest.max_candidates" in shown[0], shown
    finally:
        await session.close()


async def test_a_healthy_session_shows_nothing(tmp_path, scenario):
    """No problem, no message."""
    session = await Session.start(tmp_path, scenario=scenario)
    try:
        uri = session.open("A.lean", SORRY_FILE)
        await session.wait_diagnostics(uri, 1)
        assert await _status_problems(session) == []
        assert _shown(session) == []
    finally:
        await session.close()


async def test_unknown_embedding_model_is_shown(tmp_path, scenario):
    """The premise index's encoder (`[models] embedding`) is checked too: an unknown id is named."""
    session = await Session.start(tmp_path, scenario=scenario, config='[models]\nembedding = "no-such-encoder"\n')
    try:
        await session.until(lambda: _async_true(bool(_shown(session))))
        shown = _shown(session)
        assert len(shown) == 1 and "model no-such-encoder (models.embedding in" in shown[0], shown
    finally:
        await session.close()
