"""Hostile submissions against the pipeline around the checks (ingest, grade, batch, outputs):
each earns nothing on what it attacked, leaves nothing running, and the batch around it finishes
with the right grades for its neighbours. Kept fast with -k selections and tiny batches; the
README of each tests/hostile/<name>/ says what it attacks.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import build_submission
from graders.staff import batch
from graders.pipeline import grade
from graders.outputs import gradebook
from graders.outputs import publish
from graders.results import document as results_doc
from graders.checks import textmatch
from graders.suites import q4_letters
from support import REPO
from test_hostile_grading import descendants, left_running

HOSTILE = REPO / "tests" / "hostile"
SOFTMAX = "q2_network and softmax"
CLASSMATE_LINE = "# classmate's own line: 7f3a9c"


def hostile(root: Path, name: str) -> Path:
    """The reference with tests/hostile/<name>/python's files in place; returns the submission folder."""
    python_dir = build_submission(root / name)
    for path in (HOSTILE / name / "python").glob("*.py"):
        shutil.copy(path, python_dir / path.name)
    return python_dir.parent


def classmate(root: Path) -> Path:
    python_dir = build_submission(root / "classmate")
    nn = python_dir / "nn.py"
    nn.write_text(nn.read_text() + f"\n{CLASSMATE_LINE}\n")
    return python_dir


def everything_written(out: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file() and p.suffix in (".json", ".html", ".log"))


# ---------------------------------------------------------------------------------------------
# links: `hw5grade grade DIR` ingests like the batch and Gradescope

def test_a_link_to_dev_zero_is_refused_and_the_rest_graded(tmp_path):
    python_dir = build_submission(tmp_path / "student")
    os.symlink("/dev/zero", python_dir / "zz.py")
    before = descendants()
    start = time.monotonic()
    results = grade.run(python_dir.parent, tmp_path / "out", quick=True, select=SOFTMAX)
    assert time.monotonic() - start < 300
    assert not results.get("error"), results.get("error")
    assert any("zz.py (a link)" in n and "links are refused" in n for n in results["notes"]), results["notes"]
    assert results["questions"]["Q2.2.2"]["score"] == results["questions"]["Q2.2.2"]["max_score"] > 0
    assert results["submission"] == str(python_dir.parent)       # what was handed in, not the copy
    assert not left_running(before)


def test_a_linked_python_folder_grades_nothing_and_says_why(tmp_path):
    theirs = classmate(tmp_path)
    (tmp_path / "student").mkdir()
    os.symlink(theirs, tmp_path / "student" / "python")
    results = grade.run(tmp_path / "student", tmp_path / "out", quick=True, select=SOFTMAX)
    assert results["score"] == 0 and results["error_cause"] == results_doc.SUBMISSION
    assert "python (a link)" in results["error"] and "links are refused" in results["error"]
    assert CLASSMATE_LINE not in everything_written(tmp_path / "out")
    assert grade.main(_args(tmp_path / "student", tmp_path / "out2")) == 2


def test_a_linked_nn_py_is_not_read_and_earns_nothing(tmp_path):
    theirs = classmate(tmp_path)
    python_dir = build_submission(tmp_path / "student")
    (python_dir / "nn.py").unlink()
    os.symlink(theirs / "nn.py", python_dir / "nn.py")
    results = grade.run(python_dir.parent, tmp_path / "out", quick=True, select=SOFTMAX)
    assert results["questions"]["Q2.2.2"]["score"] == 0
    assert any("nn.py (a link)" in n for n in results["notes"]), results["notes"]
    assert CLASSMATE_LINE not in everything_written(tmp_path / "out")


def test_the_submission_itself_a_link_is_refused(tmp_path):
    theirs = classmate(tmp_path)
    os.symlink(theirs.parent, tmp_path / "student")
    results = grade.run(tmp_path / "student", tmp_path / "out", quick=True, select=SOFTMAX)
    assert results["score"] == 0 and "symbolic link" in results["error"]


def _args(submission, out, select=SOFTMAX):
    import argparse
    parser = argparse.ArgumentParser()
    grade.add_arguments(parser)
    return parser.parse_args([str(submission), "--out", str(out), "--quick", "-k", select])


# ---------------------------------------------------------------------------------------------
# output injection

