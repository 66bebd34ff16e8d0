"""grade.json, the results document: its name and place, its status words and causes, and
reading and writing it.

Everything that makes a results document (the plugin, the grade command, the batch, the
Gradescope autograder) and everything that reads one (the terminal table, the report, the
overview, the gradebook, Gradescope's results.json, regrade diffs) takes these from here, so the
contract has one owner. This module imports nothing of the harness but its text helpers: the
outputs depend on it, never on the grading that wrote the document.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from graders.results.messages import clip

FILE = "grade.json"
# the contract written down: graders/results/grade.schema.json (the tests validate what the harness writes)
SCHEMA = Path(__file__).resolve().parent / "grade.schema.json"

# A batch folder: DIR/index.html and DIR/grades.csv are the class's; each submission's results are
# in DIR/submissions/<name>/, so no submission (index.html.zip, grades.csv.zip) takes their names.
SUBMISSIONS = "submissions"

# A check's status. A check that did not run because of the run's options carries not_run
# (graders.checks.rubric.NOT_RUN) besides its status.
PASSED = "passed"
STATUSES = ("passed", "failed", "error", "timeout", "skipped", "hidden-not-run")
PROBLEMS = ("failed", "error", "timeout")

# Why a document graded nothing (its error_cause): the harness failed, the submission could
# not be read at all (a broken zip, a notebook that is not one: the student's to fix), or its
# grading ran past the job's wall-clock limit (the batch or Gradescope killed it)
GRADER, SUBMISSION, TIMEOUT = "grader", "submission", "timeout"
GRADER_ERROR_NOTE = ("the grader itself failed while grading this submission; this is not your fault and "
                     "not a grade: the course staff will grade it again")

NO_RESULTS = "no grade.json"   # how load's message starts when there is none (the gradebook's "missing")


class ResultsError(Exception):
    """grade.json cannot be read as a results document."""


def status_of(check: dict) -> str:
    status = check.get("status")
    return status if status in STATUSES else "error"


def grader_failures(results: dict) -> list[str]:
    """The questions on which a check erred: status "error" is only ever the harness's (a check
    that raised something else than a CheckFailure, a sandbox that could not start, a worker
    that crashed), never the student's."""
    return sorted({str(c.get("question")) for c in results.get("checks", [])
                   if isinstance(c, dict) and c.get("status") == "error"})


def mark_grader_failures(results: dict) -> dict:
    """A run whose harness failed on a check a question needs is a grader error, not a grade:
    results["error"] says so, so every export (gradebook, Gradescope, overview, resume) treats it
    as not graded."""
    questions = grader_failures(results)
    if questions and not results.get("error"):
        first = next(c for c in results["checks"] if isinstance(c, dict) and c.get("status") == "error")
        results["error"] = (f"the grader itself failed on {', '.join(questions)} "
                            f"({clip(first.get('message') or '', 20_000, 3, 1)})")
        results["error_cause"] = GRADER
        results.setdefault("notes", []).insert(0, GRADER_ERROR_NOTE)
    return results


def unreadable(results: dict) -> bool:
    """True when nothing was graded because the submission itself could not be read."""
    return bool(results.get("error")) and results.get("error_cause") == SUBMISSION


def check_id(check: dict) -> str:
    """What names a check across gradings (its pytest node id), for comparing documents."""
    return str(check.get("nodeid") or check.get("name"))


def number(x) -> float | None:
    """A number of a results document (a score, a check's points) as a float; None when it is not
    one finite real number (a string, a bool, NaN, a list)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    try:
        value = float(x)
    except OverflowError:       # an int too large for a float
        return None
    return value if math.isfinite(value) else None


def hidden_not_run(results: dict) -> list[dict]:
    return [c for c in results.get("checks", [])
            if isinstance(c, dict) and (c.get("status") == "hidden-not-run" or c.get("not_run") == "hidden")]


def write(path, data: dict, compact: bool = False) -> None:
    """data as JSON at path, via a temporary name: a job killed mid-write (the batch's or
    Gradescope's time limit) never leaves half a grade.json. compact: no indentation (a document
    read back once by the grade command, which the C encoder writes fastest)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":"), default=str) if compact
                   else json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def load(out_dir) -> dict:
    """out_dir/grade.json as a dict, or ResultsError saying what is wrong with it."""
    path = Path(out_dir) / FILE
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{NO_RESULTS} in {path.parent} (not graded yet, or the job died before "
                           "writing it)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path} is unreadable ({err})") from None
    except ValueError as err:
        raise ResultsError(f"{path} is unreadable: not valid JSON ({err})") from None
    if not isinstance(results, dict):
        raise ResultsError(f"{path} is unreadable: not a results document (a JSON object is expected, "
                           f"found {type(results).__name__})")
    if not isinstance(results.get("checks", []), list) or not isinstance(results.get("questions", {}), dict):
        raise ResultsError(f"{path} is unreadable: not a results document ('checks' must be a list and "
                           f"'questions' an object)")
    return results


def submission_dirs(batch_dir) -> list[Path]:
    """The results folders of a batch: batch_dir/submissions/<name>/ holding grade.json."""
    return sorted(p.parent for p in (Path(batch_dir) / SUBMISSIONS).glob(f"*/{FILE}"))


# the submissions a batch found in the downloads, the last time it ran: a folder of submissions/
# that is not listed is a student the downloads no longer hold (a file renamed, replaced, removed)
CURRENT = "batch.json"


def write_current(batch_dir, names: list[str]) -> None:
    write(Path(batch_dir) / CURRENT, {"submissions": sorted(names)})


def current_names(batch_dir) -> list[str] | None:
    """The submissions of the batch's last run (None when no batch wrote the list)."""
    try:
        listed = json.loads((Path(batch_dir) / CURRENT).read_text()).get("submissions")
    except (OSError, ValueError, AttributeError):
        return None
    return [n for n in listed if isinstance(n, str)] if isinstance(listed, list) else None


def stale_names(batch_dir) -> list[str]:
    """Folders of submissions/ holding grade.json that the batch's last run did not find."""
    current = current_names(batch_dir)
    return [] if current is None else sorted({p.name for p in submission_dirs(batch_dir)} - set(current))


def load_batch(batch_dir, names=None) -> list[tuple[str, dict | None, str]]:
    """(name, results or None, why not) for each submission of a batch folder, read once for
    the overview and the gradebook; names default to the submissions the batch's last run found
    (batch.json), else every submission holding grade.json."""
    batch_dir = Path(batch_dir)
    if names is None:
        current = current_names(batch_dir)
        names = current if current is not None else [p.name for p in submission_dirs(batch_dir)]
    loaded = []
    for name in names:
        folder = batch_dir / SUBMISSIONS / name
        try:
            loaded.append((name, load(folder), ""))
        except ResultsError as err:
            loaded.append((name, None, str(err).replace(f"{folder}/", "")))
    return loaded
