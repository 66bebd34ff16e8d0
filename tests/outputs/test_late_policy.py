"""The late penalty and the submission limit, from Gradescope's submission_metadata.json."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import results_factory as rf
from graders.staff import gradescope_bundle
from graders.staff import batch
from graders.outputs import gradescope
from graders.outputs import late_policy

DUE = "2022-04-01T23:59:00.000000-04:00"
LATE_DUE = "2022-04-04T23:59:00.000000-04:00"


def metadata(created_at: str, previous: list[str] = (), due: str = DUE, late_due: str | None = LATE_DUE,
             own_due: str | None = None) -> dict:
    """A submission_metadata.json shaped as Gradescope documents it."""
    user = {"email": "student@example.edu", "id": 1234, "name": "Student User"}
    if own_due:
        user["assignment"] = {"due_date": own_due, "late_due_date": None, "release_date": "2022-03-01T00:00:00-05:00"}
    return {"id": 987654, "created_at": created_at,
            "assignment": {"due_date": due, "group_size": None, "group_submission": False, "id": 25828,
                           "course_id": 1234, "late_due_date": late_due, "release_date": "2022-03-01T00:00:00-05:00",
                           "title": "HW5", "total_points": "150.0"},
            "submission_method": "upload", "users": [user],
            "previous_submissions": [{"submission_time": t, "score": 40.0 + i, "results": {}}
                                     for i, t in enumerate(previous)]}


PER_DAY = late_policy.Policy(per="day", penalty_percent=10, cap_percent=30, grace_minutes=5)


@pytest.mark.parametrize("created, units, percent", [
    ("2022-04-01T23:58:00-04:00", 0, 0),          # on time
    ("2022-04-02T00:03:00-04:00", 0, 0),          # 4 minutes late: within the grace
    ("2022-04-02T00:10:00-04:00", 1, 10),         # the first day started
    ("2022-04-03T03:00:00-04:00", 2, 20),         # 1 day 3 h: two days started
    ("2022-04-08T05:00:30Z", 7, 30),              # a week late, in UTC: capped
])
def test_per_day_penalty_counts_days_started_after_the_grace_with_a_cap(created, units, percent):
    late = late_policy.assess(metadata(created), PER_DAY)
    assert (late["late_units"], late["penalty_percent"]) == (units, percent)
    assert late["refused"] is False
    if percent:
        assert f"submitted {late_policy.parse_time(created).isoformat()}" in late["message"]
        assert f"due {late_policy.parse_time(DUE).isoformat()}" in late["message"]
        assert f"{percent}% off the auto-graded score" in late["message"]
    else:
        assert late["message"] == ""
    assert ("capped at 30%" in late["message"]) == (units * 10 > 30)
    assert ("after the late due date" in late["message"]) == (units == 7)


def test_per_hour_penalty_and_the_exact_lateness_in_words():
    late = late_policy.assess(metadata("2022-04-02T02:30:00-04:00"),
                              late_policy.Policy(per="hour", penalty_percent=2, cap_percent=100))
    assert late["late_seconds"] == 2.5 * 3600 + 60
    assert (late["late_units"], late["penalty_percent"]) == (3, 6)
    assert "2 h 31 min late, 3 hour(s) started at 2% each: 6% off" in late["message"]
    assert late_policy.penalised(50.0, late) == 47.0


def test_a_students_own_due_date_an_extension_wins():
    late = late_policy.assess(metadata("2022-04-03T12:00:00-04:00", own_due="2022-04-04T23:59:00-04:00"), PER_DAY)
    assert late["penalty_percent"] == 0 and late["due_date"] == "2022-04-04T23:59:00-04:00"


LIMIT = late_policy.Policy(max_submissions=3, window_hours=24)


def test_the_limit_counts_this_submission_and_the_window_only():
    # two in the last 24 h (one older, outside): this one is the third, so it is graded
    ok = late_policy.assess(metadata("2022-04-01T12:00:00-04:00",
                                     ["2022-03-30T09:00:00-04:00", "2022-03-31T13:00:00-04:00",
                                      "2022-04-01T08:00:00-04:00"]), LIMIT)
    assert ok["refused"] is False and ok["limit"]["in_window"] == 3 and ok["message"] == ""


def test_over_the_limit_is_refused_keeping_the_latest_score_and_saying_when_next():
    previous = ["2022-03-31T13:00:00-04:00", "2022-03-31T20:00:00-04:00", "2022-04-01T08:00:00-04:00"]
    late = late_policy.assess(metadata("2022-04-01T12:00:00-04:00", previous), LIMIT)
    assert late["refused"] is True and late["limit"]["in_window"] == 4
    assert late["previous_score"] == 42.0                            # the 08:00 submission's
    # three of the window's must be within 24 h: from 13:00 + 24 h the 13:00 one has left it
    assert late["next_allowed"] == "2022-04-01T13:00:00-04:00"
    assert "submission 4 in the 24 h before 2022-04-01T12:00:00-04:00" in late["message"]
    assert "at most 3 are graded" in late["message"] and "graded from 2022-04-01T13:00:00-04:00" in late["message"]
    doc = gradescope.refused_document(late)
    assert doc["score"] == 42.0 and doc["tests"] == [] and doc["output"] == late["message"]


@pytest.mark.parametrize("table, words", [
    ({"per": "week"}, "per = 'week'"),
    ({"penalty_percent": -1}, "penalty_percent = -1"),
    ({"cap_percent": 150}, "cap_percent = 150"),
    ({"max_submissions": 2.5}, "a whole number"),
    ({"window_hours": 0}, "window_hours must be above 0"),
    ({"penalty_percent": float("nan")}, "penalty_percent = nan"),
    ({"penalty": 10}, "unknown key 'penalty'"),
])
def test_a_bad_late_section_is_named(table, words):
    with pytest.raises(late_policy.LatePolicyError, match=words.replace("(", r"\(").replace(".", r"\.")):
        late_policy.from_table(table)


def test_the_shipped_rubrics_have_a_policy_that_changes_nothing():
    for edition in ("2022", "2019"):
        assert not late_policy.load(edition).active


@pytest.mark.parametrize("bad", [{"created_at": "yesterday"}, {"created_at": "2022-04-02T10:00:00"}, ["not", "an", "object"]])
def test_unreadable_metadata_takes_nothing_off_and_says_so(tmp_path, monkeypatch, bad):
    monkeypatch.setattr(late_policy, "load", lambda edition, path=None: PER_DAY)
    (tmp_path / late_policy.METADATA).write_text(json.dumps(bad))
    late = late_policy.read(tmp_path, "2022")
    assert late["problem"] and late["penalty_percent"] == 0 and not late["refused"]
    assert late["message"].startswith("The late policy was not applied")


# ---------------------------------------------------------------- in the Gradescope run

@pytest.fixture
def gradescope_root(tmp_path, monkeypatch):
    """ROOT/submission with a file to grade, and a grading that takes no time: run_within writes
    a results document of the factory, as the grading child would."""
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "nn.py").write_text("import numpy as np\n")
    monkeypatch.delenv(gradescope_bundle.ARGS_ENV, raising=False)
    graded = rf.typical(failing=True)

    def run_within(seconds, out_dir, fields=None, **kwargs):
        rf.write(Path(out_dir), {**graded, **(fields or {})})     # grade.run's fields, as it records them
        return json.loads((Path(out_dir) / "grade.json").read_text())
    monkeypatch.setattr(batch, "run_within", run_within)
    return root, graded


def run(root, monkeypatch, policy, meta) -> dict:
    monkeypatch.setattr(late_policy, "load", lambda edition, path=None: policy)
    (root / late_policy.METADATA).write_text(json.dumps(meta))
    assert gradescope_bundle.gradescope_main(root) == 0
    return json.loads((root / "results" / "results.json").read_text())


def test_the_gradescope_run_applies_the_late_penalty(gradescope_root, monkeypatch):
    root, graded = gradescope_root
    results = run(root, monkeypatch, PER_DAY, metadata("2022-04-03T03:00:00-04:00"))
    earned = gradescope.results_json(graded)["score"]
    assert earned > 0
    assert results["score"] == pytest.approx(round(earned * 0.8, 4))
    assert sum(t["score"] for t in results["tests"]) == pytest.approx(earned)     # the checks keep their points
    assert "20% off the auto-graded score" in results["output"]
    assert f"Score after the late penalty: {gradescope.fmt_number(round(earned * 0.8, 4), 4)}." in results["output"]
    assert results["extra_data"]["late"]["penalty_percent"] == 20
    kept = json.loads((root / "results" / "hw5grade" / "grade.json").read_text())
    assert kept["late"]["late_units"] == 2 and kept["late"]["submitted_at"] == "2022-04-03T03:00:00-04:00"
    # the student's report says it too, with the score after the penalty
    from graders.outputs import report
    page = report.render_report(kept, root / "results" / "hw5grade")
    assert "Late policy." in page and "20% off the auto-graded score" in page
    assert f"Score after the late penalty: <b>{gradescope.fmt_number(round(earned * 0.8, 4), 4)}</b>" in page


def test_a_late_grading_past_its_time_limit_keeps_the_late_policy_in_grade_json(gradescope_root, monkeypatch):
    root, _ = gradescope_root
    def run_within(seconds, out_dir, **kwargs):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return None                                                                # it ran out of time
    monkeypatch.setattr(batch, "run_within", run_within)
    results = run(root, monkeypatch, PER_DAY, metadata("2022-04-03T03:00:00-04:00"))
    assert results["score"] == 0 and results["extra_data"]["not_a_grade"] is True
    kept = json.loads((root / "results" / "hw5grade" / "grade.json").read_text())
    assert kept["error_cause"] == "timeout" and kept["late"]["late_units"] == 2


def test_the_gradescope_run_refuses_a_submission_over_the_limit(gradescope_root, monkeypatch):
    root, _ = gradescope_root
    previous = ["2022-03-31T13:00:00-04:00", "2022-03-31T20:00:00-04:00", "2022-04-01T08:00:00-04:00"]
    results = run(root, monkeypatch, LIMIT, metadata("2022-04-01T12:00:00-04:00", previous))
    assert results["score"] == 42.0 and results["tests"] == []
    assert results["output"].startswith("Submission limit reached") and "2022-04-01T13:00:00-04:00" in results["output"]
    assert not (root / "results" / "hw5grade" / "grade.json").exists()      # not graded at all


def test_the_gradescope_run_without_metadata_or_policy_is_unchanged(gradescope_root, monkeypatch):
    root, graded = gradescope_root
    monkeypatch.setattr(late_policy, "load", lambda edition, path=None: PER_DAY)
    assert gradescope_bundle.gradescope_main(root) == 0          # no submission_metadata.json (a local run)
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == gradescope.results_json(graded)["score"] and "late" not in results["output"].lower()


def test_over_the_limit_without_a_recorded_score_says_it_is_no_grade():
    meta = metadata("2022-04-01T12:00:00-04:00", ["2022-04-01T08:00:00-04:00"] * 3)
    for previous in meta["previous_submissions"]:
        previous["score"] = None
    late = late_policy.assess(meta, LIMIT)
    assert late["refused"] and late["previous_score"] is None
    assert "has no score: the score shown here is not a grade" in late["message"]
