"""SARIF 2.1.0 output of a fill-sorries report, for code-scanning dashboards.

Every unfilled ``sorry`` is a ``warning`` result (rule LC001); every filled one is a
``note`` (rule LC002) carrying the verified proof as a SARIF ``fix``, so tools that apply
fixes can apply it.
"""
from __future__ import annotations

from .report import Report, SorryResult

SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SORRY_LENGTH = len("sorry")

RULES = [
    {
        "id": "LC001",
        "name": "UnfilledSorry",
        "shortDescription": {"text": "A `sorry` that Lean Companion could not fill."},
        "fullDescription": {
            "text": "The declaration still uses `sorry`: its proof is missing. Lean Companion searched for a "
            "proof within the configured budget and found none that Lean accepted."
        },
        "defaultConfiguration": {"level": "warning"},
        "helpUri": "https://lean-lang.org/doc/reference/latest/Tactic-Proofs/",
    },
    {
        "id": "LC002",
        "name": "FilledSorry",
        "shortDescription": {"text": "A `sorry` for which Lean Companion found a Lean-verified proof."},
        "fullDescription": {
            "text": "Lean accepted the proposed proof (no error, no `sorry`, statement unchanged). The fix "
            "replaces the `sorry` with it."
        },
        "defaultConfiguration": {"level": "note"},
    },
]


def _location(result: SorryResult) -> dict:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": result.file, "uriBaseId": "%SRCROOT%"},
            "region": {
                "startLine": result.line,
                "startColumn": result.column,
                "endLine": result.line,
                "endColumn": result.column + SORRY_LENGTH,
            },
        }
    }


def _result(result: SorryResult) -> dict:
    where = f" in `{result.declaration}`" if result.declaration else ""
    if result.status == "filled" and result.proof is not None:
        location = _location(result)
        return {
            "ruleId": "LC002",
            "ruleIndex": 1,
            "level": "note",
            "kind": "review",
            "message": {"text": f"`sorry`{where} can be replaced by a Lean-verified proof: {result.proof}"},
            "locations": [location],
            "fixes": [
                {
                    "description": {"text": "Replace `sorry` with the verified proof"},
                    "artifactChanges": [
                        {
                            "artifactLocation": location["physicalLocation"]["artifactLocation"],
                            "replacements": [
                                {
                                    "deletedRegion": location["physicalLocation"]["region"],
                                    "insertedContent": {"text": result.proof},
                                }
                            ],
                        }
                    ],
                }
            ],
            "properties": {"timeSeconds": result.time_seconds, "expansions": result.expansions},
        }
    reason = {
        "failed": "no proof found within the budget",
        "timeout": "the search ran out of time",
        "rejected-unsafe": "every candidate was rejected as unsafe",
        "error": "an error stopped the search",
        "skipped": "not attempted",
    }.get(result.status, result.status)
    detail = f" ({result.message})" if result.message else ""
    return {
        "ruleId": "LC001",
        "ruleIndex": 0,
        "level": "warning",
        "message": {"text": f"`sorry`{where} is still unfilled: {reason}{detail}."},
        "locations": [_location(result)],
        "properties": {
            "status": result.status,
            "timeSeconds": result.time_seconds,
            "expansions": result.expansions,
            **({"goal": result.goal} if result.goal else {}),
        },
    }


def to_sarif(report: Report, *, project_uri: str | None = None) -> dict:
    """The report as a SARIF 2.1.0 log (a JSON-ready dict)."""
    run: dict = {
        "tool": {
            "driver": {
                "name": "lean-companion",
                "semanticVersion": report.tool_version or "0.0.0",
                "rules": RULES,
            }
        },
        "results": [_result(r) for r in report.results],
        "invocations": [
            {
                "executionSuccessful": report.complete and not report.errors,
                "startTimeUtc": report.started_at,
                **({"endTimeUtc": report.finished_at} if report.finished_at else {}),
                **(
                    {"toolExecutionNotifications": [{"level": "error", "message": {"text": e}} for e in report.errors]}
                    if report.errors
                    else {}
                ),
            }
        ],
        "columnKind": "utf16CodeUnits",
    }
    if project_uri:
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": project_uri.rstrip("/") + "/"}}
    return {"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]}
