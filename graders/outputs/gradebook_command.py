"""`hw5grade gradebook GRADES_DIR`: a batch's gradebook (grades.csv), and with --hand, merged
with the TAs' hand grades and exported for Canvas (graders.outputs.handgrades)."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

from graders.outputs import gradebook
from graders.outputs import handgrades
from graders.results import document as results_doc
from graders.checks import rubric as rubric_mod


CSV_NAME, CANVAS_NAME = "grades.csv", "canvas.csv"


def add_arguments(parser) -> None:
    parser.add_argument("grades_dir", metavar="GRADES_DIR", help="a batch's output folder (DIR/submissions/<name>/grade.json)")
    parser.add_argument("--hand", metavar="HAND_CSV",
                        help="hand-graded question scores: a 'submission' column, one column per hand question "
                             "('Q1.1' or 'hand Q1.1'); a filled-in grades.csv works")
    parser.add_argument("--roster", metavar="CANVAS_CSV",
                        help="Canvas gradebook export giving each student's ID, SIS ids and section "
                             "(matched by SIS Login ID, SIS User ID, ID or name)")
    parser.add_argument("--assignment", default="Homework 5",
                        help="the Canvas assignment column, as Canvas names it ('Homework 5 (12345)')")
    parser.add_argument("--out", metavar="DIR", help=f"where {CSV_NAME} and {CANVAS_NAME} go (default: GRADES_DIR)")


def main(args) -> int:
    """Write GRADES_DIR's gradebook; with --hand, merged with the hand grades and exported for Canvas."""
    batch = Path(args.grades_dir)
    loaded = results_doc.load_batch(batch)
    if not loaded:
        print(f"hw5grade gradebook: no graded submission under {batch / results_doc.SUBMISSIONS}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else batch
    out.mkdir(parents=True, exist_ok=True)
    table = gradebook.rows(batch, loaded=loaded)
    if not args.hand:
        print(f"gradebook: {gradebook.write_csv(table, out / CSV_NAME)}")
        return 0
    rubric = rubric_mod.load(gradebook.edition_of(loaded))
    try:
        hand = handgrades.read(args.hand, rubric, [name for name, _, _ in loaded])
        roster = handgrades.read_roster(args.roster) if args.roster else None
    except handgrades.HandGradeError as err:
        print(err, file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        print(f"hw5grade gradebook: the roster {args.roster} cannot be read ({err})", file=sys.stderr)
        return 1
    merged = handgrades.merge(table, hand, rubric)
    canvas, unmatched = handgrades.canvas_rows(merged, args.assignment, roster)
    print(f"gradebook: {gradebook.write_csv(merged, out / CSV_NAME)}")
    print(f"Canvas import: {gradebook.write_csv(canvas, out / CANVAS_NAME)}")
    ungraded = [r[gradebook.SUBMISSION] for r in merged if not r[handgrades.TOTAL]]
    if ungraded:
        print(f"  no total (the autograder did not grade them; regrade, then merge again): {', '.join(ungraded)}")
    unread = [r[gradebook.SUBMISSION] for r in merged if r[gradebook.STATUS] == "could not be read"]
    if unread:
        print(f"  0 auto points, the submission could not be read (ask the student for a new file): {', '.join(unread)}")
    if roster is None:
        print("  no --roster: Canvas matches students by ID or SIS id, so the import names them only by submission")
    elif unmatched:
        print(f"  not in the roster (no Canvas ids): {', '.join(unmatched)}")
    return 0
