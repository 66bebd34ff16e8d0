"""`hw5grade grade SUBMISSION --out DIR`: grade one submission and write DIR/grade.json.

Runs the grading suites with pytest in this process (pytest-xdist spreads the checks over
`-n` workers); the plugin scores the outcomes with the rubric and writes the results document,
to which this adds the wall time. pytest's own output goes to DIR/pytest.log; the terminal
shows a score table. grade.json is written whatever happens: if pytest itself fails, the
document says so and every auto-graded question is reported as not graded.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from graders.pipeline import editions
from graders.results import messages
from graders.checks import plugin
from graders.results import document as results_doc
from graders.checks import rubric as rubric_mod
from graders.checks import secret
from graders.results.document import GRADER, GRADER_ERROR_NOTE, SUBMISSION, TIMEOUT, mark_grader_failures
from graders.outputs.terminal import Progress, colour_wanted, format_table  # noqa: F401 -- format_table: the autograder's

SUITES = Path(__file__).resolve().parents[1] / "suites"
# The staff repository's reference/ (absent from the student handout).
STAFF_TREE = Path(__file__).resolve().parents[2] / "reference"


def add_grading_options(parser: argparse.ArgumentParser) -> None:
    """What to grade with: shared by `hw5grade grade` and `hw5grade batch`."""
    parser.add_argument("--visibility", choices=("public", "all"), default="all",
                        help="public: only the checks students receive (default: all)")
    parser.add_argument("--quick", action="store_true", help="skip the training tier")
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="course data: a folder with data/ and images/ (default: synthetic)")
    parser.add_argument("--edition", default="2022")
    parser.add_argument("-k", dest="select", default=None, metavar="EXPR",
                        help="only checks matching this pytest -k expression")
    parser.add_argument("--strict", action="store_true",
                        help="refuse every repair of old library names and other machines' paths "
                             "(the rubric's [repairs] otherwise)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", help="a folder holding python/, or the python/ folder itself")
    parser.add_argument("--out", required=True, metavar="DIR", help="where grade.json and pytest.log go")
    add_grading_options(parser)
    parser.add_argument("-n", "--jobs", type=int, default=0, metavar="N",
                        help="pytest-xdist workers (0: run in this process)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the checks' inputs (default: derived from the submission)")
    parser.add_argument("--map", dest="pytorch_map", metavar="FILE", default=None,
                        help="which file answers which PyTorch question, where the grader's choice (by name and "
                             "content, named in the report) is wrong: TOML or JSON, e.g. \"Q6.1.2\" = \"run_q6.py\"")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every failed check with its whole message and hint (default: one line each)")


def pytest_args(submission, results_path, *, visibility, quick, data_dir, edition, jobs, seed,
                select=None, staff=False, strict=False, pytorch_map=None) -> list[str]:
    args = [str(SUITES), "--submission", str(submission), "--results", str(results_path),
            "--edition", edition, "--visibility", visibility, "--rootdir", str(SUITES),
            "-p", "no:cacheprovider", "-q", "--tb=short",
            # they report the harness's own unraisable exceptions, at the price of five full
            # gc.collect() passes per session: a third of a second of every grade
            "-p", "no:unraisableexception", "-p", "no:threadexception",
            # only the plugins grading needs: whatever else is installed (pytest-benchmark,
            # pytest-timeout, ...) stays out, and no grade scans every installed package's
            # entry points for them (a tenth of a second each time)
            "--disable-plugin-autoload", "-p", "graders.checks.plugin",
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    if quick:
        args.append("--quick")
    if data_dir:
        args += ["--data-dir", str(data_dir)]
    if seed is not None:
        args += ["--grade-seed", str(seed)]
    if strict:
        args.append("--strict-repairs")     # pytest's own --strict is another option
    if pytorch_map:
        args += ["--pytorch-map", str(Path(pytorch_map).resolve())]
    if staff:
        args.append("--staff")      # the key itself stays off the command line (graders.checks.secret)
    if jobs and jobs > 1:
        # loadgroup: the checks of one training run (xdist_group "q3", "q5") share a worker, so
        # each script trains once and the two trainings run side by side
        args += ["-p", "xdist.plugin", "-n", str(jobs), "--dist", "loadgroup"]
    if select:
        args += ["-k", select]
    return args


def crashed_results(edition: str, reason: str, submission, visibility: str, quick: bool,
                    cause: str = GRADER) -> dict:
    """A results document for a run that graded nothing (see GRADER, SUBMISSION): nothing is awarded."""
    try:
        rubric = rubric_mod.load(edition)
        scored = rubric.score([])
        for entry in scored["questions"].values():
            if entry["kind"] == "auto":
                entry["status"] = ("not graded: the grader failed" if cause == GRADER
                                   else "not graded: the submission could not be read")
        scored["not_graded_by_this_version"] = []
    except Exception as err:  # noqa: BLE001 -- even a broken rubric must give a document
        scored = {"score": 0.0, "max_score": 0.0, "questions": {}, "rubric_error": str(err)}
    return {"edition": edition, "submission": str(submission), "visibility": visibility,
            "quick": quick, "isolation": "unknown", **scored, "checks": [],
            "error": reason, "error_cause": cause,
            "notes": [GRADER_ERROR_NOTE] if cause in (GRADER, TIMEOUT) else [reason],
            "libraries": plugin.library_versions()}


def run(submission, out_dir, visibility: str = "all", quick: bool = False, data_dir=None,
        edition: str = "2022", jobs: int = 0, seed: int | None = None, select: str | None = None,
        notes=(), fields: dict | None = None, reports: bool = True, ingested: bool = False,
        strict: bool = False, pytorch_map=None) -> dict:
    """Grade one submission; write out_dir/grade.json and out_dir/pytest.log; return the document.

    The submission (a folder, a .zip or a notebook) is first prepared by graders.pipeline.ingest, as the
    batch and Gradescope prepare theirs: regular files copied into a private folder, links and
    special files refused with a note, sizes bounded; ingested=True says the caller did it.
    notes go before the run's own (what ingesting the submission found); fields replace
    top-level entries (the batch names the file handed in, not its unpacked copy); both are in
    grade.json as first written, so callers never rewrite it. reports=False leaves report.html
    and results.json to the caller (write_reports)."""
    import pytest

    from graders.pipeline import ingest

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / "results.pytest.json"
    results_path.unlink(missing_ok=True)
    start = time.time()
    exit_code, failure = None, None
    if not os.path.lexists(submission):
        results = crashed_results(edition, f"no submission at {submission}", submission, visibility, quick)
        return _record(out_dir, results, notes, fields, reports)
    with open(out_dir / "pytest.log", "w") as log, tempfile.TemporaryDirectory(prefix="hw5grade-") as tmp:
        args = []
        try:
            graded = Path(submission)
            if not ingested:
                if _staff_tree(graded) and editions.overlay(graded, edition):
                    # a staff tree (reference/): the edition is its python/ with the overlay applied
                    graded = editions.compose(graded.resolve(), edition, Path(tmp) / "composed")
                    notes = [*notes, f"graded the {edition} edition of this staff tree: python/ with "
                                     f"{edition}/python/ applied"]
                prepared = ingest.prepare(ingest.submission_at(graded), Path(tmp) / "ingested")
                graded, notes = prepared.folder, [*notes, *prepared.notes]
                fields = {"submission": str(submission), **(fields or {})}
            staff = visibility == "all"     # staff grading: the course key (graders.checks.secret)
            if staff:
                secret.staff_key(create=True)
            args = pytest_args(graded, results_path, visibility=visibility, quick=quick, data_dir=data_dir,
                               edition=edition, jobs=jobs, seed=seed, select=select, staff=staff,
                               strict=strict, pytorch_map=pytorch_map)
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                exit_code = int(pytest.main(args))
        except ingest.IngestError as err:
            results = crashed_results(edition, err.message, submission, visibility, quick, cause=SUBMISSION)
            return _record(out_dir, results, notes, {"submission": str(submission), **(fields or {})}, reports)
        except BaseException as err:  # noqa: BLE001 -- the harness never ends without results
            failure = f"pytest failed: {type(err).__name__}: {err}"
            log.write(traceback.format_exc())
    escape_log(out_dir / "pytest.log")
    results = None
    if results_path.exists():
        try:
            results = json.loads(results_path.read_text())
        except ValueError as err:
            failure = failure or f"the results document is unreadable ({err})"
    if results is None:
        failure = failure or (f"pytest ended with exit code {exit_code} without results "
                              f"(see {out_dir / 'pytest.log'})")
        results = crashed_results(edition, failure, submission, visibility, quick)
    elif exit_code not in (0, 1, 5):
        # interrupted, internal or usage error: some checks may be missing from the document
        results.setdefault("notes", []).append(f"pytest ended with exit code {exit_code}; see pytest.log")
        results["error"] = failure or f"pytest exit code {exit_code}"
        results["error_cause"] = GRADER
    mark_grader_failures(results)
    results.setdefault("timings", {})["wall_seconds"] = round(time.time() - start, 3)
    results["jobs"] = jobs
    results["pytest_args"] = args
    results_path.unlink(missing_ok=True)
    return _record(out_dir, results, notes, fields, reports)


def _staff_tree(path: Path) -> bool:
    """The repository's own reference/ (its editions are composed); never a student's folder.
    Not through graders.staff.staff_solution, which the student handout does not ship."""
    return not path.is_symlink() and path.is_dir() and path.resolve() == STAFF_TREE


def escape_log(path: Path, chunk: int = 1 << 20) -> None:
    """pytest.log with the control characters of what it quotes escaped (messages.printable), so
    `cat pytest.log` cannot clear a TA's screen or write their clipboard."""
    try:
        with open(path, encoding="utf-8", errors="backslashreplace", newline="") as src, \
                open(path.with_name(f".{path.name}.tmp"), "w", encoding="utf-8") as dst:
            while text := src.read(chunk):
                dst.write(messages.printable(text))
        os.replace(path.with_name(f".{path.name}.tmp"), path)
    except OSError:
        pass   # the log is for the staff's reading; the grade does not depend on it


