"""Helpers shared by the harness's tests: laying out a submission as the handout expects."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_IMAGES = REPO.parent / "shared" / "images"
COURSE_PHOTOS = ("01_list.jpg", "02_letters.jpg", "03_haiku.jpg", "04_deep.jpg")


def course_photos_dir():
    """../shared/images when the course photos are there, else None.

    A newcomer's clone has no ../shared, so tests needing the photos skip there; in CI
    (CI=true) the photos must be present and such tests must run, so absence is an error.
    """
    import pytest

    if all((SHARED_IMAGES / name).exists() for name in COURSE_PHOTOS):
        return SHARED_IMAGES
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the course photos are missing from {SHARED_IMAGES}")
    pytest.skip(f"the course photos are not in {SHARED_IMAGES} (a clone without ../shared)")


def lay_out(root: Path, python_from: Path, data_dir: Path, images_dir: Path) -> Path:
    """A folder as a student has it: python/ (a copy), data/ and images/ beside it."""
    shutil.copytree(python_from, root / "python", ignore=shutil.ignore_patterns("__pycache__", "*.pickle"))
    (root / "data").symlink_to(data_dir, target_is_directory=True)
    (root / "images").symlink_to(images_dir, target_is_directory=True)
    return root / "python"


def run_script(python_dir: Path, script: str, timeout: float = 900, seed: int = 0) -> subprocess.CompletedProcess:
    """Run a handout script as a student does (`python run_qN.py` from inside python/), with
    NumPy's global generator seeded first: the scripts draw their initial weights and batches
    from it unseeded, and a test of where training lands must not depend on the draw (the
    reference's q5 PSNR spans 13.8 to 15.4 dB over 30 seeds)."""
    # one BLAS thread, as in the sandbox: beside another test on a 2-core machine, OpenBLAS's
    # spinning threads made run_q5.py take 540 s instead of 50 s
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0",
               **{name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    start = ("import random, runpy, sys, numpy; "
             f"random.seed({seed}); numpy.random.seed({seed}); sys.argv = [{script!r}]; "
             f"runpy.run_path({script!r}, run_name='__main__')")
    return subprocess.run([sys.executable, "-c", start], cwd=python_dir, env=env, timeout=timeout,
                          capture_output=True, text=True)


def hw5grade(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`hw5grade ARGS` in a fresh interpreter, as a TA runs it, from this checkout."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "graders.cli", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=timeout)


def grade_cli(python_dir: Path, out: Path, *options: str, timeout: float = 900, printed: list | None = None) -> dict:
    """`hw5grade grade` in a fresh interpreter, as a TA runs it; returns grade.json (and appends
    what it printed to `printed`, when given)."""
    proc = hw5grade("grade", python_dir, "--out", out, *options, timeout=timeout)
    if printed is not None:
        printed.append(proc.stdout)
    assert (out / "grade.json").exists(), proc.stdout + proc.stderr
    results = json.loads((out / "grade.json").read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error" not in results, results["error"]
    return results


def shared_once(tmp_path_factory, worker_id: str, name: str, build) -> Path:
    """The folder `name`, made by build(folder) once per test session, whichever xdist worker asks
    first (the others wait on a lock file, then reuse it). pytest-xdist's loadgroup cannot be
    relied on to keep the tests of one costly fixture on one worker (pytest 9.2 stopped honouring
    its xdist_group marks), and each worker computing it again cost CI ten minutes."""
    import fcntl
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    out, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(out, ignore_errors=True)      # a worker that failed half-way left it
            build(out)
            done.touch()
    return out


def shared_grade(tmp_path_factory, worker_id: str, name: str, python_dir: Path, *options: str,
                 timeout: float = 1800) -> tuple[dict, Path]:
    """`hw5grade grade python_dir OPTIONS` once per test session (see shared_once): (grade.json,
    its folder)."""
    out = shared_once(tmp_path_factory, worker_id, name,
                      lambda folder: grade_cli(python_dir, folder, *options, timeout=timeout))
    return json.loads((out / "grade.json").read_text()), out


# reading a grade.json in the tests of wrong submissions

def ran(results: dict) -> list[dict]:
    """The checks that ran (not deselected, not hidden-and-not-run)."""
    return [c for c in results["checks"] if not c.get("not_run")]


def not_passed(results: dict) -> set[str]:
    """Names (test_ dropped) of the checks that ran and did not pass."""
    return {c["name"].removeprefix("test_") for c in ran(results) if c["status"] != "passed"}


def check(results: dict, name: str) -> dict:
    return next(c for c in results["checks"] if c["name"] == "test_" + name)


def assert_fails_exactly(results: dict, expected: set[str], says=()) -> None:
    """The checks in `expected` and no others did not pass, none of them broke the harness, each
    scored 0 with a message, each failure says what to do, what was wanted, or where the code
    failed; `says` holds (check, field, words) that field of that check must show."""
    assert not_passed(results) == expected
    for c in ran(results):
        assert c["status"] != "error", c
        if c["status"] != "passed":
            assert c["message"] and c["points"] == 0, c
        if c["status"] == "failed":
            assert c.get("hint") or c.get("expected") or c.get("traceback"), c
    for name, field, words in says:
        assert words in check(results, name).get(field, ""), (name, check(results, name))
