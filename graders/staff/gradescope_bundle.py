"""`hw5grade autograder --out autograder.zip`: the Gradescope autograder bundle, and what it runs.

The bundle is staff-only: it holds the whole harness (hidden suites, graders.staff.staff_solution) and the
staff solution in reference/, because Gradescope runs the same checks as a TA with every
visibility; Gradescope shows the hidden checks to students only once the grades are published
(graders.outputs.gradescope maps the visibilities).

Gradescope unzips the bundle into /autograder/source, runs setup.sh once when it builds the
image, then run_autograder once per submission with the student's upload in
/autograder/submission, and reads /autograder/results/results.json. Here:
- setup.sh installs bubblewrap and a Python >= 3.11 with apt-get, the harness and its
  dependencies with pip into /autograder/venv, and builds the synthetic data, so nothing
  downloads while a submission is graded. Its steps are functions; HW5GRADE_SETUP_STEPS picks
  some of them (e.g. "packages fixtures").
- run_autograder calls `gradescope_main()` below, which finds the submission (a folder of files,
  a zip, or a notebook: graders.pipeline.ingest), grades it with graders.pipeline.grade.run and writes
  results.json with graders.outputs.gradescope.results_json. A results.json is written whatever
  happens: by this module when grading fails, and by the shell script if Python itself cannot
  start.
- The bundle carries the course key (graders.checks.secret) as course.key, which run_autograder names
  in HW5GRADE_SECRET_FILE and setup.sh builds the staff data from: Gradescope grades with the
  staff's photos, held-out data and seeds, never the handout's public ones.
- HW5GRADE_AUTOGRADER_ROOT replaces /autograder (local tests); HW5GRADE_AUTOGRADER_ARGS adds
  options of `hw5grade grade` (e.g. "--quick -k 'q2_network or static_checks'").
- The grading runs in a child process with the batch's per-job wall-clock limit
  (graders.staff.batch.job_limit; HW5GRADE_JOB_SECONDS overrides it): past it, the child and all it
  started are killed and results.json says the grading timed out and the staff will regrade it.
- Gradescope's containers usually forbid the user namespaces bubblewrap needs; the sandbox then
  runs student code without isolation (graders.sandbox.sandbox falls back by itself), as the user nobody
  where the grader is root, after lock_secrets made the key, the solution, the hidden checks and
  the staff truth root's alone; the results say so with bubblewrap's reason.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import stat
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOT_ENV = "HW5GRADE_AUTOGRADER_ROOT"
ARGS_ENV = "HW5GRADE_AUTOGRADER_ARGS"
JOB_SECONDS_ENV = "HW5GRADE_JOB_SECONDS"
DEFAULT_ROOT = "/autograder"
KEY_NAME = "course.key"          # the course key in the bundle's source (graders.checks.secret)

# What the bundle's source holds, by pattern from the repository root: the installable package
# (as pyproject.toml describes it) and the staff solution. tests/ and student/ stay out.
SOURCE_PATTERNS = ("pyproject.toml", "README.md", "graders/**/*.py", "graders/rubrics/*.toml", "graders/debug_pages/*.toml",
                   "graders/results/*.json",
                   "report_templates/*", "fixtures/*.py", "fixtures/annotations/*.json",
                   "reference/python/*.py")

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, from /autograder/source, when it builds the autograder's image.
# Each step is a function; HW5GRADE_SETUP_STEPS="packages fixtures" runs only those.
set -euo pipefail
ROOT="${HW5GRADE_AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="$ROOT/venv"
export HW5GRADE_CACHE="${HW5GRADE_CACHE:-$ROOT/cache}"
export DEBIAN_FRONTEND=noninteractive

system() {
    # bubblewrap: the sandbox (it may still be refused at run time; grading then says so)
    apt-get update
    apt-get install -y --no-install-recommends bubblewrap ca-certificates
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        # the harness reads its rubric with tomllib (Python 3.11); Ubuntu 22.04 has 3.10
        apt-get install -y --no-install-recommends python3.11 python3.11-venv
    fi
}

packages() {
    local py=python3
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || py=python3.11
    "$py" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --upgrade pip
    # editable: graders.staff.staff_solution finds reference/ beside the package, in $SOURCE
    "$VENV/bin/python" -m pip install -e "$SOURCE"
}

fixtures() {
    # the synthetic data and the course key's staff data, built now so that grading never
    # downloads or builds anything
    HW5GRADE_SECRET_FILE="${HW5GRADE_SECRET_FILE:-$SOURCE/course.key}" "$VENV/bin/hw5grade" fixtures --staff
}

for step in ${HW5GRADE_SETUP_STEPS:-system packages fixtures}; do
    echo "== setup: $step"
    "$step"
done
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this once per submission: /autograder/submission -> /autograder/results/results.json
set -u
ROOT="${HW5GRADE_AUTOGRADER_ROOT:-/autograder}"
export HW5GRADE_AUTOGRADER_ROOT="$ROOT"
export HW5GRADE_CACHE="${HW5GRADE_CACHE:-$ROOT/cache}"
export HW5GRADE_SECRET_FILE="${HW5GRADE_SECRET_FILE:-$ROOT/source/course.key}"
export MPLBACKEND=Agg
PY="${HW5GRADE_PYTHON:-$ROOT/venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
mkdir -p "$ROOT/results"
rm -f "$ROOT/results/results.json"
cd "$ROOT/source"
"$PY" -c 'import sys; from graders.staff.gradescope_bundle import gradescope_main; sys.exit(gradescope_main())'
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    # Python could not even start the grader: still give Gradescope a document, never a silent failure
    cat > "$ROOT/results/results.json" <<EOF
{"score": 0, "output": "The grader failed before it could score this submission (exit code $status). No points are awarded by this run; this is not your fault. Please tell the course staff, who will grade it again.", "output_format": "text", "stdout_visibility": "hidden", "tests": []}
EOF
fi
exit 0
"""


