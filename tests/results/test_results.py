"""graders.results.document, the one owner of grade.json: what it reads, what it refuses, how it writes."""
from __future__ import annotations

import json
import math

import pytest

from graders.outputs import report
from graders.results import document as results_doc


def test_every_status_word_has_a_look_in_the_report_and_no_other_word_does():
    assert set(report.STATUSES) == set(results_doc.STATUSES)
    assert set(results_doc.PROBLEMS) < set(results_doc.STATUSES) and results_doc.PASSED in results_doc.STATUSES


@pytest.mark.parametrize("value, expected", [(3, 3.0), (2.5, 2.5), (True, None), (math.nan, None), (math.inf, None),
                                             ("4", None), ([1], None), (10 ** 400, None), (None, None)])
def test_a_number_of_the_document_is_one_finite_real_number(value, expected):
    assert results_doc.number(value) == expected


def test_write_replaces_the_document_whole_and_load_reads_it_back(tmp_path):
    document = {"score": 1.5, "checks": [{"name": "a", "status": "passed"}], "questions": {}}
    results_doc.write(tmp_path / "out" / results_doc.FILE, document)
    assert results_doc.load(tmp_path / "out") == document
    assert [p.name for p in (tmp_path / "out").iterdir()] == [results_doc.FILE]    # no temporary left
    results_doc.write(tmp_path / "out" / results_doc.FILE, {**document, "score": 2}, compact=True)
    assert "\n" not in (tmp_path / "out" / results_doc.FILE).read_text()
    assert results_doc.load(tmp_path / "out")["score"] == 2


@pytest.mark.parametrize("text, says", [(None, results_doc.NO_RESULTS), ("{", "not valid JSON"),
                                        ("[]", "a JSON object is expected"),
                                        (json.dumps({"checks": {}}), "'checks' must be a list")])
def test_load_says_what_is_wrong_with_a_document_it_cannot_use(tmp_path, text, says):
    if text is not None:
        (tmp_path / results_doc.FILE).write_text(text)
    with pytest.raises(results_doc.ResultsError, match=says):
        results_doc.load(tmp_path)


def test_a_batch_is_read_once_each_submission_with_why_it_could_not_be(tmp_path):
    good = tmp_path / results_doc.SUBMISSIONS / "ana"
    results_doc.write(good / results_doc.FILE, {"score": 1, "checks": []})
    broken = tmp_path / results_doc.SUBMISSIONS / "bo"
    broken.mkdir(parents=True)
    (broken / results_doc.FILE).write_text("not json")
    assert results_doc.submission_dirs(tmp_path) == [good, broken]
    loaded = results_doc.load_batch(tmp_path, ["ana", "bo", "cy"])
    assert loaded[0] == ("ana", {"score": 1, "checks": []}, "")
    assert loaded[1][1] is None and "not valid JSON" in loaded[1][2] and str(broken) not in loaded[1][2]
    assert loaded[2][1] is None and loaded[2][2].startswith(results_doc.NO_RESULTS)


def test_a_check_that_erred_makes_the_document_a_grader_error_not_a_grade():
    document = {"checks": [{"question": "Q2.1", "status": "passed"},
                           {"question": "Q3.1", "status": "error", "message": "the worker crashed"}]}
    results_doc.mark_grader_failures(document)
    assert document["error_cause"] == results_doc.GRADER and "Q3.1" in document["error"]
    assert document["notes"][0] == results_doc.GRADER_ERROR_NOTE
    assert not results_doc.unreadable(document)
    assert results_doc.unreadable({"error": "not a zip", "error_cause": results_doc.SUBMISSION})


# ---------------------------------------------------------------- the schema, grade.schema.json

def schema_errors(document: dict) -> list[str]:
    """What grade.schema.json finds wrong with a document (empty: it conforms)."""
    import jsonschema
    schema = json.loads(results_doc.SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_the_schema_is_valid_and_names_the_status_words_and_causes_of_graders_results():
    import jsonschema
    schema = json.loads(results_doc.SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$defs"]["check"]["properties"]["status"]["enum"] == list(results_doc.STATUSES)
    assert schema["properties"]["error_cause"]["enum"] == [results_doc.GRADER, results_doc.SUBMISSION,
                                                           results_doc.TIMEOUT]


@pytest.mark.parametrize("cause", [results_doc.GRADER, results_doc.SUBMISSION, results_doc.TIMEOUT])
def test_a_document_that_graded_nothing_conforms(cause):
    from graders.pipeline import grade
    document = grade.crashed_results("2022", "why nothing was graded", "/submissions/x", "all", False, cause=cause)
    assert schema_errors(json.loads(json.dumps(document, default=str))) == []


@pytest.mark.parametrize("visibility", ["all", "public"])
def test_the_report_tests_documents_conform(visibility):
    import results_factory as rf
    assert schema_errors(rf.typical(visibility)) == []


@pytest.mark.parametrize("spoil, where", [
    (lambda d: d["checks"][0].update(status="passed-ish"), "checks/0/status"),
    (lambda d: d.update(score=-1), "score"),
    (lambda d: d["questions"]["Q2.2.2"].update(score="10"), "questions/Q2.2.2/score"),
    (lambda d: d.pop("checks"), ""),
])
def test_the_schema_refuses_a_document_no_reader_could_trust(spoil, where):
    import results_factory as rf
    document = rf.typical()
    spoil(document)
    errors = schema_errors(document)
    assert errors and any(e.startswith(f"{where}:") for e in errors), errors
