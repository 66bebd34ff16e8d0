"""`hw5grade diff OLD NEW`: the students whose grade moved between two grading runs, and why.

Two batch folders (DIR/submissions/<name>/grade.json) are compared student by student. A student
is listed when their score changed, or when they were graded in one run and not in the other
(a grader error, a missing grade.json, a submission only one run has). For each, the questions
whose score moved, and under each the checks whose outcome moved, with the old and new messages,
so a TA can tell a fixed grader bug from a changed rubric from a student's new code. The batch
prints the same summary when it regrades submissions it had graded before.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from graders.outputs import report
from graders.results import document as results_doc
from graders.results.messages import printable

TOLERANCE = 5e-5         # scores are rounded to 4 places: below this nothing moved
MESSAGE_CHARS = 200


@dataclass
class CheckMove:
    name: str
    old_status: str
    new_status: str
    old_message: str
    new_message: str


@dataclass
class QuestionMove:
    qid: str
    title: str
    old_score: float | None
    new_score: float | None
    checks: list[CheckMove] = field(default_factory=list)
    why: str = ""                 # when no check moved: what did (the rubric's points)


@dataclass
class StudentMove:
    name: str
    old_score: float | None
    new_score: float | None
    old_state: str                # "graded", or why there is no score
    new_state: str
    questions: list[QuestionMove] = field(default_factory=list)

    @property
    def delta(self) -> float | None:
        if self.old_score is None or self.new_score is None:
            return None
        return self.new_score - self.old_score


def _score(results: dict | None) -> float | None:
    if results is None or results.get("error"):
        return None
    return results_doc.number(results.get("score"))


def _state(results: dict | None, problem: str) -> str:
    if results is None:
        return problem or "absent"
    if results.get("error"):
        return f"not graded: {results['error']}"
    return "graded"


def _checks(results: dict | None) -> dict[str, dict]:
    return {results_doc.check_id(c): c for c in (results or {}).get("checks", [])
            if isinstance(c, dict)}


def _moved(a, b) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(a - b) > TOLERANCE


def _message(check: dict | None) -> str:
    return "" if check is None else str(check.get("message") or "")


def question_moves(old: dict, new: dict) -> list[QuestionMove]:
    """The questions whose score moved between two graded documents, each with its checks that moved."""
    old_checks, new_checks = _checks(old), _checks(new)
    moves = []
    old_q, new_q = old.get("questions", {}), new.get("questions", {})
    for qid in dict.fromkeys([*old_q, *new_q]):
        a, b = old_q.get(qid) or {}, new_q.get(qid) or {}
        old_score, new_score = results_doc.number(a.get("score")), results_doc.number(b.get("score"))
        if not _moved(old_score, new_score):
            continue
        move = QuestionMove(qid, str(b.get("title") or a.get("title") or ""), old_score, new_score)
        for key in dict.fromkeys([*old_checks, *new_checks]):
            oc, nc = old_checks.get(key), new_checks.get(key)
            if (oc or nc or {}).get("question") != qid and (nc or oc or {}).get("question") != qid:
                continue
            old_status = str(oc.get("status")) if oc else "absent"
            new_status = str(nc.get("status")) if nc else "absent"
            if old_status != new_status or _message(oc) != _message(nc):
                move.checks.append(CheckMove(str((nc or oc).get("name") or key), old_status, new_status,
                                             _message(oc), _message(nc)))
        if not move.checks and a.get("max_score") != b.get("max_score"):
            move.why = f"the rubric's points for {qid} changed: {a.get('max_score')} -> {b.get('max_score')}"
        moves.append(move)
    return moves


def diff(old_loaded, new_loaded) -> list[StudentMove]:
    """The students who moved, from two results_doc.load_batch results, in name order."""
    old = {name: (results, problem) for name, results, problem in old_loaded}
    new = {name: (results, problem) for name, results, problem in new_loaded}
    moves = []
    for name in sorted(set(old) | set(new)):
        (a, a_problem), (b, b_problem) = old.get(name, (None, "")), new.get(name, (None, ""))
        old_state = _state(a, a_problem) if name in old else "only in the new run"
        new_state = _state(b, b_problem) if name in new else "only in the old run"
        old_score, new_score = _score(a), _score(b)
        if not _moved(old_score, new_score) and (old_state == "graded") == (new_state == "graded"):
            continue
        move = StudentMove(name, old_score, new_score, old_state, new_state)
        if old_state == new_state == "graded":
            move.questions = question_moves(a, b)
        moves.append(move)
    return moves


def diff_dirs(old_dir, new_dir) -> list[StudentMove]:
    return diff(results_doc.load_batch(old_dir), results_doc.load_batch(new_dir))


def _one_line(text: str) -> str:
    text = printable(text, newlines=False)
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 1] + "…"


def _side(score, state) -> str:
    return report.fmt_number(score, 4) if score is not None else f"({_one_line(state)})"


def format_moves(moves: list[StudentMove], compared: int | None = None) -> str:
    """The moves as text for a terminal: student, then question, then check with both messages."""
    if not moves:
        return "no student's grade moved" + (f" ({compared} compared)" if compared is not None else "")
    lines = [f"{len(moves)} student(s) moved" + (f" of {compared}" if compared is not None else "") + ":"]
    for m in moves:
        delta = m.delta
        change = f" ({'+' if delta > 0 else ''}{report.fmt_number(delta, 4)})" if delta is not None else ""
        lines.append(f"  {printable(m.name, newlines=False)}: {_side(m.old_score, m.old_state)} -> "
                     f"{_side(m.new_score, m.new_state)}{change}")
        for q in m.questions:
            lines.append(f"    {q.qid} {q.title}: {_side(q.old_score, 'no score')} -> {_side(q.new_score, 'no score')}")
            if q.why:
                lines.append(f"      {q.why}")
            for c in q.checks:
                lines.append(f"      {printable(c.name, newlines=False)}: {c.old_status} -> {c.new_status}")
                if c.old_message != c.new_message:
                    lines.append(f"        old: {_one_line(c.old_message) or '(no message)'}")
                    lines.append(f"        new: {_one_line(c.new_message) or '(no message)'}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD_GRADES", help="the earlier batch folder (DIR/submissions/<name>/grade.json)")
    parser.add_argument("new", metavar="NEW_GRADES", help="the later batch folder")


def main(args: argparse.Namespace) -> int:
    for folder in (args.old, args.new):
        if not Path(folder, results_doc.SUBMISSIONS).is_dir():
            print(f"hw5grade diff: {folder} is not a batch folder (no {results_doc.SUBMISSIONS}/ in it)", file=sys.stderr)
            return 2
    old, new = results_doc.load_batch(args.old), results_doc.load_batch(args.new)
    compared = len({n for n, _, _ in old} | {n for n, _, _ in new})
    print(format_moves(diff(old, new), compared))
    return 0


# ---------------------------------------------------------------- the batch's regrade summary

def snapshot(batch_dir) -> dict[str, tuple]:
    """What a batch folder holds before it is regraded: name -> (results or None, why not)."""
    return {name: (results, problem) for name, results, problem in results_doc.load_batch(batch_dir)}


def after_regrade(batch_dir, before: dict[str, tuple], regraded: list[str]) -> str:
    """The summary of who moved among `regraded` (the submissions the batch graded again that had a
    grade.json before it started); "" when none of them had one."""
    again = [name for name in regraded if name in before]
    if not again:
        return ""
    moves = diff([(name, *before[name]) for name in again], results_doc.load_batch(batch_dir, again))
    return format_moves(moves, len(again))
