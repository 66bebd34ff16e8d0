"""grades.csv of a batch: rubric columns in a fixed order, empty hand columns, every row whole."""
from __future__ import annotations

import csv
import json
import re

import pytest

from graders.outputs import gradebook
from graders.results import document as results_doc
from graders.checks import rubric
from test_gradescope import crashed, full_pass, hidden_not_run, stub_run

RUBRIC = rubric.load("2022")
NUMBER = re.compile(r"^-?\d+(\.\d{1,4})?$")     # 2.1429 or 3: no float noise, no trailing zeros


@pytest.fixture
def batch(tmp_path):
    docs = {"alice": full_pass(), "bob": hidden_not_run(), "carol": crashed(), "dan": stub_run()}
    subs = tmp_path / results_doc.SUBMISSIONS
    for name, doc in docs.items():
        (subs / name).mkdir(parents=True)
        (subs / name / "grade.json").write_text(json.dumps(doc))
    (subs / "eve").mkdir()
    (subs / "eve" / "grade.json").write_text("{cut short")
    (subs / "not-a-submission").mkdir()
    return tmp_path, docs


def test_columns_follow_the_rubric_auto_then_hand():
    cols = gradebook.columns("2022")
    auto = [f"auto {q.id}" for q in RUBRIC.questions.values() if q.kind == "auto"]
    hand = [f"hand {q.id}" for q in RUBRIC.questions.values() if q.kind == "hand"]
    assert auto and hand
    assert cols == ["submission", "edition", "auto total", "auto max", *auto, *hand, gradebook.REPAIRS, "status", "error"]
    assert not any(q.id in c for c in cols for q in RUBRIC.questions.values() if q.kind == "advisory")


def test_rows_default_to_graded_folders(batch):
    batch_dir, _ = batch
    assert [r["submission"] for r in gradebook.rows(batch_dir)] == ["alice", "bob", "carol", "dan", "eve"]


def test_every_row_has_every_column_and_empty_hand_columns(batch):
    batch_dir, _ = batch
    rows = gradebook.rows(batch_dir, ["alice", "bob", "carol", "eve", "frank"])
    cols = gradebook.columns()
    for row in rows:
        assert list(row) == cols
        assert all(row[c] == "" for c in cols if c.startswith("hand "))


def test_scores_match_grade_json_without_float_noise(batch):
    batch_dir, docs = batch
    rows = {r["submission"]: r for r in gradebook.rows(batch_dir)}
    for name in ("alice", "bob", "dan"):
        row, doc = rows[name], docs[name]
        assert float(row["auto total"]) == pytest.approx(doc["score"], abs=5e-5)
        assert float(row["auto max"]) == pytest.approx(doc["max_score"], abs=5e-5)
        for qid, entry in doc["questions"].items():
            if entry["kind"] != "auto":
                continue
            cell = row[f"auto {qid}"]
            if entry["score"] is None:
                assert cell == ""
            else:
                assert NUMBER.match(cell), cell
                assert float(cell) == pytest.approx(entry["score"], abs=5e-5)
    assert rows["alice"]["status"] == "graded" and rows["alice"]["error"] == ""
    assert rows["bob"]["status"] == "partly graded"       # hidden checks still to run


def test_crashed_and_broken_submissions_keep_their_row(batch):
    batch_dir, docs = batch
    rows = {r["submission"]: r for r in gradebook.rows(batch_dir, ["carol", "eve", "frank"])}
    carol = rows["carol"]
    assert carol["status"] == "grader error" and carol["error"] == docs["carol"]["error"]
    assert carol["auto total"] == "" and all(carol[c] == "" for c in carol if c.startswith("auto "))
    assert rows["eve"]["status"] == "unreadable" and "unreadable" in rows["eve"]["error"]
    assert rows["frank"]["status"] == "missing" and "no grade.json" in rows["frank"]["error"]


def test_csv_reads_back_as_written(batch):
    batch_dir, _ = batch
    rows = gradebook.rows(batch_dir)
    path = gradebook.write_csv(rows, batch_dir / "grades.csv")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == gradebook.columns()
        back = list(reader)
    assert back == rows


def test_formula_cells_are_neutralised(tmp_path):
    """A zip named =HYPERLINK(...) or an error quoting it opens as text in a spreadsheet."""
    rows = [{"submission": "=HYPERLINK(\"http://x\",\"y\")", "auto total": "-1", "error": "+cmd|' /C calc'!A0"},
            {"submission": "@SUM(A1)", "auto total": "3.5", "error": "\tx"},
            {"submission": "-2+3", "auto total": "", "error": "\r=1"}]
    path = gradebook.write_csv(rows, tmp_path / "grades.csv")
    with open(path, newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    cells = [v for row in back for v in row.values() if v]
    assert all(not v.startswith(gradebook.FORMULA_STARTS) for v in cells if v not in ("-1",)), cells
    assert back[0]["submission"] == "'=HYPERLINK(\"http://x\",\"y\")" and back[0]["auto total"] == "-1"
    assert back[1]["auto total"] == "3.5" and back[2]["submission"] == "'-2+3"


def test_a_submission_that_could_not_be_read_earns_0_auto_points(tmp_path):
    """A broken zip or a PDF alone is the student's: 0 auto points (so the hand points still make a
    total), where a grader error stays empty (regraded, never a zero that looks like a grade)."""
    doc = {**crashed(), "error": "hw5.zip is not a readable zip archive", "error_cause": results_doc.SUBMISSION,
           "max_score": 90}
    (tmp_path / results_doc.SUBMISSIONS / "zoe").mkdir(parents=True)
    (tmp_path / results_doc.SUBMISSIONS / "zoe" / "grade.json").write_text(json.dumps(doc))
    zoe, = gradebook.rows(tmp_path, ["zoe"])
    assert zoe["status"] == "could not be read" and zoe["auto total"] == "0" and zoe["auto max"] == "90"
