"""Hand grades: the TAs' CSV of hand-graded question scores, checked and merged with the auto grades.

The CSV has one row per student, named in its `submission` column as the batch names them
(DIR/submissions/<name>/), and one column per hand-graded question of the rubric, named by the
question's id ("Q1.1") or as the gradebook names it ("hand Q1.1"), so a filled-in grades.csv
is itself a valid hand-grade file. Every problem is found before anything is written, and each
is reported with its row and column: an unknown student, a student graded twice or not at all,
a hand question with no column, a column that is no hand question, an empty cell, a cell that
is no finite number, and points below zero or above the question's maximum.

The merged gradebook keeps grades.csv's columns (hand ones filled in) and adds the hand total,
the final total and its maximum; the Canvas export is the gradebook import Canvas reads:
Student, ID, SIS User ID, SIS Login ID, Section, then the assignment's column.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from graders.outputs import gradebook
from graders.checks import rubric as rubric_mod
from graders.checks.numerics import finite_number

STUDENT_COLUMNS = ("submission", "student")      # the column naming the student, first found
HAND_PREFIX = "hand "
HAND_TOTAL, TOTAL, MAX = "hand total", "total", "max"
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
DEFAULT_ASSIGNMENT = "Homework 5"


class HandGradeError(ValueError):
    """The hand-grade CSV has problems; `problems` lists every one, each naming its row and column."""

    def __init__(self, path, problems: list[str]):
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s) in the hand grades, nothing written:\n"
                         + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class HandGrades:
    scores: dict[str, dict[str, float]]     # student -> question id -> points
    questions: list[str]                     # the rubric's hand questions, in rubric order


def hand_questions(rubric: rubric_mod.Rubric) -> dict[str, rubric_mod.Question]:
    return {qid: q for qid, q in rubric.questions.items() if q.kind == "hand"}


def _points(text: str) -> float | None:
    """A cell as points: a finite real number ("3", "2.5"), else None ("nan", "inf", "three")."""
    try:
        value = float(text)
    except ValueError:
        return None
    return finite_number(value)


def read(path, rubric: rubric_mod.Rubric, students: list[str]) -> HandGrades:
    """The hand grades of path for the batch's `students`, or HandGradeError listing every problem."""
    path = Path(path)
    questions = hand_questions(rubric)
    problems: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            records = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise HandGradeError(path, [f"cannot be read as a CSV file ({err})"]) from None
    key = next((c for c in STUDENT_COLUMNS if c in header), None)
    if key is None:
        raise HandGradeError(path, [f"no student column: the first row must name one of "
                                    f"{', '.join(STUDENT_COLUMNS)} (found {', '.join(header) or 'nothing'})"])
    # column -> question id; the gradebook's own columns (auto scores, status...) are ignored
    known = set(gradebook.columns(rubric.edition)) | {HAND_TOTAL, TOTAL, MAX} | {key}
    column_of: dict[str, str] = {}
    for name in header:
        qid = name[len(HAND_PREFIX):] if name.startswith(HAND_PREFIX) else name
        if qid in questions:
            if qid in column_of:
                problems.append(f"column {name!r}: question {qid} has two columns "
                                f"({column_of[qid]!r} and {name!r})")
            column_of[qid] = name
        elif name not in known:
            problems.append(f"column {name!r}: not a hand-graded question of the {rubric.edition} rubric "
                            f"(hand questions: {', '.join(questions)})")
    for qid in questions:
        if qid not in column_of:
            problems.append(f"column {qid!r}: missing; the {rubric.edition} rubric grades {qid} "
                            f"({questions[qid].title}) by hand")
    scores: dict[str, dict[str, float]] = {}
    first_row: dict[str, int] = {}
    batch = set(students)
    for number, record in enumerate(records, start=2):     # row 1 is the header, as a spreadsheet counts
        who = (record.get(key) or "").strip()
        where = f"row {number} ({who or 'no name'})"
        if not who:
            problems.append(f"row {number}, column {key!r}: empty; which student is this?")
            continue
        if who not in batch:
            problems.append(f"{where}, column {key!r}: unknown student {who!r}, not a submission of this batch")
            continue
        if who in first_row:
            problems.append(f"{where}, column {key!r}: {who} is graded again (first on row {first_row[who]})")
            continue
        first_row[who] = number
        scores[who] = {}
        for qid, name in column_of.items():
            text = (record.get(name) or "").strip()
            points = _points(text)
            limit = questions[qid].points
            if not text:
                problems.append(f"{where}, column {name!r}: empty; every hand question needs points (0 for none)")
            elif points is None:
                problems.append(f"{where}, column {name!r}: {text!r} is not a number of points")
            elif points < 0:
                problems.append(f"{where}, column {name!r}: {text} points is below zero")
            elif points > limit:
                problems.append(f"{where}, column {name!r}: {text} points is above the question's "
                                f"maximum of {gradebook._num(limit)}")
            else:
                scores[who][qid] = points
    for who in students:
        if who not in first_row:
            problems.append(f"student {who!r}: no row; every submission of the batch needs its hand grades")
    if problems:
        raise HandGradeError(path, problems)
    return HandGrades(scores=scores, questions=list(questions))


