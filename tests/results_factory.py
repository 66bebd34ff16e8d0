"""Results documents (grade.json) built in code for the report and overview tests.

Scores come from the real rubric (graders.checks.rubric), so the documents are shaped and scored as
the grader makes them; tests never hard-code a score.
"""
from __future__ import annotations

import json
from pathlib import Path

from graders.checks import rubric as rubric_mod


def check(name: str, question: str, status: str = "passed", **extra) -> dict:
    record = {"nodeid": f"suite.py::{name}", "name": name, "question": question,
              "description": f"{name.replace('_', ' ')} does what the handout asks", "weight": 1.0,
              "visibility": "public", "tier": "quick", "status": status, "message": "", "duration": 0.25}
    if status == "hidden-not-run":
        record.update(visibility="hidden", not_run="hidden", message="hidden check: it exists and was not run")
        record.pop("duration")
    record.update(extra)
    return record


def results(checks: list[dict], visibility: str = "all", **extra) -> dict:
    for order, c in enumerate(checks):
        c.setdefault("order", order)
    doc = {"edition": "2022", "submission": "/submissions/someone", "visibility": visibility,
           "quick": False, "isolation": "bubblewrap", **rubric_mod.load("2022").score(checks),
           "checks": checks, "notes": [], "libraries": {"numpy": "2.4.6", "python": "3.11.7"},
           "timings": {"checks_seconds": sum(c.get("duration", 0) for c in checks), "wall_seconds": 12.5},
           "jobs": 0}
    doc.update(extra)
    return doc


def typical(visibility: str = "all", failing: bool = True) -> dict:
    """A little of everything: passes, a failure with expected/actual/hint, an error with a
    traceback, a timeout, a skipped check, and (public runs) a hidden check not run."""
    checks = [
        check("test_softmax_rows", "Q2.2.2"),
        check("test_softmax_stable", "Q2.2.2", "failed" if failing else "passed",
              message="softmax returned NaN for large inputs" if failing else "",
              expected="finite values", actual="nan", hint="subtract the row maximum first"),
        check("test_backwards_shapes", "Q2.3.1", "error" if failing else "passed",
              message="backwards raised ValueError" if failing else "",
              traceback="Traceback (most recent call last):\n  File \"nn.py\", line 3\nValueError: shapes" if failing else ""),
        check("test_run_q3_finishes", "Q3.1", "timeout" if failing else "passed",
              message="run_q3.py ran out of time" if failing else ""),
        check("test_q3_weights_saved", "Q3.1", "skipped" if failing else "passed",
              message="run_q3.py did not finish" if failing else ""),
        check("test_no_removed_library_names", "Static"),
    ]
    if visibility == "public":
        checks.append(check("test_backwards_matches_reference", "Q2.3.1", "hidden-not-run"))
    return results(checks, visibility=visibility)


def write(folder: Path, doc) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grade.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return folder
