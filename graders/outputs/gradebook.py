"""The gradebook of a batch: grades.csv, one row per submission, ready for the TAs' hand grades.

Columns come from the rubric, not from any one grade.json, so every row has every column (a
crashed submission included) and the order is the same from batch to batch: the submission,
the auto-graded total and maximum, one column per auto-graded question, then one empty column
per hand-graded question for the TAs to fill in, then the row's status and error.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from graders.outputs import report
from graders.results import document as results_doc
from graders.checks import rubric as rubric_mod

SUBMISSION, EDITION, AUTO_TOTAL, AUTO_MAX, STATUS, ERROR = ("submission", "edition", "auto total", "auto max",
                                                             "status", "error")
REPAIRS = "repairs"      # how many repairs the code needed, their kinds and any deduction (graders.sandbox.shipped.repairs)
DEFAULT_EDITION = "2022"


def columns(edition: str = DEFAULT_EDITION) -> list[str]:
    """The CSV's columns for an edition's rubric, in rubric order: auto ones, then hand ones."""
    questions = rubric_mod.load(edition).questions.values()
    return ([SUBMISSION, EDITION, AUTO_TOTAL, AUTO_MAX]
            + [f"auto {q.id}" for q in questions if q.kind == "auto"]
            + [f"hand {q.id}" for q in questions if q.kind == "hand"]
            + [REPAIRS, STATUS, ERROR])


def _num(x) -> str:
    """A score as a spreadsheet reads it: 2.1429, 3, never 2.1428999999999998."""
    return "" if x is None else report.fmt_number(x, 4)


def _status(results: dict | None, problem: str) -> str:
    if results is None:
        return "missing" if problem.startswith(results_doc.NO_RESULTS) else "unreadable"
    if results.get("error"):
        # the document's causes: only "could not be read" is the student's; the others are regraded
        if results_doc.unreadable(results):
            return "could not be read"
        return "timed out" if results.get("error_cause") == results_doc.TIMEOUT else "grader error"
    partly = [e["status"] for e in results.get("questions", {}).values()
              if str(e.get("status", "")).startswith(("partly", "not run"))]
    return "partly graded" if partly else "graded"


def _row(name: str, results: dict | None, problem: str, cols: list[str]) -> dict:
    row = dict.fromkeys(cols, "")
    row[SUBMISSION] = name
    row[EDITION] = str((results or {}).get("edition") or "")
    row[STATUS] = _status(results, problem)
    row[ERROR] = problem or (results or {}).get("error", "")
    if results is not None and results_doc.unreadable(results):
        # the student's file could not be read (a broken zip, a PDF alone): no code earns 0, and
        # the hand grades still count; a regrade would change nothing
        row[AUTO_TOTAL], row[AUTO_MAX] = "0", _num(results.get("max_score"))
        return row
    if results is None or results.get("error"):
        return row  # nothing was graded (the grader failed or ran out of time): empty, never a zero
    row[AUTO_TOTAL] = _num(results.get("score"))
    row[AUTO_MAX] = _num(results.get("max_score"))
    repairs = results.get("repairs") if isinstance(results.get("repairs"), dict) else {}
    fired = [r for r in repairs.get("fired") or () if isinstance(r, dict)]
    if fired:
        cost = sum(v for v in (repairs.get("deductions") or {}).values() if isinstance(v, (int, float)))
        row[REPAIRS] = (f"{len(fired)}: {', '.join(sorted({str(r.get('kind')) for r in fired}))}"
                        + (f" (-{_num(cost)})" if cost else ""))
    for qid, entry in results.get("questions", {}).items():
        if entry.get("kind") == "auto" and f"auto {qid}" in row:
            row[f"auto {qid}"] = _num(entry.get("score"))
    return row


def edition_of(loaded) -> str:
    """The edition of a batch (results_doc.load_batch's result): its first graded submission's."""
    return str(next((r.get("edition") for _, r, _ in loaded if r and r.get("edition")), DEFAULT_EDITION))


def rows(batch_dir, names=None, loaded=None) -> list[dict]:
    """One row per submission of batch_dir (every subfolder holding grade.json by default);
    `loaded` is results_doc.load_batch's result when the caller has read the documents already."""
    loaded = results_doc.load_batch(batch_dir, names) if loaded is None else loaded
    try:
        cols = columns(edition_of(loaded))
    except rubric_mod.RubricError:
        cols = columns(DEFAULT_EDITION)
    return [_row(name, results, problem, cols) for name, results, problem in loaded]


# A cell a spreadsheet would read as a formula (=HYPERLINK(...) in a zip's name or an error message
# quoting it): OWASP's CSV-injection list, tab and carriage return included.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


def cell(value) -> str:
    """value as a CSV cell that opens as text, never as a formula: a leading ' is shown by no
    spreadsheet and stops the formula; numbers (a score) stay numbers."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv(rows, path) -> Path:
    """rows (from `rows`) as a CSV file at path, columns in the rows' order; every cell is
    neutralised (`cell`), the column names included."""
    fieldnames: list[str] = []
    for row in rows:
        fieldnames += [k for k in row if k not in fieldnames]
    if not fieldnames:
        fieldnames = columns()
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([cell(name) for name in fieldnames])
        writer.writerows([cell(row.get(name, "")) for name in fieldnames] for row in rows)
    return path