# ---------------------------------------------------------------------------------------------
# building the bundle

def source_files() -> dict[str, Path]:
    files = {}
    for pattern in SOURCE_PATTERNS:
        for path in sorted(REPO.glob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts:
                files[str(path.relative_to(REPO))] = path
    return files


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2022, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    zf.writestr(info, data)


def build(out: Path, edition: str = "2022") -> list[str]:
    """Write the bundle for an edition; returns the names it holds."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = []
    with zipfile.ZipFile(out, "w") as zf:
        setup, run = SETUP_SH, RUN_AUTOGRADER
        if edition != "2022":
            # the edition is baked in: its data built with the image, every grade run as it
            setup = setup.replace('"$VENV/bin/hw5grade" fixtures --staff',
                                  f'"$VENV/bin/hw5grade" fixtures --staff --edition {edition}')
            run = run.replace('set -u\n', f'set -u\nexport {ARGS_ENV}="--edition {edition} ${{{ARGS_ENV}:-}}"\n', 1)
        _add(zf, "setup.sh", setup.encode(), executable=True)
        _add(zf, "run_autograder", run.encode(), executable=True)
        names += ["setup.sh", "run_autograder"]
        # the course key, made on first staff use: Gradescope grades as the staff do
        info = zipfile.ZipInfo(KEY_NAME, date_time=(2022, 1, 1, 0, 0, 0))
        info.external_attr = (0o600 | stat.S_IFREG) << 16
        from graders.checks import secret
        zf.writestr(info, secret.staff_key(create=True).hex() + "\n")
        names.append(KEY_NAME)
        for name, path in source_files().items():
            _add(zf, name, path.read_bytes())
            names.append(name)
    return names


# ---------------------------------------------------------------------------------------------
# inside Gradescope

def find_submission(folder: Path):
    """The upload as a graders.pipeline.ingest.Submission: the folder itself when it holds Python files or
    notebooks, else the zip it holds (Gradescope keeps an uploaded zip as is)."""
    from graders.pipeline import ingest
    if not folder.is_dir():
        raise ingest.IngestError(f"nothing was submitted ({folder} does not exist)")
    files = [p for p in folder.rglob("*") if p.is_file()]
    zips = sorted(p for p in files if p.suffix.lower() == ".zip")
    if zips and not any(p.suffix.lower() in (".py", ".ipynb") for p in files):
        return ingest.Submission("submission", zips[0], "zip")
    return ingest.Submission("submission", folder, "folder")


def grade_args(submission: Path, out: Path, extra: str) -> argparse.Namespace:
    """The options of `hw5grade grade`, with the staff's extra ones; every visibility."""
    from graders.pipeline import grade
    parser = argparse.ArgumentParser(prog="run_autograder")
    grade.add_arguments(parser)
    extra_args = shlex.split(extra)
    if not any(a in ("-n", "--jobs") or a.startswith("--jobs=") for a in extra_args):
        # run_q3 and run_q5 then train side by side
        extra_args += ["-n", str(min(2, os.cpu_count() or 1))]
    return parser.parse_args([str(submission), "--out", str(out), *extra_args])


def lock_secrets(root: str | Path | None = None, cache: str | Path | None = None) -> list[Path]:
    """Make what only the grader may read root's alone, before any student code runs: the
    bundle's source (the course key, the staff solution, the hidden checks), the results folder
    and every truth/ and grader/ folder of the data cache. Where bubblewrap cannot run, a root
    grader runs student code as nobody (graders.sandbox.sandbox), which reads only what others may read.
    Nothing to do for a grader that is not root: its student code has its own rights anyway."""
    if os.geteuid() != 0:
        return []
    root = Path(root or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)
    from fixtures import cache as cache_mod
    cache = Path(cache) if cache else cache_mod.cache_root()
    from graders.checks import secret
    locked = [path for path in (root / "source", root / "results", secret.key_file()) if path.exists()]
    for top, dirs, _ in os.walk(cache):
        for name in [d for d in dirs if d in ("truth", "grader")]:
            locked.append(Path(top) / name)
            dirs.remove(name)
    for path in locked:
        os.chmod(path, 0o600 if path.is_file() else 0o700)
    return locked


def gradescope_main(root: str | Path | None = None) -> int:
    """Grade ROOT/submission, write ROOT/results/results.json. Always writes the document."""
    root = Path(root or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)
    results_path = root / "results" / "results.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    try:
        lock_secrets(root)
        document = _grade(root, os.environ.get(ARGS_ENV, ""), start)
    except BaseException as err:  # noqa: BLE001 -- Gradescope must get a document whatever happens
        traceback.print_exc()
        from graders.outputs import gradescope
        document = gradescope.results_json({"error": f"{type(err).__name__}: {err}",
                                            "timings": {"wall_seconds": time.time() - start}})
    results_path.write_text(json.dumps(document, indent=1))
    print(f"results: {results_path} (score {document.get('score')})")
    return 0


def _grade(root: Path, extra: str, start: float) -> dict:
    from graders.pipeline import grade
    from graders.outputs import gradescope
    from graders.pipeline import ingest
    from graders.results import document as results_doc
    from graders.sandbox import sandbox
    # grade.json, pytest.log and figures stay beside results.json for the staff (Gradescope
    # reads results.json only)
    args = grade_args(root / "submission", root / "results" / "hw5grade", extra)
    # the rubric's late policy and submission limit, from Gradescope's submission_metadata.json
    from graders.outputs import late_policy
    late = late_policy.read(root, args.edition)
    if late and late.get("refused"):
        print(late["message"])
        return gradescope.refused_document(late, time.time() - start)
    with tempfile.TemporaryDirectory(prefix="hw5grade-") as work:
        try:
            prepared = ingest.prepare(find_submission(root / "submission"), Path(work) / "submissions")
        except ingest.IngestError as err:
            # the upload holds nothing to grade: the student's to fix, said as the batch says it
            results = grade.crashed_results(args.edition, err.message, args.submission, "all", args.quick,
                                            cause=results_doc.SUBMISSION)
            results["timings"] = {"wall_seconds": time.time() - start}
            return gradescope.results_json(results)
        # the sandbox falls back to no isolation exactly when bubblewrap cannot run here
        problem = sandbox.bwrap_problem()
        notes = list(prepared.notes) + ([f"this Gradescope container cannot run bubblewrap ({problem}), "
                                         "so the submission ran without isolation"] if problem else [])
        print(f"grading {prepared.folder}: visibility all, jobs {args.jobs}, extra options: {extra or 'none'}")
        from graders.staff import batch
        limit = float(os.environ.get(JOB_SECONDS_ENV) or 0) or batch.job_limit(
            batch.Options(edition=args.edition, quick=args.quick))
        kwargs = {name: getattr(args, name) for name in ("strict",) if hasattr(args, name)}
        if late:
            kwargs["fields"] = {"late": late}      # in grade.json as first written, so the report says it
        results = batch.run_within(limit, submission=prepared.folder, out_dir=args.out, visibility="all",
                                   quick=args.quick, data_dir=args.data_dir, edition=args.edition, jobs=args.jobs,
                                   seed=args.seed, select=args.select, notes=notes, ingested=True, **kwargs)
        if results is None:      # recorded as grade.run records a document, late policy and notes in it
            results = grade._record(Path(args.out), grade.crashed_results(
                args.edition, batch.timed_out_message(limit), args.submission, "all", args.quick,
                cause=results_doc.TIMEOUT), notes, kwargs.get("fields"), reports=False)
    print(grade.format_table(results))
    return gradescope.results_json(results)


# ---------------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="autograder.zip", metavar="ZIP",
                        help="where the bundle goes (default: autograder.zip)")
    parser.add_argument("--edition", default="2022", help="the handout edition the bundle grades")


def main(args: argparse.Namespace) -> int:
    names = build(Path(args.out), args.edition)
    print(f"wrote {args.out} ({len(names)} files): upload it as the Gradescope autograder; "
          "it holds the staff solution, the hidden checks and the course key, so keep it away from students")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="hw5grade autograder", description=__doc__)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
