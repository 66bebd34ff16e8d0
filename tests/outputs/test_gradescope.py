"""Gradescope's results.json: valid by their specification, scores that add up, capped output.

The schema below is Gradescope's published "Output format" of results.json
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): every field it defines, the
types it gives, and the values it allows for status, visibility and the *_format fields. Keys
the specification marks optional but that our documents always carry are required here.
"""
from __future__ import annotations

import json
import re

import jsonschema  # a dependency of nbformat, which the harness requires
import pytest

import results_factory
from graders.pipeline import grade
from graders.outputs import gradescope
from graders.checks import rubric

VISIBILITIES = ["hidden", "after_due_date", "after_published", "visible"]
FORMATS = ["text", "html", "simple_format", "md", "ansi"]

TEST_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "max_score": {"type": "number"},
        "status": {"enum": ["passed", "failed"]},
        "name": {"type": "string"},
        "name_format": {"enum": FORMATS},
        "number": {"type": "string"},
        "output": {"type": "string"},
        "output_format": {"enum": FORMATS},
        "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": {"enum": VISIBILITIES},
        "extra_data": {"type": "object"},
    },
    "required": ["name", "number", "score", "max_score", "status", "output", "output_format",
                 "visibility", "tags"],
    "additionalProperties": False,
}
SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "integer", "minimum": 0},
        "output": {"type": "string"},
        "output_format": {"enum": FORMATS},
        "test_output_format": {"enum": FORMATS},
        "test_name_format": {"enum": FORMATS},
        "visibility": {"enum": VISIBILITIES},
        "stdout_visibility": {"enum": VISIBILITIES},
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": TEST_SCHEMA},
        "leaderboard": {"type": "array"},
    },
    "required": ["score", "execution_time", "output", "output_format", "visibility",
                 "stdout_visibility", "tests"],
    "additionalProperties": False,
}

RUBRIC = rubric.load("2022")


def check(question, status="passed", n=0, *, weight=1.0, visibility="public", **extra):
    """A check record as the plugin writes it into grade.json (results_factory's, named by
    question and number; failures carry expected/actual/hint)."""
    if status not in ("passed", "hidden-not-run"):
        extra = {"message": f"{question} check {n} {status}", "expected": "an array", "actual": "None",
                 "hint": f"look at {question}", **extra}
    record = results_factory.check(f"test_{question}_{n}", question, status, weight=weight, order=n,
                                   description=f"property {n} of {question} holds", **extra)
    record["visibility"] = visibility
    return record


def grade_doc(checks, *, visibility="all", notes=()):
    """A grade.json document scored by the real rubric, as grade.run writes it."""
    return results_factory.results(checks, visibility=visibility, notes=list(notes))


def suite(status_of):
    """The same checks every scenario grades: 5 of Q2.1.2, 7 of Q2.4 (shares of 5/7 that
    round to 0.7143, seven of which make 5.0001), 3 public and 1 hidden of Q2.3.1, 2 advisory."""
    plan = ([("Q2.1.2", i, 1.0, "public") for i in range(5)]
            + [("Q2.4", i, 1.0, "public") for i in range(7)]
            + [("Q2.3.1", i, 1.0, "public") for i in range(3)] + [("Q2.3.1", 3, 2.0, "hidden")]
            + [("Static", i, 1.0, "public") for i in range(2)])
    return [check(q, status_of(q, i, vis), i, weight=w, visibility=vis) for q, i, w, vis in plan]


def full_pass():
    return grade_doc(suite(lambda q, i, vis: "passed"))


def stub_run():
    def status(q, i, vis):
        if vis == "hidden":
            return "hidden-not-run"
        if q == "Static":
            return "passed"
        return "skipped" if q == "Q2.4" and i > 0 else "failed"
    return grade_doc(suite(status), visibility="public",
                     notes=["1 hidden check(s) exist and were not run (--visibility public); "
                            "they are graded when the staff grade the submission"])


