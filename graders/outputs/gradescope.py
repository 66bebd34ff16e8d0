"""Gradescope's results.json, made from a grade.json document.

Follows Gradescope's autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/, "Output format"): one test per
check that ran, named by its question and described by the rubric sentence; the top-level
output summarises what the checks do not show (hidden checks still to run, hand-graded
questions, isolation, notes). The document is built from grade.json alone, so it can be
remade at any time without grading again (`write`).
"""
from __future__ import annotations

import json
from pathlib import Path

from graders.results import messages
from graders.outputs.late_policy import after_penalty
from graders.outputs.report import fmt_number
from graders.results.document import PASSED, SUBMISSION, TIMEOUT, ResultsError, load as load_results, unreadable
from graders.checks.rubric import NOT_RUN_COUNTED

# Rubric visibility -> Gradescope's. A hidden check compares with the staff solution, so its
# name and message reach students only when the staff publish the grades ("after_published").
# Gradescope's own "hidden" would never show students a check that cost them points.
# Anything unknown is treated as hidden: the safe side.
VISIBILITY = {"public": "visible", "hidden": "after_published"}
HIDDEN_VISIBILITY = VISIBILITY["hidden"]

# Plain text everywhere: messages quote student output (printed text, file names, reprs) that
# markdown or html rendering would mangle or let inject markup.
FORMAT = "text"

# Gradescope documents no size limit for results.json or its strings; these caps are ours.
# They keep a runaway message (a student's loop printing into an error) from making the page
# unusable or the upload fail, while leaving far more room than any real message needs.
TEST_OUTPUT_CAP = 8 * 1024      # characters per test output
SUMMARY_CAP = 32 * 1024         # characters of the top-level output
MARKER_ROOM = 64                # room for clip's "... N characters cut ..." line

# Scores are handled in ten-thousandths, the rubric's rounding, so sums carry no float noise.
UNIT = 10_000


def cap(text: str, limit: int) -> str:
    """text within `limit` characters, cut by messages.clip (head and tail around a marker)."""
    # clip adds its marker on top of the limit it is given; leave room for it
    return messages.clip(text, max_chars=limit - MARKER_ROOM)


def _apportion(total: float, weights: list[float]) -> list[int]:
    """total split by weights into whole ten-thousandths that add up to round(total, 4).

    Rounding each share on its own gives 7 x 0.7143 = 5.0001 of a 5-point question; rounding
    the running sum and taking differences keeps every question's sum exact.
    """
    whole = sum(weights)
    shares, before, running = [], 0, 0.0
    for w in weights:
        running += w
        upto = round(total * running / whole * UNIT) if whole else 0
        shares.append(upto - before)
        before = upto
    return shares


def _test_output(check: dict) -> str:
    status = check.get("status")
    text = messages.render_text(check, indent="")
    if status == "skipped":
        text = text or "skipped"
        text = ("no points: " if text.startswith("not run") else "not run, so no points: ") + text
    elif status == "timeout":
        text = f"timed out: {text}"
    elif status == "error" and not text:
        text = "the check failed to run"
    if check.get("traceback"):
        text += "\n\ntraceback:\n" + check["traceback"]
    return cap(text or "passed", TEST_OUTPUT_CAP)


def _name(check: dict) -> str:
    name = check.get("name", "")
    param = name[name.index("["):] if "[" in name else ""
    described = check.get("description") or name
    return f"{check.get('question', '')} {described}{' ' + param if param else ''}".strip()


def _tests(results: dict) -> list[dict]:
    """One Gradescope test per check that ran or was left out by the run's options."""
    questions = results.get("questions", {})
    by_question: dict[str, list[dict]] = {}
    for check in results.get("checks", []):
        by_question.setdefault(check.get("question", ""), []).append(check)
    units: dict[int, tuple[int, int]] = {}     # id(check) -> (score, max_score) in UNITs
    for qid, checks in by_question.items():
        entry = questions.get(qid, {})
        weights = [float(c.get("weight", 1.0)) for c in checks]
        if "max_score" in entry:
            maxima = _apportion(float(entry["max_score"]), weights)
        else:
            maxima = [round(float(c.get("max_points", 0.0)) * UNIT) for c in checks]
        passed = [c for c in checks if c.get("status") == PASSED]
        if entry.get("score") is not None:
            # the question's score in grade.json is the truth; the checks' shares add up to it
            scores = dict(zip(map(id, passed), _apportion(float(entry["score"]),
                                                          [float(c.get("weight", 1.0)) for c in passed])))
        else:
            scores = {id(c): round(float(c.get("points", 0.0)) * UNIT) for c in passed}
        for check, most in zip(checks, maxima):
            units[id(check)] = (scores.get(id(check), 0), most)
    tests = []
    for check in results.get("checks", []):
        if check.get("status") == "hidden-not-run" or check.get("not_run") == "hidden":
            continue    # it did not run; the summary says it exists
        score, most = units[id(check)]
        qid = check.get("question", "")
        tests.append({
            "name": _name(check),
            "name_format": FORMAT,
            "number": qid.removeprefix("Q"),
            "score": score / UNIT,
            "max_score": most / UNIT,
            "status": "passed" if check.get("status") == PASSED else "failed",
            "output": _test_output(check),
            "output_format": FORMAT,
            "visibility": VISIBILITY.get(check.get("visibility"), HIDDEN_VISIBILITY),
            "tags": [qid] if qid else [],
        })
    return tests


