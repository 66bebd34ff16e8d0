"""`hw5grade watch`: the quick checks again each time the student saves a file (issue 19).

The student's python/ folder is watched with watchfiles (the operating system's change
notifications, not polling). A save regrades the quick tier of the suites that read the files
that changed (nn.py: the Q2 checks; q4.py: findLetters; a file no suite is known to read:
everything quick), and prints what changed since the last result of each check (fixed, newly
broken) above the short table of the questions that ran. The process keeps a spare sandbox
started (graders.sandbox.sandbox.keep_spares), so a regrade does not wait for a worker to start.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from graders.results import messages
from graders.outputs import terminal

# file -> the suite modules whose checks read it (pytest -k matches a check's module name);
# the static checks (imports, removed names) read every file
SUITES_OF = {
    "nn.py": ("q2_network",), "run_q2.py": ("q2_network",),
    "q4.py": ("q4_letters",), "run_q4.py": ("q4_letters",),
    "run_q3.py": ("q3_training", "q3_second_set"), "run_q5.py": ("q5_autoencoder",),
}
ALWAYS = ("static_checks",)
PASSED = ("passed",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", nargs="?", default="student",
                        help="the folder holding python/ (default: student)")
    parser.add_argument("--out", default="feedback", metavar="DIR", help="where grade.json and the report go")
    parser.add_argument("--edition", default="2022")
    parser.add_argument("--visibility", choices=("public", "all"), default="public")


def selection(changed: set[str]) -> str | None:
    """The -k expression of the suites that read the changed files; None: every quick check."""
    suites = []
    for name in sorted(changed):
        if name not in SUITES_OF:
            return None             # a helper of the student's, util.py, a PyTorch script: all of it
        suites += [s for s in SUITES_OF[name] if s not in suites]
    return " or ".join(suites + list(ALWAYS)) if suites else None


def statuses(results: dict) -> dict[str, dict]:
    """nodeid -> check record, for the checks that ran in this grade."""
    return {c["nodeid"]: c for c in results.get("checks", [])
            if not c.get("not_run") and c.get("status") != "hidden-not-run"}


def changes(before: dict[str, dict], now: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """(fixed, newly broken): checks that ran now and whose last result was the other way."""
    fixed = [c for k, c in now.items() if c["status"] in PASSED and k in before and before[k]["status"] not in PASSED]
    broken = [c for k, c in now.items() if c["status"] not in PASSED and (k not in before or before[k]["status"] in PASSED)]
    return fixed, broken


def report(results: dict, before: dict, why: str, seconds: float, colour: bool = False) -> str:
    """What a regrade prints: when and why, what changed, then the questions that ran."""
    now = statuses(results)
    fixed, broken = changes(before, now) if before else ([], [])
    line = lambda text: messages.printable(text, newlines=False)  # noqa: E731 -- student text, one line
    out = [f"[{time.strftime('%H:%M:%S')}] {why}: {len(now)} checks in {seconds:.1f} s"]
    out += [f"  fixed: {line(c['description'])}" for c in fixed]
    out += [f"  newly broken: {line(c['description'])}: {terminal.first_line(c.get('message'))}" for c in broken]
    if before and not fixed and not broken:
        out.append("  no check changed")
    ran = {c["question"] for c in now.values()}
    shown = {**results, "questions": {q: e for q, e in results.get("questions", {}).items() if q in ran},
             "notes": [], "timings": {}}
    table = terminal.format_table(shown, verbose=False, colour=colour).splitlines()
    out += [t for t in table[1:] if not t.startswith(("TOTAL", "graded by hand", "not graded by this version"))]
    return "\n".join(out)


def watch(submission: Path, out: Path, edition: str = "2022", visibility: str = "public", changed_files=None,
          runs: int | None = None, emit=print) -> dict:
    """Grade the quick tier once, then again for each batch of changed files (changed_files:
    an iterable of sets of file names; default: watchfiles on python/), at most `runs` regrades.
    Returns the last result of each check."""
    from graders.pipeline import grade
    from graders.sandbox import sandbox
    from graders.checks import static
    submission = Path(submission)
    python_dir = static.python_folder(submission)
    sandbox.keep_spares()
    colour = terminal.colour_wanted()
    latest: dict[str, dict] = {}

    def regrade(why: str, select: str | None) -> None:
        start = time.perf_counter()
        results = grade.run(submission, out, visibility=visibility, quick=True, edition=edition, select=select)
        emit(report(results, latest, why, time.perf_counter() - start, colour))
        latest.update(statuses(results))

    regrade("every quick check", None)
    if changed_files is None:
        import watchfiles
        changed_files = ({Path(p).name for _, p in batch if Path(p).suffix in (".py", ".ipynb")}
                         for batch in watchfiles.watch(python_dir, debounce=400))
    done = 0
    for names in changed_files:
        if not names:
            continue
        regrade(f"{', '.join(sorted(names))} changed", selection(set(names)))
        done += 1
        if runs is not None and done >= runs:
            break
    return latest


def main(args: argparse.Namespace) -> int:
    print(f"watching {Path(args.submission) / 'python'}: the quick checks run again each time you save a file "
          "(Ctrl-C stops)")
    try:
        watch(Path(args.submission), Path(args.out), args.edition, args.visibility)
    except KeyboardInterrupt:
        pass
    return 0
