"""Hand grades merged with a batch's auto grades, every problem of the TAs' CSV reported, and the Canvas export."""
from __future__ import annotations

import csv

import pytest

import results_factory as rf
from graders import cli
from graders.outputs import gradebook
from graders.outputs import handgrades
from graders.results import document as results_doc
from graders.checks import rubric

RUBRIC = rubric.load("2022")
HAND = {qid: q for qid, q in RUBRIC.questions.items() if q.kind == "hand"}


@pytest.fixture
def batch(tmp_path):
    """alice passes everything she ran, bob fails some, carol's grading crashed (no score)."""
    subs = tmp_path / "batch" / results_doc.SUBMISSIONS
    docs = {"alice": rf.typical(failing=False), "bob": rf.typical(failing=True),
            "carol": rf.results([], error="the grader failed", error_cause="grader")}
    for name, doc in docs.items():
        rf.write(subs / name, doc)
    return tmp_path / "batch", docs


def full_marks(students, **changes) -> list[dict]:
    """A hand-grade table giving each student half of every hand question, then `changes`
    ({student: {column: cell}}) applied."""
    table = []
    for who in students:
        row = {"submission": who, **{qid: str(q.points / 2) for qid, q in HAND.items()}}
        row.update(changes.get(who, {}))
        table.append(row)
    return table