def hidden_not_run():
    def status(q, i, vis):
        if vis == "hidden":
            return "hidden-not-run"
        return "failed" if (q, i) in {("Q2.4", 2), ("Q2.4", 5), ("Q2.1.2", 0)} else "passed"
    return grade_doc(suite(status), visibility="public")


def crashed():
    return grade.crashed_results("2022", "pytest failed: RuntimeError: boom", "/subs/x", "all", False)


def long_message():
    message = "\n".join(f"line {i} of a runaway message" for i in range(10_000))
    return grade_doc([check("Q2.1.2", "failed", 0, message=message),
                      check("Q2.1.2", "passed", 1)])


SCENARIOS = {"full pass": full_pass, "stub run": stub_run, "hidden not run": hidden_not_run,
             "crash": crashed, "10,000-line message": long_message}


@pytest.fixture(params=list(SCENARIOS))
def scenario(request):
    results = SCENARIOS[request.param]()
    return results, gradescope.results_json(json.loads(json.dumps(results)))


def test_valid_by_the_specification(scenario):
    _, doc = scenario
    jsonschema.validate(doc, SCHEMA)
    json.dumps(doc, allow_nan=False)    # Gradescope reads strict JSON


def test_scores_add_up_to_the_total(scenario):
    results, doc = scenario
    assert round(sum(t["score"] for t in doc["tests"]), 4) == doc["score"]
    if results.get("error"):
        assert doc["score"] == 0
    else:
        assert doc["score"] == pytest.approx(results["score"], abs=1e-9)
    for t in doc["tests"]:
        assert 0 <= t["score"] <= t["max_score"] + 1e-4, t
        assert round(t["score"], 4) == t["score"] and round(t["max_score"], 4) == t["max_score"]


def test_tests_are_the_checks_that_ran(scenario):
    results, doc = scenario
    listed = [c for c in results["checks"] if c["status"] != "hidden-not-run"]
    if results.get("error"):
        listed = []
    assert len(doc["tests"]) == len(listed)
    for c, t in zip(listed, doc["tests"]):
        assert t["number"] == c["question"].removeprefix("Q")
        assert t["name"].startswith(c["question"]) and c["description"] in t["name"]
        assert t["tags"] == [c["question"]]
        assert t["status"] == ("passed" if c["status"] == "passed" else "failed")
        if c["status"] != "passed":
            assert t["score"] == 0
            assert c["message"][:200] in t["output"]
        assert t["visibility"] == gradescope.VISIBILITY[c["visibility"]]


def test_one_output_format_throughout(scenario):
    _, doc = scenario
    formats = {doc["output_format"], doc["test_output_format"], doc["test_name_format"]}
    formats |= {t["output_format"] for t in doc["tests"]} | {t["name_format"] for t in doc["tests"]}
    assert formats == {gradescope.FORMAT}


def test_full_pass_scores_every_point_exactly():
    results = full_pass()
    doc = gradescope.results_json(results)
    assert doc["score"] == results["score"] == results["max_score"]
    q24 = [t for t in doc["tests"] if t["number"] == "2.4"]
    assert round(sum(t["score"] for t in q24), 4) == RUBRIC["Q2.4"].points   # not 5.0001
    assert all(t["score"] == t["max_score"] for t in doc["tests"])


def test_stub_run_lists_skipped_checks_as_failed_with_reason():
    results = stub_run()
    doc = gradescope.results_json(results)
    skipped = [c for c in results["checks"] if c["status"] == "skipped"]
    tests = {t["name"]: t for t in doc["tests"]}
    assert skipped
    for c in skipped:
        t = next(t for name, t in tests.items() if c["description"] in name)
        assert t["status"] == "failed" and t["score"] == 0 and t["max_score"] > 0
        assert "not run" in t["output"] and c["message"] in t["output"]
    advisory = [t for t in doc["tests"] if t["number"] == "Static"]
    assert advisory and all(t["max_score"] == 0 and t["status"] == "passed" for t in advisory)


