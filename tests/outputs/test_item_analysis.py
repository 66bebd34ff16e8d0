"""Item analysis: per check, the share that passed, its discrimination and its common failures; flags for staff."""
from __future__ import annotations

import re

import numpy as np
import pytest

import results_factory as rf
from graders.outputs import item_analysis
from graders.outputs import overview
from graders.results import document as results_doc

CLASS = 8      # students s0 (weakest) .. s7 (strongest)


def student(k: int) -> dict:
    """Student k passes the first k of seven filler checks, so the rest of the score grows with k."""
    checks = [rf.check(f"test_fill_{j}", "Q3.1", "passed" if j < k else "failed", message=f"fill {j} failed")
              for j in range(7)]
    checks += [
        rf.check("test_good_check", "Q2.2.2", "passed" if k >= 4 else "failed", message="softmax rows do not sum to 1"),
        rf.check("test_backwards_check", "Q2.2.2", "passed" if k < 4 else "error",
                 message=f"loss was {k + 0.5} too high at step {k}"),
        rf.check("test_impossible", "Q2.3.1", "failed", message="gradient off by 1e-3" if k % 2 else "gradient off by 0.2"),
        rf.check("test_flat", "Q2.3.1", "passed" if k in (1, 2, 4, 7) else "failed", message="flat"),
    ]
    if k % 2:
        checks.append(rf.check("test_hidden_only", "Q2.3.1", "hidden-not-run"))
    return rf.results(checks)


@pytest.fixture
def loaded():
    docs = [(f"s{k}", student(k)) for k in range(CLASS)]
    docs.append(("crashed", rf.results([rf.check("test_good_check", "Q2.2.2", "failed")],
                                       error="the grader failed", error_cause="grader")))
    docs.append(("unreadable", None))
    return docs


def items_by_name(loaded):
    return {i["name"]: i for i in item_analysis.analyse(loaded)}


def test_share_counts_only_graded_submissions_where_the_check_ran(loaded):
    items = items_by_name(loaded)
    assert "test_hidden_only" not in items                      # never ran
    good = items["test_good_check"]
    assert (good["ran"], good["passed"]) == (CLASS, 4) and good["share"] == 0.5    # the crashed one is no data
    assert items["test_fill_0"]["passed"] == CLASS - 1


def test_discrimination_is_the_correlation_with_the_rest_of_the_score(loaded):
    items = items_by_name(loaded)
    graded = [doc for _, doc in loaded[:CLASS]]
    for name in ("test_good_check", "test_backwards_check", "test_flat", "test_fill_3"):
        rows = [next(c for c in doc["checks"] if c["name"] == name) for doc in graded]
        passed = [c["status"] == "passed" for c in rows]
        rest = [doc["score"] - c["points"] for doc, c in zip(graded, rows)]
        assert items[name]["discrimination"] == pytest.approx(np.corrcoef(passed, rest)[0, 1]), name
    assert items["test_good_check"]["discrimination"] > 0.3
    assert items["test_backwards_check"]["discrimination"] < -0.7
    assert items["test_impossible"]["discrimination"] is None      # nobody passed: no spread


def test_flags_nearly_all_fail_low_and_negative_discrimination(loaded):
    items = items_by_name(loaded)
    assert items["test_impossible"]["flags"] == [
        "nearly everyone fails it (0 of 8 passed): is the check right, or the handout unclear?"]
    assert items["test_backwards_check"]["flags"][0].startswith("the stronger submissions fail it more")
    flat = items["test_flat"]
    assert abs(flat["discrimination"]) < 1e-9          # its passers are as strong as the rest
    assert flat["flags"][0].startswith("does not discriminate")
    assert items["test_good_check"]["flags"] == []
    # too small a class: nothing is flagged
    few = items_by_name(loaded[:item_analysis.MIN_SUBMISSIONS - 1])
    assert all(i["flags"] == [] for i in few.values())


def test_common_failures_group_the_same_mistake_with_counts(loaded):
    items = items_by_name(loaded)
    assert items["test_backwards_check"]["failures"] == [("loss was N too high at step N", 4)]
    assert items["test_impossible"]["failures"] == [("gradient off by N", CLASS)]
    assert items["test_good_check"]["failures"] == [("softmax rows do not sum to N", 4)]


def test_the_overview_shows_the_item_analysis(loaded, tmp_path):
    for name, doc in loaded:
        if doc is not None:
            rf.write(tmp_path / results_doc.SUBMISSIONS / name, doc)
    html = overview.write_batch(tmp_path)["index"].read_text()
    section = re.search(r'<section class="card" id="item-analysis">(.*?)</section>', html, re.S).group(1)
    assert re.search(r"<b>3 check\(s\) flagged for staff</b>: <code>test_backwards_check</code>, "
                     r"<code>test_impossible</code>, <code>test_flat</code>", section)
    row = re.search(r"<tr[^>]*>\s*<td[^>]*><code>test_good_check</code>.*?</tr>", section, re.S).group(0)
    assert "<b>50%</b>" in row and "4 of 8" in row and "4&times; <code>softmax rows do not sum to N</code>" in row
    impossible = re.search(r"<tr class=\"row-warn\">\s*<td[^>]*><code>test_impossible</code>.*?</tr>", section, re.S)
    assert impossible and "nearly everyone fails it" in impossible.group(0)