def write_table(path, table):
    cols = list(dict.fromkeys(k for row in table for k in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, cols)
        writer.writeheader()
        writer.writerows(table)
    return path


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_valid_hand_grades_merge_into_final_totals(batch, tmp_path):
    batch_dir, docs = batch
    first = next(iter(HAND))
    table = full_marks(["alice", "bob", "carol"], bob={first: "0"})
    hand = handgrades.read(write_table(tmp_path / "hand.csv", table), RUBRIC, ["alice", "bob", "carol"])
    merged = {r["submission"]: r for r in handgrades.merge(gradebook.rows(batch_dir), hand, RUBRIC)}
    half = sum(q.points / 2 for q in HAND.values() if not q.extra_credit)
    for who in ("alice", "bob"):
        expected_hand = half - (HAND[first].points / 2 if who == "bob" else 0)
        row = merged[who]
        assert float(row["hand total"]) == pytest.approx(expected_hand, abs=1e-4)
        assert float(row["total"]) == pytest.approx(docs[who]["score"] + expected_hand, abs=1e-4)
        assert float(row["max"]) == pytest.approx(docs[who]["max_score"] + RUBRIC.totals()["hand"], abs=1e-4)
    assert merged["bob"][f"hand {first}"] == "0"
    # carol was not graded: her hand points are kept, her total stays empty rather than a false grade
    assert merged["carol"]["hand total"] and merged["carol"]["total"] == "" and merged["carol"]["status"] == "grader error"
    cols = list(merged["alice"])
    assert cols.index("hand total") > cols.index(f"hand {list(HAND)[-1]}") and cols.index("max") < cols.index("status")


def test_a_filled_in_gradebook_is_a_hand_grade_file(batch, tmp_path):
    batch_dir, _ = batch
    rows = gradebook.rows(batch_dir)
    for row in rows:
        row.update({f"hand {qid}": "1" for qid in HAND})
    path = gradebook.write_csv(rows, tmp_path / "filled.csv")
    hand = handgrades.read(path, RUBRIC, ["alice", "bob", "carol"])
    assert hand.scores["bob"] == dict.fromkeys(HAND, 1.0)


def test_one_error_of_each_kind_each_reported_with_row_and_column(batch, tmp_path):
    qids = list(HAND)
    big, word, neg, nan, empty, missing = qids[0], qids[1], qids[2], qids[3], qids[4], qids[5]
    table = full_marks(["alice", "bob", "mallory", "alice"],
                       alice={big: str(HAND[big].points + 1), word: "three"},
                       bob={neg: "-1", nan: "nan", empty: ""})
    for row in table:
        del row[missing]
        row["Q2.1.2"] = "3"            # an auto question is not graded by hand
    with pytest.raises(handgrades.HandGradeError) as caught:
        handgrades.read(write_table(tmp_path / "hand.csv", table), RUBRIC, ["alice", "bob", "carol"])
    problems = caught.value.problems
    expected = [
        f"row 2 (alice), column '{big}': {HAND[big].points + 1} points is above the question's maximum",
        f"row 2 (alice), column '{word}': 'three' is not a number of points",
        f"row 3 (bob), column '{neg}': -1 points is below zero",
        f"row 3 (bob), column '{nan}': 'nan' is not a number of points",
        f"row 3 (bob), column '{empty}': empty",
        "row 4 (mallory), column 'submission': unknown student 'mallory'",
        "row 5 (alice), column 'submission': alice is graded again (first on row 2)",
        f"column '{missing}': missing",
        "column 'Q2.1.2': not a hand-graded question",
        "student 'carol': no row",
    ]
    for text in expected:
        assert sum(p.startswith(text) for p in problems) == 1, (text, problems)
    assert len(problems) == len(expected), problems
    assert "nothing written" in str(caught.value)


def test_cli_merges_and_exports_canvas_with_the_roster(batch, tmp_path, capsys):
    batch_dir, docs = batch
    hand = write_table(tmp_path / "hand.csv", full_marks(["alice", "bob", "carol"]))
    roster = write_table(tmp_path / "roster.csv", [
        {"Student": "    Points Possible", "ID": "", "SIS User ID": "", "SIS Login ID": "", "Section": ""},
        {"Student": "Liddell, Alice", "ID": "101", "SIS User ID": "9001", "SIS Login ID": "alice", "Section": "A"},
        {"Student": "=Bob", "ID": "102", "SIS User ID": "9002", "SIS Login ID": "bob", "Section": "B"}])
    out = tmp_path / "out"
    assert cli.main(["gradebook", str(batch_dir), "--hand", str(hand), "--roster", str(roster),
                     "--assignment", "HW5 (777)", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "not in the roster (no Canvas ids): carol" in printed and "no total" in printed
    canvas = read_csv(out / "canvas.csv")
    assert list(canvas[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW5 (777)"]
    alice, bob, carol = canvas
    half = sum(q.points / 2 for q in HAND.values() if not q.extra_credit)
    assert alice["Student"] == "Liddell, Alice" and alice["ID"] == "101" and alice["SIS Login ID"] == "alice"
    assert float(alice["HW5 (777)"]) == pytest.approx(docs["alice"]["score"] + half, abs=1e-4)
    assert bob["Student"] == "'=Bob" and bob["Section"] == "B"       # a formula opens as text
    assert carol["Student"] == "carol" and carol["ID"] == "" and carol["HW5 (777)"] == ""
    merged = read_csv(out / "grades.csv")
    assert [r["submission"] for r in merged] == ["alice", "bob", "carol"]
    assert float(merged[0]["total"]) == pytest.approx(float(alice["HW5 (777)"]))


def test_cli_writes_nothing_when_the_hand_grades_have_problems(batch, tmp_path, capsys):
    batch_dir, _ = batch
    first = next(iter(HAND))
    hand = write_table(tmp_path / "hand.csv", full_marks(["alice", "bob", "carol"], bob={first: "x"}))
    out = tmp_path / "out"
    assert cli.main(["gradebook", str(batch_dir), "--hand", str(hand), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"row 3 (bob), column '{first}': 'x' is not a number of points" in err
    assert not (out / "grades.csv").exists() and not (out / "canvas.csv").exists()


def test_cli_without_hand_writes_todays_gradebook(batch, tmp_path):
    batch_dir, _ = batch
    assert cli.main(["gradebook", str(batch_dir)]) == 0
    back = read_csv(batch_dir / "grades.csv")
    assert list(back[0]) == gradebook.columns() and len(back) == 3


def test_a_canvas_downloads_submission_is_matched_by_its_user_id():
    """discover names a Canvas download's submission <sortable name>_<user id>: the roster's ID."""
    roster = {"101": {"Student": "Smith, Ann", "ID": "101", "SIS User ID": "9001", "SIS Login ID": "asmith",
                      "Section": "A"}}
    rows, unmatched = handgrades.canvas_rows([{"submission": "smith_101", handgrades.TOTAL: 21},
                                              {"submission": "jones_202", handgrades.TOTAL: 3},
                                              {"submission": "hw5_101", handgrades.TOTAL: 5}], "HW5", roster)
    assert rows[0]["ID"] == "101" and rows[0]["SIS Login ID"] == "asmith" and rows[0]["HW5"] == 21
    # a name merely ending in the number of another student's ID is not that student
    assert unmatched == ["jones_202", "hw5_101"] and rows[2]["ID"] == ""
