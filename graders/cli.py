"""The `hw5grade` command: one entry point, a subcommand per job."""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module holding add_arguments/main, one-line help). Modules load only when their
# subcommand runs, so `hw5grade stubs` works without the grading stack's heavier imports.
SUBCOMMANDS = {
    "fixtures": ("fixtures.command", "build the embedded synthetic data (cached, not committed)"),
    "stubs": ("graders.staff.stubs", "regenerate student/ from reference/"),
    "grade": ("graders.pipeline.grade", "grade one submission and write grade.json"),
    "watch": ("graders.pipeline.watch", "run the quick checks again each time a file of student/python is saved"),
    "report": ("graders.outputs.publish", "re-render report.html (and a batch's index.html) from saved grade.json"),
    "batch": ("graders.staff.batch", "grade a folder of submissions (local pool or Dask; resumable)"),
    "release": ("graders.staff.release", "write the student handout (stubs, public checks, tox.ini)"),
    "autograder": ("graders.staff.gradescope_bundle", "write the Gradescope autograder bundle (staff-only)"),
    "secret": ("graders.checks.secret", "say where the course key of staff grading is; make it if there is none"),
    "gradebook": ("graders.outputs.gradebook_command", "write a batch's gradebook; --hand merges hand grades and exports for Canvas"),
    "diff": ("graders.outputs.regrade_diff", "list the students whose grade moved between two batch folders, and why"),
    "similarity": ("graders.staff.similarity", "rank pairs of submissions by the code they share (staff only; needs copydetect)"),
}


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand listed and only `chosen`'s module imported for its
    options (None: all of them, for a complete --help of each)."""
    parser = argparse.ArgumentParser(prog="hw5grade", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if chosen is not None and name != chosen:
            continue
        try:
            importlib.import_module(module).add_arguments(p)
        except ImportError as err:
            p.set_defaults(_unavailable=str(err))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # the first word that is not an option names the subcommand (hw5grade itself takes only -h)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(chosen or "").parse_args(argv)      # "": none imported (hw5grade -h)
    if getattr(args, "_unavailable", None):
        print(f"hw5grade {args.command} is unavailable: {args._unavailable}", file=sys.stderr)
        return 2
    return importlib.import_module(args._module).main(args) or 0


if __name__ == "__main__":
    sys.exit(main())