def merge(rows: list[dict], hand: HandGrades, rubric: rubric_mod.Rubric) -> list[dict]:
    """The gradebook rows (gradebook.rows) with hand columns filled in and the final totals added.
    A row the autograder did not grade (a grader error, a missing grade.json) keeps an empty total:
    it is no grade until it is graded."""
    hand_max = rubric.totals()["hand"]
    merged = []
    for row in rows:
        row = dict(row)
        own = hand.scores.get(row[gradebook.SUBMISSION], {})
        for qid in hand.questions:
            row[f"{HAND_PREFIX}{qid}"] = gradebook._num(own.get(qid))
        hand_total = sum(own.values()) if own else None
        auto = finite_number(float(row[gradebook.AUTO_TOTAL])) if row.get(gradebook.AUTO_TOTAL) else None
        auto_max = finite_number(float(row[gradebook.AUTO_MAX])) if row.get(gradebook.AUTO_MAX) else None
        row[HAND_TOTAL] = gradebook._num(hand_total)
        graded = auto is not None and hand_total is not None
        row[TOTAL] = gradebook._num(auto + hand_total) if graded else ""
        row[MAX] = gradebook._num(auto_max + hand_max) if graded and auto_max is not None else ""
        # the totals sit after the hand columns, before the row's repairs and status
        order = list(row)
        for name in (HAND_TOTAL, TOTAL, MAX):
            order.remove(name)
        at = order.index(gradebook.REPAIRS) if gradebook.REPAIRS in order else len(order)
        order[at:at] = [HAND_TOTAL, TOTAL, MAX]
        merged.append({name: row[name] for name in order})
    return merged


def read_roster(path) -> dict[str, dict]:
    """A Canvas gradebook export (or any CSV with its identity columns) keyed by every id a
    submission may be named by: SIS Login ID, SIS User ID, ID and the student's name."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        people = [r for r in csv.DictReader(f) if (r.get("Student") or "").strip()
                  and "Points Possible" not in (r.get("Student") or "")]
    roster: dict[str, dict] = {}
    for person in people:
        for column in ("Student", "ID", "SIS User ID", "SIS Login ID"):
            value = (person.get(column) or "").strip()
            if value:
                roster[value] = {c: (person.get(c) or "").strip() for c in CANVAS_IDENTITY}
    return roster


CANVAS_USER = re.compile(r"^(?P<who>[a-z0-9-]+)_(?P<id>\d+)(?:-\d+)?$")


def by_canvas_id(name: str, roster: dict) -> dict | None:
    """The roster's person a Canvas download's submission (<sortable name>_<user id>) names: the
    one with that ID whose name holds the sortable name, so that a submission merely ending in a
    number (hw5_12) is never taken for another student."""
    m = CANVAS_USER.match(name)
    person = roster.get(m["id"]) if m else None
    letters = re.sub(r"[^a-z0-9]", "", str((person or {}).get("Student", "")).lower())
    return person if person and person.get("ID") == m["id"] and m["who"].replace("-", "") in letters else None


def canvas_rows(rows: list[dict], assignment: str = DEFAULT_ASSIGNMENT,
                roster: dict[str, dict] | None = None) -> tuple[list[dict], list[str]]:
    """(the Canvas import rows, the submissions the roster does not know): Student, ID, SIS User ID,
    SIS Login ID, Section from the roster (the submission's name as Student when there is none),
    then the assignment's column holding the final total."""
    out, unmatched = [], []
    for row in rows:
        name = row[gradebook.SUBMISSION]
        # a Canvas download's submission is named <sortable name>_<user id> (the roster's ID)
        identity = (roster or {}).get(name) or by_canvas_id(name, roster or {})
        if roster is not None and identity is None:
            unmatched.append(name)
        identity = identity or {"Student": name}
        out.append({**{c: identity.get(c, "") for c in CANVAS_IDENTITY},
                    assignment: row.get(TOTAL, "")})
    return out, unmatched
