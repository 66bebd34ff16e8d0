"""`hw5grade batch`: every submission graded as if alone, resume, failures that stay local, Dask.

Kept fast with `--quick -k "q2_network or static_checks"`: the batch machinery is the subject,
not the checks (their own tests cover them).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import build_submission
from graders.staff import batch
from graders.pipeline import grade
from graders.pipeline import ingest
from graders.results import document as results_doc
from support import REPO, hw5grade

# --strict: removed_np_float stays wrong (by default its np.float is repaired, graders/sandbox/shipped/repairs.py)
SELECT = ("--quick", "--strict", "-k", "q2_network or static_checks")
WRONG = ("softmax_mutates", "removed_np_float")


def batch_cli(subs: Path, out: Path, *options: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`hw5grade batch` in a fresh interpreter, as a TA runs it."""
    return hw5grade("batch", subs, "--out", out, *SELECT, *options, timeout=timeout)


def sub_out(out: Path, name: str) -> Path:
    """A submission's results folder in a batch's output."""
    return out / results_doc.SUBMISSIONS / name


def grades(out: Path, names) -> dict[str, dict]:
    return {name: json.loads((sub_out(out, name) / "grade.json").read_text()) for name in names}


def verdicts(results: dict) -> tuple:
    """What must not depend on how a submission was graded: the score and every check's status."""
    return (results["score"], results["max_score"],
            sorted((c["nodeid"], c["status"]) for c in results["checks"]))


def mtimes(out: Path, names) -> dict[str, int]:
    return {name: (sub_out(out, name) / "grade.json").stat().st_mtime_ns for name in names}


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    """reference, two wrong ones and the stubs as plain folders, plus a file that is no submission,
    graded once by the batch with two jobs: (submissions folder, out folder, the CLI's run)."""
    subs = tmp_path_factory.mktemp("subs")
    build_submission(subs / "ref")
    for name in WRONG:
        build_submission(subs / name, REPO / "tests" / "wrong" / name)
    build_submission(subs / "stub", base=REPO / "student" / "python")
    (subs / "readme.txt").write_text("not a submission")
    out = tmp_path_factory.mktemp("batch")
    proc = batch_cli(subs, out, "-j", "2")
    return subs, out, proc


GRADED = ("ref", *WRONG, "stub")


def test_every_submission_gets_its_grade_and_reports(four):
    subs, out, proc = four
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in (*GRADED, "readme"):
        for file in ("grade.json", "report.html", "results.json"):
            assert (sub_out(out, name) / file).is_file(), f"{name}/{file}\n{proc.stdout}{proc.stderr}"
    assert (out / "index.html").is_file() and (out / "grades.csv").is_file()
    results = grades(out, GRADED)
    from test_results import schema_errors
    assert {name: schema_errors(doc) for name, doc in grades(out, (*GRADED, "readme")).items()} == \
        {name: [] for name in (*GRADED, "readme")}          # the graded ones and the unreadable one
    assert results["ref"]["score"] == results["ref"]["max_score"] > 0
    assert all(results[name]["score"] < results["ref"]["score"] for name in (*WRONG, "stub"))
    # the grade names what was handed in, not the batch's temporary copy
    assert results["ref"]["submission"] == str(subs / "ref")
    assert "graded 4, unchanged (skipped) 0, ingest errors 1, grader errors 0, timed out 0" in proc.stdout
    assert str(out / "index.html") in proc.stdout
    assert "problems=1" in proc.stderr          # the progress bar counts what could not be graded


def test_a_file_that_is_no_submission_says_why(four):
    _, out, _ = four
    unreadable = grades(out, ["readme"])["readme"]
    assert unreadable["score"] == 0
    assert "readme.txt" in unreadable["error"] and unreadable["notes"]
    assert not (sub_out(out, "readme") / batch.HASH_FILE).exists()    # retried next time


def test_results_equal_grading_each_alone(four, tmp_path):
    subs, out, _ = four
    in_batch = grades(out, GRADED)
    for name in GRADED:
        alone = grade.run(subs / name, tmp_path / name, quick=True, select=SELECT[-1], strict="--strict" in SELECT)
        assert verdicts(in_batch[name]) == verdicts(alone), name


