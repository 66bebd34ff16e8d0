"""A results folder's outputs, written from its grade.json alone: report.html (graders.outputs.report)
and Gradescope's results.json (graders.outputs.gradescope); for a batch folder, each submission's and the
class's overview (graders.outputs.overview). `hw5grade report DIR ...` rewrites them without grading
again, after a template or a late policy changed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graders.outputs import gradescope
from graders.outputs import overview
from graders.outputs import report
from graders.results import document as results_doc


def write_outputs(out_dir) -> dict[str, Path]:
    """From out_dir/grade.json: out_dir/report.html and (with graders.outputs.gradescope) results.json."""
    out_dir = Path(out_dir)
    results = results_doc.load(out_dir)
    written = {"report": out_dir / "report.html"}
    written["report"].write_text(report.render_report(results, out_dir), encoding="utf-8")
    written["results"] = gradescope.write(out_dir, results)
    return written


# ---------------------------------------------------------------- `hw5grade report`

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dirs", nargs="+", metavar="DIR",
                        help="a results folder (holding grade.json) or a batch folder (its submissions/ do)")


def _render_batch(folder: Path) -> bool:
    ok = True
    for sub in results_doc.submission_dirs(folder):
        ok &= _render_one(sub)
    try:
        for path in overview.write_batch(folder).values():
            print(f"wrote {path}")
    except (OSError, results_doc.ResultsError) as err:
        print(f"{folder}: the batch overview failed: {err}", file=sys.stderr)
        ok = False
    return ok


def _render_one(folder: Path) -> bool:
    try:
        written = write_outputs(folder)
    except (OSError, results_doc.ResultsError) as err:
        print(f"{folder}: not rendered: {err}", file=sys.stderr)
        return False
    for path in written.values():
        print(f"wrote {path}")
    return True


def main(args: argparse.Namespace) -> int:
    ok = True
    for folder in map(Path, args.dirs):
        if (folder / results_doc.FILE).is_file():
            ok &= _render_one(folder)
        elif folder.is_dir() and results_doc.submission_dirs(folder):
            ok &= _render_batch(folder)
        else:
            print(f"{folder}: no grade.json in it or in its submissions/", file=sys.stderr)
            ok = False
    return 0 if ok else 1