def test_hidden_checks_not_run_are_announced_not_listed():
    results = hidden_not_run()
    doc = gradescope.results_json(results)
    hidden = [c for c in results["checks"] if c["status"] == "hidden-not-run"]
    assert hidden
    assert not any(c["description"] in t["name"] for c in hidden for t in doc["tests"])
    assert f"{len(hidden)} hidden check(s) exist and were not run" in doc["output"]
    assert doc["output"].count("hidden check(s) exist") == 1


def test_hidden_checks_that_ran_wait_for_publication():
    doc = gradescope.results_json(full_pass())
    hidden = [t for t in doc["tests"] if t["name"].startswith("Q2.3.1") and "property 3" in t["name"]]
    assert [t["visibility"] for t in hidden] == ["after_published"]


def test_summary_lists_hand_and_later_questions():
    doc = gradescope.results_json(stub_run())
    out = doc["output"]
    for q in RUBRIC.questions.values():
        if q.kind == "hand" or (q.kind == "auto" and q.extra_credit):
            assert q.id in out, q.id
    assert "Isolation: bubblewrap" in out
    assert "Graded by hand" in out and "Not graded by this version" in out


def test_crash_gives_zero_and_the_error():
    doc = gradescope.results_json(crashed())
    assert doc["score"] == 0 and doc["tests"] == []
    assert "RuntimeError: boom" in doc["output"]


def test_error_checks_carry_their_traceback():
    tb = "Traceback (most recent call last):\n  File \"nn.py\", line 3\nZeroDivisionError"
    doc = gradescope.results_json(grade_doc([check("Q2.1.2", "error", 0, traceback=tb)]))
    assert tb in doc["tests"][0]["output"]


def test_long_message_is_capped_head_and_tail():
    results = long_message()
    out = gradescope.results_json(results)["tests"][0]["output"]
    assert len(out) <= gradescope.TEST_OUTPUT_CAP
    assert out.startswith("line 0 of a runaway message")
    assert out.endswith("hint: look at Q2.1.2")      # the tail survives the cut
    assert re.search(r"\.\.\. \d+ (lines|characters) cut \.\.\.", out)


@pytest.mark.parametrize("n", [gradescope.TEST_OUTPUT_CAP + 1, 100_000, 3_000_000])
def test_cap_keeps_short_text_and_stays_within_the_limit(n):
    assert gradescope.cap("short", gradescope.TEST_OUTPUT_CAP) == "short"
    text = "a" + "x" * (n - 2) + "z"
    capped = gradescope.cap(text, gradescope.TEST_OUTPUT_CAP)
    assert len(capped) <= gradescope.TEST_OUTPUT_CAP
    assert capped[0] == "a" and capped[-1] == "z"
    cut = int(re.search(r"\.\.\. (\d+) characters cut \.\.\.", capped).group(1))
    assert cut + capped.count("x") + 2 == n


def test_summary_is_capped():
    notes = [f"note {i} " + "y" * 200 for i in range(1000)]
    doc = gradescope.results_json(grade_doc([check("Q2.1.2")], notes=notes))
    assert len(doc["output"]) <= gradescope.SUMMARY_CAP
    assert "characters cut" in doc["output"]


def test_write_reads_grade_json_and_survives_a_broken_one(tmp_path):
    (tmp_path / "grade.json").write_text(json.dumps(hidden_not_run()))
    path = gradescope.write(tmp_path)
    assert path == tmp_path / "results.json"
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc == gradescope.results_json(hidden_not_run())
    for broken in ("{not json", "[1, 2]", '{"checks": "none"}'):    # not JSON, not a results document
        (tmp_path / "grade.json").write_text(broken)
        doc = json.loads(gradescope.write(tmp_path).read_text())
        jsonschema.validate(doc, SCHEMA)
        assert doc["score"] == 0 and "grade.json could not be read" in doc["output"]
