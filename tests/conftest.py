"""Shared fixtures of the harness's own tests (kept small and generic)."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from graders.pipeline import editions

REPO = Path(__file__).resolve().parent.parent
# The tests sit in one folder per layer of graders/ and import each other's tables and helpers by
# name (from test_batch import ...): every such folder is importable whichever files a run collects.
sys.path[:0] = [str(d) for d in sorted(Path(__file__).resolve().parent.iterdir())
                if d.is_dir() and any(d.glob("test_*.py"))]
REFERENCE_PYTHON = REPO / "reference" / "python"


# The tests' course key: fixed, so that their staff photos, grader split and held-out order are the
# same in every run. With a key of each run's own, a verdict that hangs on one character of a
# photo or a tenth of a point of accuracy changed from run to run (a student's own findLetters
# at 94% on one draw of page_06, an honest run_q3.py at 75.0% on one draw of the grader split).
TESTS_COURSE_KEY = "8f063e50e3f9cd73d23074d48132da2b39c8b99601ef75a38b5cc9d4d816be6d"   # sha256("realistic letters 01")


def pytest_configure(config):
    """The tests' staff grades use TESTS_COURSE_KEY from a key file in a folder of its own, never
    the key of the machine's user; xdist's workers inherit it from the controller."""
    if not os.environ.get("HW5GRADE_SECRET") and not os.environ.get("HW5GRADE_SECRET_FILE"):
        path = Path(tempfile.mkdtemp(prefix="hw5grade-key-")) / "course.key"
        path.write_text(TESTS_COURSE_KEY + "\n")
        path.chmod(0o600)
        os.environ["HW5GRADE_SECRET_FILE"] = str(path)


@pytest.fixture(autouse=True)
def no_spare_sandbox_outlives_its_test():
    """A test that grades a batch job in this process turns spare sandboxes on (batch.grade_job,
    as a pool's process does); left on, every later sandbox of this xdist worker starts a spare,
    and the tests that count the processes a grading leaves behind would count it."""
    yield
    from graders.sandbox import sandbox
    if sandbox._spares.enabled:
        sandbox._spares.close()


def build_submission(root: Path, overrides=None, base: Path = REFERENCE_PYTHON) -> Path:
    """root/python = a copy of base (the reference by default), changed by overrides.

    overrides: a folder whose *.py files replace base's and whose *.diff patches (made against
    base, as tests/wrong/ keeps its mistakes, so they follow every change of the reference)
    are applied to it; or a {name: source text} dict. Returns the python/ folder.
    """
    python_dir = Path(root) / "python"
    shutil.copytree(base, python_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pickle"))
    if isinstance(overrides, (str, Path)):
        editions.apply_overrides(python_dir, Path(overrides))
    elif overrides:
        for name, text in overrides.items():
            (python_dir / name).write_text(text)
    return python_dir


@pytest.fixture
def make_submission(tmp_path):
    """make_submission(overrides=None, base=reference) -> the python/ folder of a new submission."""
    count = 0

    def make(overrides=None, base: Path = REFERENCE_PYTHON) -> Path:
        nonlocal count
        count += 1
        return build_submission(tmp_path / f"submission{count}", overrides, base)

    return make


@pytest.fixture(scope="session")
def reference_full_grades(tmp_path_factory, worker_id) -> list[Path]:
    """Three full grades of the NumPy part of the reference (training included, -n 2): their
    output folders, made once per test session whichever xdist worker asks first (a dozen
    minutes of CI would go if each worker graded again). The PyTorch part (another 2-4 minutes a
    grade) is graded once, in tests/suites/test_q6_checks.py."""
    from support import grade_cli, shared_once

    def grade_three_times(root: Path):
        for i in range(3):
            grade_cli(REFERENCE_PYTHON, root / f"run{i}", "-n", "2", "-k", "not q6", timeout=1800)

    root = shared_once(tmp_path_factory, worker_id, "reference-full", grade_three_times)
    return [root / f"run{i}" for i in range(3)]


@pytest.fixture(scope="session")
def reference_run_q3(tmp_path_factory, worker_id):
    """The reference's run_q3.py run once per test session as a student runs it (from python/,
    seed 0, on the public synthetic data): (its exit status, what it printed, its python/ folder
    holding q3_weights.pickle). Two test files need this run; each running it cost CI minutes."""
    import json
    import subprocess

    from fixtures import cache
    from support import lay_out, run_script, shared_once

    def run(root: Path):
        profile = cache.build(log=lambda *_: None)
        tree = lay_out(root, REFERENCE_PYTHON, profile.data_dir, profile.images_dir)
        done = run_script(tree, "run_q3.py", timeout=900)
        (root / "run.json").write_text(json.dumps({"returncode": done.returncode, "stdout": done.stdout,
                                                    "stderr": done.stderr[-20000:]}))

    root = shared_once(tmp_path_factory, worker_id, "reference-run-q3", run)
    done = json.loads((root / "run.json").read_text())
    return subprocess.CompletedProcess(["run_q3.py"], done["returncode"], done["stdout"], done["stderr"]), root / "python"