def test_resume_skips_unchanged_regrades_changed_and_force_regrades_all(four, tmp_path):
    subs_done, out_done, _ = four
    subs, out = tmp_path / "subs", tmp_path / "out"
    shutil.copytree(subs_done, subs, symlinks=True)
    shutil.copytree(out_done, out)
    before = mtimes(out, GRADED)

    again = batch_cli(subs, out, "-j", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "graded 0, unchanged (skipped) 4" in again.stdout
    assert mtimes(out, GRADED) == before

    changed = "softmax_mutates"
    shutil.copyfile(REPO / "reference" / "python" / "nn.py", subs / changed / "python" / "nn.py")
    third = batch_cli(subs, out, "-j", "2")
    assert "graded 1, unchanged (skipped) 3" in third.stdout, third.stdout + third.stderr
    after = mtimes(out, GRADED)
    assert [n for n in GRADED if after[n] != before[n]] == [changed]
    results = grades(out, [changed, "ref"])
    assert verdicts(results[changed]) == verdicts(results["ref"])   # now it is the reference

    forced = batch_cli(subs, out, "-j", "2", "--force")
    assert "graded 4, unchanged (skipped) 0" in forced.stdout, forced.stdout + forced.stderr
    assert all(t != after[n] for n, t in mtimes(out, GRADED).items())


def test_resume_regrades_a_submission_whose_grade_json_was_damaged(tmp_path):
    """hash.json vouches for a grade.json only while that can be read: a damaged one is graded
    again, not a grader error."""
    build_submission(tmp_path / "subs" / "ref")
    (sub,) = ingest.discover(tmp_path / "subs")
    options = batch.Options(quick=True, select="q2_network and softmax")
    grading = batch.grading_hash(options)
    first = batch.grade_job(sub, str(tmp_path / "out"), options, grading)
    assert first["status"] == "graded" and first["score"] > 0
    assert batch.grade_job(sub, str(tmp_path / "out"), options, grading)["status"] == "unchanged"
    (sub_out(tmp_path / "out", "ref") / "grade.json").write_text('{"score": 1')
    again = batch.grade_job(sub, str(tmp_path / "out"), options, grading)
    assert again["status"] == "graded" and again["score"] == first["score"]


def failing_job(sub, out_root, options, grading, force=False):
    """The batch's job, except for two submissions: one raises, one kills its worker process."""
    if sub.name == "raises":
        raise RuntimeError("a bug of the harness")
    if sub.name == "dies":
        os._exit(3)
    return batch.grade_job(sub, out_root, options, grading, force)


def test_a_job_that_raises_or_dies_fails_alone(tmp_path):
    subs = tmp_path / "subs"
    for name in ("dies", "raises", "ref", "zz_ref"):
        build_submission(subs / name)
    runner = batch.Batch(tmp_path / "out", batch.Options(quick=True, select="q2_network and softmax"),
                         progress=False)
    runner.job = failing_job
    report = runner.run(subs, jobs=2)
    status = {s["name"]: s["status"] for s in report["summaries"]}
    assert status == {"dies": "grader-error", "raises": "grader-error", "ref": "graded", "zz_ref": "graded"}
    results = grades(tmp_path / "out", status)
    assert "RuntimeError: a bug of the harness" in results["raises"]["error"]
    assert "grading process died" in results["dies"]["error"]
    from test_results import schema_errors
    for name in ("dies", "raises"):
        assert results[name]["score"] == 0 and (sub_out(tmp_path / "out", name) / "report.html").is_file()
        assert schema_errors(results[name]) == []
        assert not (sub_out(tmp_path / "out", name) / batch.HASH_FILE).exists()    # regraded next time
    assert results["ref"]["score"] == results["ref"]["max_score"] > 0
    assert results["zz_ref"]["score"] == results["ref"]["score"]
    assert (tmp_path / "out" / "index.html").is_file()


def test_a_pool_that_breaks_under_a_submit_is_renewed(tmp_path, monkeypatch):
    """CPython's pool can fail a submit with OSError ("handle is closed") while a process of it
    that died is being noticed (seen once in CI beside the test above): the batch renews the pool
    and grades on, instead of stopping with most of the class not graded."""
    import concurrent.futures
    subs = tmp_path / "subs"
    for name in ("ref", "zz_ref"):
        build_submission(subs / name)
    real_submit, calls = concurrent.futures.ProcessPoolExecutor.submit, []

    def submit_once_broken(self, *args, **kwargs):
        calls.append(args[1].name)
        if len(calls) == 1:
            raise OSError("handle is closed")
        return real_submit(self, *args, **kwargs)
    monkeypatch.setattr(concurrent.futures.ProcessPoolExecutor, "submit", submit_once_broken)
    runner = batch.Batch(tmp_path / "out", batch.Options(quick=True, select="q2_network and softmax"),
                         progress=False)
    report = runner.run(subs, jobs=2)
    assert report["interrupted"] is None and calls == ["ref", "ref", "zz_ref"]
    assert {s["name"]: s["status"] for s in report["summaries"]} == {"ref": "graded", "zz_ref": "graded"}
    results = grades(tmp_path / "out", ["ref", "zz_ref"])
    assert results["ref"]["score"] == results["zz_ref"]["score"] == results["ref"]["max_score"] > 0


def test_the_same_batch_on_a_dask_cluster(four, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    subs, out_local, _ = four
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        proc = batch_cli(subs, tmp_path / "out", "--scheduler", cluster.scheduler_address)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    on_dask, local = grades(tmp_path / "out", GRADED), grades(out_local, GRADED)
    for name in GRADED:
        assert verdicts(on_dask[name]) == verdicts(local[name]), name
        assert (sub_out(tmp_path / "out", name) / "report.html").is_file()
    assert (tmp_path / "out" / "index.html").is_file()


def test_a_student_no_longer_in_the_downloads_leaves_the_gradebook(four, tmp_path):
    """A rerun after a new download: a submission that is gone keeps its folder (history) but not
    its row, in the batch's grades.csv and in what gradebook and report read afterwards."""
    from graders.outputs import gradebook
    subs_done, out_done, _ = four
    subs, out = tmp_path / "subs", tmp_path / "out"
    shutil.copytree(subs_done, subs, symlinks=True)
    shutil.copytree(out_done, out)
    gone = GRADED[0]
    shutil.rmtree(subs / gone)
    again = batch_cli(subs, out, "-j", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"no longer in the downloads, so not in grades.csv: {gone}" in again.stdout
    assert (out / results_doc.SUBMISSIONS / gone / results_doc.FILE).is_file()
    assert gone not in [r["submission"] for r in gradebook.rows(out)]
    assert gone not in (out / "grades.csv").read_text()


def test_the_summary_names_canvas_late_work_and_says_who_applies_the_late_policy():
    report = {"summaries": [], "submissions": 2, "seconds": 1, "overview": {"paths": {}},
              "late": ["jones_23456"], "late_policy": True}
    summary = batch.format_summary(report)
    assert "Canvas marked 1 late: jones_23456" in summary and "apply it to these by hand" in summary
    assert "by hand" not in batch.format_summary({**report, "late_policy": False})
    assert batch.late_policy_active(batch.Options()) is False       # off as the rubric is written
