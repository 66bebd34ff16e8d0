"""The whole NumPy part, graded as a TA grades it: the reference earns every auto-graded point,
three times in a row with identical verdicts (training included, two cores)."""
import json

import pytest

NUMPY_PART = ("Q2.1.2", "Q2.2.1", "Q2.2.2", "Q2.2.3", "Q2.3.1", "Q2.4", "Q2.5",
              "Q3.1", "Q4.2", "Q4.4", "Q5.1.1", "Q5.1.2", "Q5.2", "Q5.3.2")


@pytest.mark.slow
def test_reference_full_marks_on_the_numpy_part_three_times_identically(reference_full_grades):
    runs = [json.loads((out / "grade.json").read_text()) for out in reference_full_grades]
    from test_results import schema_errors
    assert schema_errors(runs[0]) == []           # what the harness really writes keeps its contract
    for results in runs:
        for q in NUMPY_PART:
            got = results["questions"][q]
            assert got["score"] == got["max_score"] > 0, (q, [
                (c["name"], c["status"], c["message"]) for c in results["checks"]
                if c["question"] == q and c["status"] != "passed"])
    # verdicts and messages, not timings: the same submission and seed give the same grade
    views = [sorted((c["nodeid"], c["status"], c["message"], c["points"]) for c in r["checks"]) for r in runs]
    assert views[0] == views[1] == views[2]
    assert runs[0]["score"] == runs[1]["score"] == runs[2]["score"]