def _record(out_dir: Path, results: dict, notes, fields: dict | None, reports: bool) -> dict:
    results["notes"] = [*notes, *results.get("notes", [])]
    results.update(fields or {})
    results_doc.write(out_dir / results_doc.FILE, results)
    if reports:
        write_reports(out_dir)
    return results


def write_reports(out_dir: Path) -> str | None:
    """report.html and results.json beside grade.json; the grade stands even if they fail.
    Returns what went wrong, or None."""
    from graders.outputs import publish
    try:
        publish.write_outputs(out_dir)
    except Exception as err:  # noqa: BLE001 -- a report bug must not lose a grade
        problem = f"{type(err).__name__}: {err}"    # it may quote the document, the student's text
        print(f"hw5grade: the report could not be written ({messages.printable(problem, newlines=False)}); "
              f"grade.json is complete, `hw5grade report {out_dir}` retries", file=sys.stderr)
        return problem
    return None


def main(args: argparse.Namespace) -> int:
    pytorch_map = getattr(args, "pytorch_map", None)
    if pytorch_map:
        from graders.pipeline import discovery
        try:
            discovery.load_map(pytorch_map)
        except discovery.MapError as err:      # the TA's file: said before anything is graded
            print(f"hw5grade: --map {messages.printable(str(err), newlines=False)}", file=sys.stderr)
            return 2
    # each question's result as it comes, on a terminal (xdist's reports reach this process too)
    progress = Progress(sys.stdout, colour_wanted()) if sys.stdout.isatty() else None
    plugin.PROGRESS = progress.update if progress else None
    try:
        results = run(args.submission, args.out, visibility=args.visibility, quick=args.quick,
                      data_dir=args.data_dir, edition=args.edition, jobs=args.jobs, seed=args.seed,
                      select=args.select, strict=args.strict, pytorch_map=pytorch_map)
    finally:
        plugin.PROGRESS = None
        if progress:
            progress.finish()
    print(format_table(results, verbose=getattr(args, 'verbose', False), colour=colour_wanted()))
    report = Path(args.out) / "report.html"
    print(f"results: {Path(args.out) / 'grade.json'}" + (f"; report: {report}" if report.exists() else ""))
    if results.get("error") and results.get("error_cause", GRADER) != SUBMISSION:
        print("hw5grade: this is not a grade: " + ("the grader itself failed" if results.get("error_cause", GRADER) == GRADER
                                                   else "grading ran past its time limit"), file=sys.stderr)
    return 2 if results.get("error") else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="hw5grade grade", description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