def _summary(results: dict, score: float) -> str:
    questions = results.get("questions", {})
    lines = []
    if unreadable(results):
        lines += [f"Your submission could not be graded: {results['error']}",
                  "Nothing in it could be run, so no points are awarded; fix this and submit again.", ""]
    elif results.get("error"):
        # never a zero that reads as a grade: the staff regrade it (results.mark_grader_failures)
        what = ("Grading this submission ran past its time limit and was stopped"
                if results.get("error_cause") == TIMEOUT else "The grader failed while grading this submission")
        lines += [f"{what}: {results['error']}",
                  "This is not a grade and not your fault: the course staff will grade your submission "
                  "again. The score shown until then means nothing.", ""]
    else:
        lines.append(f"Score: {fmt_number(score, 4)} of {fmt_number(results.get('max_score', 0), 4)} points "
                     "for the auto-graded checks that ran.")
    late = results.get("late") or {}
    if late.get("message"):
        lines.append(late["message"])
    after = after_penalty(results, score)
    if after is not None:
        lines.append(f"Score after the late penalty: {fmt_number(after, 4)}.")
    left_out: dict[str, int] = {}
    for check in results.get("checks", []):
        if check.get("not_run"):
            left_out[check["not_run"]] = left_out.get(check["not_run"], 0) + 1
    said = ["not graded by this version"]
    for reason, n in sorted(left_out.items()):
        said.append(f"{n} {NOT_RUN_COUNTED.get(reason, f'check(s) not run ({reason})')}")
        lines.append(said[-1] + ("; they are graded when the staff grade the submission"
                                 if reason == "hidden" else "") + ".")
    lines.append(f"Isolation: {results.get('isolation', 'unknown')}")
    hand = [(qid, q) for qid, q in questions.items() if q.get("kind") == "hand"]
    if hand:
        lines.append(f"Graded by hand, not in this score ({fmt_number(sum(q.get('max_score', 0) for _, q in hand), 4)} "
                     "points):")
        lines += [f"  {qid} {q.get('title', '')} ({fmt_number(q.get('max_score', 0), 4)})" for qid, q in hand]
    later = results.get("not_graded_by_this_version") or []
    if later:
        lines.append("Not graded by this version of the grader:")
        lines += [f"  {qid} {questions.get(qid, {}).get('title', '')}".rstrip() for qid in later]
    # the plugin also writes the lines above as notes; say each thing once
    notes = [n for n in results.get("notes", []) if not any(n.startswith(s) for s in said)]
    if notes:
        lines.append("Notes:")
        lines += [f"  - {note}" for note in notes]
    return cap("\n".join(lines), SUMMARY_CAP)


def _seconds(results: dict) -> int:
    timings = results.get("timings") or {}
    seconds = timings.get("wall_seconds") or timings.get("session_seconds")
    if seconds is None:
        seconds = sum(float(c.get("duration", 0.0)) for c in results.get("checks", []))
    return int(round(float(seconds)))


def results_json(results: dict) -> dict:
    """Gradescope's results document for a grade.json document."""
    # a harness crash awards nothing: partial checks of a broken run are not a grade
    tests = [] if results.get("error") else _tests(results)
    score = round(sum(round(t["score"] * UNIT) for t in tests) / UNIT, 4)
    earned = score
    # the top-level score overrides the tests' sum: the late penalty (graders.outputs.late_policy)
    after = after_penalty(results, earned)
    score = earned if after is None else after
    return {
        "score": score,
        "execution_time": _seconds(results),
        "output": _summary(results, earned),
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "test_name_format": FORMAT,
        # tests set their own visibility; the total is shown as soon as no test is held back
        "visibility": "visible",
        # stdout is pytest's log, which names hidden checks: for the staff only
        "stdout_visibility": "hidden",
        "extra_data": {"edition": results.get("edition"), "visibility": results.get("visibility"),
                       "not_a_grade": bool(results.get("error")) and results.get("error_cause") != SUBMISSION,
                       "quick": results.get("quick"), "max_score": results.get("max_score"),
                       "late": results.get("late")},
        "tests": tests,
    }


def write(out_dir, results: dict | None = None) -> Path:
    """out_dir/results.json from results (default: out_dir/grade.json); returns its path."""
    out_dir = Path(out_dir)
    if results is None:
        try:
            results = load_results(out_dir)
        except ResultsError as err:
            # Gradescope shows "failed to execute" without a results.json; say what went wrong instead
            results = {"error": f"grade.json could not be read ({err})"}
    path = out_dir / "results.json"
    path.write_text(json.dumps(results_json(results), indent=1))
    return path


def refused_document(late: dict, seconds: float = 0.0) -> dict:
    """Gradescope's results.json for a submission over the limit: no tests, the earlier score kept."""
    score = late.get("previous_score")
    return {"score": score if score is not None else 0.0, "execution_time": int(round(seconds)),
            "output": late["message"], "output_format": FORMAT, "visibility": "visible",
            "stdout_visibility": "hidden", "extra_data": {"late": late}, "tests": []}
