"""The Gradescope bundle (`hw5grade autograder`), run locally the way Gradescope runs it.

The bundle is unzipped into ROOT/source, a submission laid out in ROOT/submission, and its
run_autograder run with HW5GRADE_AUTOGRADER_ROOT=ROOT. setup.sh's apt-get and pip steps are not
run (this environment has the dependencies; HW5GRADE_PYTHON names this interpreter); setup.sh
is checked to be valid bash. The grading is limited to Q2 and the static checks.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from graders.staff import gradescope_bundle

REPO = Path(__file__).resolve().parents[2]
FAST = "--quick -k 'q2_network or static_checks'"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    gradescope_bundle.build(path)
    return path


def gradescope_root(bundle: Path, root: Path) -> Path:
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():          # extractall drops the modes
            (root / "source" / info.filename).chmod((info.external_attr >> 16) & 0o777)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def run_autograder(root: Path, **env) -> tuple[dict, subprocess.CompletedProcess]:
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    base.update(HW5GRADE_AUTOGRADER_ROOT=str(root), HW5GRADE_PYTHON=sys.executable,
                HW5GRADE_AUTOGRADER_ARGS=FAST)
    # the fixtures' cache of this machine (setup.sh builds one in ROOT/cache on Gradescope)
    base.setdefault("HW5GRADE_CACHE", os.environ.get("HW5GRADE_CACHE", str(Path.home() / ".cache" / "hw5grade")))
    base.update(env)
    done = subprocess.run([str(root / "source" / "run_autograder")], env=base, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((root / "results" / "results.json").read_text()), done


def test_bundle_holds_the_scripts_the_harness_and_the_solution(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
    assert {"setup.sh", "run_autograder", "pyproject.toml", "graders/staff/gradescope_bundle.py",
            "graders/suites/hidden_q2_network.py", "graders/staff/staff_solution.py",
            "reference/python/nn.py", "graders/rubrics/2022.toml", "fixtures/command.py"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert not any(n.startswith(("tests/", "student/")) or "__pycache__" in n for n in names)
    root = gradescope_root(bundle, tmp_path)
    for script in ("setup.sh", "run_autograder"):
        check = subprocess.run(["bash", "-n", str(root / "source" / script)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    assert (root / "source" / "run_autograder").read_text().startswith("#!/usr/bin/env bash")


def test_reference_then_stub_zip(bundle, tmp_path):
    root = gradescope_root(bundle, tmp_path / "autograder")
    # Gradescope puts the uploaded files themselves into submission/
    for path in (REPO / "reference" / "python").glob("*.py"):
        shutil.copyfile(path, root / "submission" / path.name)
    results, done = run_autograder(root)
    grade = json.loads((root / "results" / "hw5grade" / "grade.json").read_text())
    # the bundle's own code graded it, with every visibility
    assert str(root / "source" / "graders" / "suites") in grade["pytest_args"]
    assert grade["visibility"] == "all" and "error" not in grade
    assert results["score"] == pytest.approx(grade["score"]) == pytest.approx(grade["max_score"])
    assert grade["max_score"] > 0
    ran = {t["name"]: t for t in results["tests"]}
    hidden = [t for t in results["tests"] if t["visibility"] == "after_published"]
    assert hidden and all(t["score"] == t["max_score"] > 0 for t in hidden)
    assert sum(t["score"] for t in ran.values()) == pytest.approx(results["score"])
    assert f"Isolation: {grade['isolation']}" in results["output"]
    if grade["isolation"] != "bubblewrap":
        assert "without isolation" in results["output"]

    # then a stub tree, uploaded as a zip of python/
    shutil.rmtree(root / "submission")
    (root / "submission").mkdir()
    with zipfile.ZipFile(root / "submission" / "hw5.zip", "w") as zf:
        for path in (REPO / "student" / "python").glob("*.py"):
            zf.write(path, f"python/{path.name}")
    results, done = run_autograder(root)
    assert results["score"] == 0 and results["tests"]
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    assert failed and all(t["output"] for t in failed)
    assert any("not implemented yet" in t["output"] for t in failed)


def test_nothing_to_grade_is_said_to_the_student(bundle, tmp_path):
    root = gradescope_root(bundle, tmp_path)
    (root / "submission" / "notes.txt").write_text("forgot my code")
    results, _ = run_autograder(root)
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("Your submission could not be graded")


def test_results_json_is_written_even_when_python_cannot_start(bundle, tmp_path):
    root = gradescope_root(bundle, tmp_path)
    results, _ = run_autograder(root, HW5GRADE_PYTHON="/bin/false")
    assert results["score"] == 0 and "grader failed" in results["output"]


def test_results_json_is_written_when_grading_crashes(bundle, tmp_path):
    root = gradescope_root(bundle, tmp_path)
    shutil.copyfile(REPO / "reference" / "python" / "nn.py", root / "submission" / "nn.py")
    results, done = run_autograder(root, HW5GRADE_AUTOGRADER_ARGS="--no-such-option")
    assert results["score"] == 0 and "grader failed" in results["output"]
    assert "--no-such-option" in done.stderr


def test_without_bubblewrap_grading_runs_unisolated_and_says_so(bundle, tmp_path):
    """Gradescope's container may lack bubblewrap: a PATH without bwrap stands in for it."""
    root = gradescope_root(bundle, tmp_path / "autograder")
    for path in (REPO / "reference" / "python").glob("*.py"):
        shutil.copyfile(path, root / "submission" / path.name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "env", "mkdir", "rm", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    results, _ = run_autograder(root, PATH=str(bin_dir),
                                HW5GRADE_AUTOGRADER_ARGS="--quick -k 'init_shapes or backwards_matches'")
    grade = json.loads((root / "results" / "hw5grade" / "grade.json").read_text())
    assert grade["isolation"].startswith("none")
    assert "bubblewrap" in results["output"] and "without isolation" in results["output"]
    assert results["score"] == pytest.approx(grade["max_score"]) and grade["max_score"] > 0


def test_grading_past_the_job_limit_is_stopped_and_not_a_grade(bundle, tmp_path):
    """The per-job wall-clock limit (HW5GRADE_JOB_SECONDS here; the rubric's budgets by default):
    the grading process and its sandboxes are killed, and the student reads that it is no grade."""
    root = gradescope_root(bundle, tmp_path)
    for path in (REPO / "reference" / "python").glob("*.py"):
        shutil.copyfile(path, root / "submission" / path.name)
    # 1 s: less than a fresh interpreter needs to import the grading and start a sandbox, so the
    # limit is met on any machine (with 3 s a lightly loaded one finished these few checks in time)
    results, _ = run_autograder(root, HW5GRADE_JOB_SECONDS="1")
    assert results["score"] == 0 and results["tests"] == []
    assert "ran past its time limit" in results["output"] and "not a grade" in results["output"]
    assert results["extra_data"]["not_a_grade"] is True
    grade = json.loads((root / "results" / "hw5grade" / "grade.json").read_text())
    assert grade["error_cause"] == "timeout" and "1 s" in grade["error"]