def test_escape_sequences_reach_no_terminal_and_no_log(tmp_path, capsys):
    submission = hostile(tmp_path, "escape_sequences")
    assert grade.main(_args(submission, tmp_path / "out", "sigmoid")) == 0
    printed = capsys.readouterr().out
    results = json.loads((tmp_path / "out" / "grade.json").read_text())
    assert results["questions"]["Q2.2.1"]["score"] == 0
    log = (tmp_path / "out" / "pytest.log").read_text()
    for text in (printed, log):
        assert not any(c in text for c in ("\x1b", "\x9b", "\r", "\x07", "\u202e")), repr(text[:2000])
    assert "\\x1b[2J" in printed                           # shown, escaped, for the TA to see
    # the fake total never starts a line of the table: only the grader's own TOTAL does
    assert [line for line in printed.splitlines() if line.lstrip().startswith("TOTAL")] == \
           [line for line in printed.splitlines() if line.startswith("TOTAL")]
    assert sum(line.startswith("TOTAL") for line in printed.splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# bounded trusted work (Q4)

def test_q4_one_letter_flood_is_refused_in_a_blink():
    words = ["HELLO WORLD", "DEEP LEARNING", "NEURAL NETS", "TODO LIST", "GRADIENT", "MOMENTUM", "SIGMOID",
             "SOFTMAX", "BACKPROP", "ENTROPY", "XAVIER INIT", "QUICK FOX", "LAZY DOG", "PSNR", "BATCHES"]
    truth = {f"page_{i}.jpg": [words[i], words[i + 5][::-1]] for i in range(10)}
    flood = "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i % 26] + "\n" for i in range(500_000))   # 1 MB
    start = time.perf_counter()
    # its lines of one letter each are one line of text, far beyond the photos' letters
    with pytest.raises(textmatch.TooMuchText, match="500,000\\+ letters and digits"):
        textmatch.score_output(flood, truth)
    assert time.perf_counter() - start < 5
    honest = "\n".join(line for lines in truth.values() for line in lines) + "\nloaded weights\n"
    assert all(s.accuracy == 1 for s in textmatch.score_output(honest, truth).values())


def test_two_million_boxes_are_refused_before_matching():
    boxes = np.zeros((2_000_000, 4))
    start = time.perf_counter()
    found, problem = q4_letters.read_boxes(boxes, most=q4_letters.max_boxes(300))
    assert found is None and "2,000,000 boxes" in problem.rationale
    assert time.perf_counter() - start < 0.5
    specks = np.tile([[1.0, 1.0, 3.0, 3.0]], (150_000, 1))      # an unfiltered page: judged, not refused
    assert q4_letters.read_boxes(specks, most=q4_letters.max_boxes(300))[0] is not None


def test_a_flood_of_figures_is_written_within_bounds(tmp_path):
    from graders.checks import artifacts

    class Config:
        def getoption(self, name, default=None):
            return str(tmp_path / "grade.json") if name == "results" else default
    recorded = {}
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 500_000
    count = artifacts.save_figures(Config(), lambda k, v: recorded.__setitem__(k, v), "run_q3", [png] * 20_000)
    written = list((tmp_path / artifacts.FOLDER).iterdir())
    assert count == recorded["figure_count"] == 20_000
    assert len(written) == len(recorded["figures"]) <= artifacts.MAX_FIGURES
    assert sum(p.stat().st_size for p in written) <= artifacts.MAX_FIGURES_TOTAL_BYTES
    assert recorded["figures_left_out"] == 20_000 - len(written)


@pytest.mark.parametrize("name, select, question", [("q4_print_flood", "run_q4", "Q4.4"),
                                                     ("many_boxes", "find_letters_recall or find_letters_precision",
                                                      "Q4.2")])
def test_q4_attacks_graded_end_to_end(name, select, question, tmp_path):
    submission = hostile(tmp_path, name)
    before = descendants()
    start = time.monotonic()
    results = grade.run(submission, tmp_path / "out", select=select)
    seconds = time.monotonic() - start
    assert not results.get("error"), results.get("error")
    ran = [c for c in results["checks"] if c["question"] == question and not c.get("not_run")]
    # what was attacked earns nothing (run_q4 did run to its end: that check is not the attack's)
    attacked = [c for c in ran if not c["name"].startswith(("test_run_q4_finishes", "test_ran_without_repairs"))]
    assert attacked and all(c["status"] == "failed" for c in attacked), [(c["name"], c["status"]) for c in ran]
    failed = attacked
    words = "far more than the photos hold" if name == "q4_print_flood" else "2,000,000 boxes"
    assert any(words in c["message"] for c in failed), [c["message"] for c in failed]
    assert not left_running(before)
    print(f"{name}: graded in {seconds:.1f} s")


# ---------------------------------------------------------------------------------------------
# a small batch: class file names, a formula name, a job past its limit, and honest neighbours

def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def zip_of(python_dir: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for p in python_dir.glob("*.py"):
            zf.write(p, f"python/{p.name}")
    return path


def test_a_hostile_batch_finishes_with_its_neighbours_graded(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    reference = build_submission(tmp_path / "build" / "ref")
    shutil.copytree(reference.parent, subs / "alice")
    zip_of(reference, subs / "index.html.zip")
    zip_of(build_submission(tmp_path / "build" / "w", REPO / "tests" / "wrong" / "sigmoid_nan"), subs / "grades.csv.zip")
    (subs / '=HYPERLINK("evil.example?"&A1,"x").zip').write_bytes(b"PK\x03\x04 not a zip")
    shutil.copytree(hostile(tmp_path / "build", "sleeps_past_limit"), subs / "sleeper")
    out = tmp_path / "out"
    before = descendants()
    runner = batch.Batch(out, batch.Options(quick=True, select="q2_network", job_seconds=60), progress=False)
    start = time.monotonic()
    outcome = runner.run(subs, jobs=2)
    seconds = time.monotonic() - start
    status = {s["name"]: s["status"] for s in outcome["summaries"]}
    assert status == {"alice": "graded", "index.html": "graded", "grades.csv": "graded",
                      "HYPERLINK_evil.example_A1_x": "ingest-error", "sleeper": batch.TIMED_OUT}, status
    folder = out / results_doc.SUBMISSIONS
    results = {n: json.loads((folder / n / "grade.json").read_text()) for n in status}
    full = results["alice"]["score"]
    assert full == results["alice"]["max_score"] > 0 and results["index.html"]["score"] == full
    assert results["grades.csv"]["score"] < full
    sleeper = results["sleeper"]
    assert sleeper["error_cause"] == results_doc.TIMEOUT and "60 s" in sleeper["error"]
    assert not (folder / "sleeper" / batch.HASH_FILE).exists()       # graded again next time
    assert json.loads((folder / "sleeper" / "results.json").read_text())["extra_data"]["not_a_grade"]
    # the class's own files, intact beside the submissions
    index = (out / "index.html").read_text()
    assert 'href="submissions/index.html/report.html"' in index and "timed out: not a grade" in index
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(status)
    assert rows["sleeper"]["status"] == "timed out" and rows["sleeper"]["auto total"] == ""
    cells = [v for r in rows.values() for v in r.values() if v]
    assert not any(v.startswith(gradebook.FORMULA_STARTS) for v in cells), cells
    assert any(v.startswith("'=HYPERLINK") for v in cells)
    left = {pid: command(pid) for pid in descendants() - before}
    # the sleeper's sandbox is gone; multiprocessing's resource tracker lives as long as this process
    assert all("resource_tracker" in c for c in left.values()), left
    summary = batch.format_summary(outcome)
    assert "timed out 1" in summary and "grader errors 0" in summary
    print(f"hostile batch of 5 in {seconds:.0f} s")


# ---------------------------------------------------------------------------------------------
# a grader that fails is not a student's zero

def test_a_sandbox_that_cannot_start_is_a_grader_error_not_a_zero(tmp_path, monkeypatch, capsys):
    from graders.pipeline import ingest
    from graders.sandbox import sandbox

    def cannot_start(*args, **kwargs):
        raise sandbox.SandboxError("the sandbox worker could not be started (bwrap: No such file or directory)")
    monkeypatch.setattr(sandbox.Sandbox, "__init__", cannot_start)
    monkeypatch.setattr(sandbox.Sandbox, "open", classmethod(cannot_start))
    reference = build_submission(tmp_path / "subs" / "alice").parent

    assert grade.main(_args(reference, tmp_path / "alone")) == 2
    printed = capsys.readouterr()
    assert "the grader itself failed on Q2.2.2" in printed.out and "not a grade" in printed.err
    alone = json.loads((tmp_path / "alone" / "grade.json").read_text())
    assert alone["error_cause"] == results_doc.GRADER and results_doc.GRADER_ERROR_NOTE in alone["notes"]
    published = json.loads((tmp_path / "alone" / "results.json").read_text())
    assert published["tests"] == [] and published["extra_data"]["not_a_grade"]
    assert "will grade your submission again" in published["output"]

    options = batch.Options(quick=True, select=SOFTMAX, allow_unisolated=True)
    sub = ingest.discover(tmp_path / "subs")[0]
    summary = batch.grade_job(sub, str(tmp_path / "out"), options, batch.grading_hash(options))
    assert summary["status"] == batch.GRADER_ERROR
    folder = tmp_path / "out" / results_doc.SUBMISSIONS / "alice"
    assert not (folder / batch.HASH_FILE).exists()                  # regraded next time, never cached
    row = gradebook.rows(tmp_path / "out")[0]
    assert row["status"] == "grader error" and row["auto total"] == ""
    assert "grader errors 1" in batch.format_summary(
        {"summaries": [summary], "submissions": 1, "seconds": 1, "overview": {"paths": {}}})
    assert batch.RED in batch.format_summary(
        {"summaries": [summary], "submissions": 1, "seconds": 1, "overview": {"paths": {}}}, colour=True)


def test_a_report_failure_quoting_the_student_reaches_the_terminal_escaped(tmp_path, monkeypatch, capsys):
    """A report that fails says why on the terminal, in the grader's summary and the batch's; its
    error may quote the student's text, which must not drive the TA's terminal."""
    def fails(out_dir):
        raise ValueError("bad fact '\x1b]52;c;ZXZpbA==\x07\x1b[2J'")
    monkeypatch.setattr(publish, "write_outputs", fails)
    problem = grade.write_reports(tmp_path)
    summary = batch.format_summary({"summaries": [{"name": "alice", "status": "graded", "score": 1.0, "max_score": 2.0,
                                                   "error": None, "report_error": problem}],
                                    "submissions": 1, "seconds": 1, "overview": {"paths": {}}})
    for text in (capsys.readouterr().err, summary):
        assert "report" in text and "\\x1b[2J" in text
        assert not any(c in text for c in ("\x1b", "\x07")), repr(text)


def test_a_grading_child_that_dies_leaves_a_grade_json_saying_so(tmp_path):
    """run_within's callers (a Dask job, Gradescope) keep grade.json as first written: when the
    child ends without one, the grader-error document it returns is that grade.json."""
    out = tmp_path / "out"
    results = batch.run_within(60, submission=str(tmp_path), out_dir=str(out), no_such_option=True,
                               notes=["from ingest"], fields={"late": {"message": "Late: 2 h"}})
    assert results["error_cause"] == results_doc.GRADER and "without a readable grade.json" in results["error"]
    assert results["late"] == {"message": "Late: 2 h"} and results["notes"][0] == "from ingest"
    assert json.loads((out / "grade.json").read_text()) == json.loads(json.dumps(results, default=str))
    assert batch.finish(out, results, batch.GRADER_ERROR, rewrite=False).get("report_error") is None


def test_a_job_in_its_own_process_keeps_its_limit(tmp_path):
    """On Dask the batch cannot kill a worker's process: the job grades in a child it kills itself."""
    from graders.pipeline import ingest
    shutil.copytree(hostile(tmp_path / "build", "sleeps_past_limit"), tmp_path / "subs" / "sleeper")
    build_submission(tmp_path / "subs" / "alice")
    options = batch.Options(quick=True, select="q2_network", job_seconds=40, job_in_child=True)
    before = descendants()
    summaries = {sub.name: batch.grade_job(sub, str(tmp_path / "out"), options, batch.grading_hash(options))
                 for sub in ingest.discover(tmp_path / "subs")}
    assert summaries["alice"]["status"] == "graded" and summaries["alice"]["score"] == summaries["alice"]["max_score"] > 0
    assert summaries["sleeper"]["status"] == batch.TIMED_OUT and "40 s" in summaries["sleeper"]["error"]
    assert not (tmp_path / "out" / results_doc.SUBMISSIONS / "sleeper" / batch.HASH_FILE).exists()
    assert not left_running(before)
