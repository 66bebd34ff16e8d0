"""Item analysis of a batch: per check, how much of the class passed it, whether it tells strong
submissions from weak ones, and how it is failed, for the staff's overview.

Discrimination is the point-biserial correlation (scipy.stats.pointbiserialr) between passing the
check and the rest of the score (the submission's score without this check's points): near 1, the
submissions that pass it do well elsewhere; near 0, passing it says nothing about the rest; below
0, the stronger submissions fail it, which is usually a wrong check. Only graded documents count
(a grader error is no data), and only the submissions in which the check ran (a hidden check not
run, a training check skipped by --quick is no outcome). A check that nearly everyone fails, or
whose discrimination is near zero or negative, is flagged for staff.
"""
from __future__ import annotations

import warnings
from collections import Counter

from graders.results import messages
from graders.results import document as results_doc
from graders.checks.numerics import finite_number

MIN_SUBMISSIONS = 5       # below this a share or a correlation says little: nothing is flagged
NEARLY_ALL_FAIL = 0.10    # passed by at most this share of the class
LOW_DISCRIMINATION = 0.10
TOP_MESSAGES = 3
RAN = ("passed", "failed", "error", "timeout", "skipped")


def discrimination(passed: list[bool], rest: list[float]) -> float | None:
    """The point-biserial correlation of passing with the rest of the score; None when either has
    no spread (everyone passed, or every other score is the same)."""
    if len(set(passed)) < 2 or len(set(rest)) < 2:
        return None
    from scipy.stats import pointbiserialr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = pointbiserialr(passed, rest).statistic
    return finite_number(r)


def flags(item: dict) -> list[str]:
    """What the staff should look at in this check, in words; [] when nothing."""
    if item["ran"] < MIN_SUBMISSIONS:
        return []
    out = []
    if item["share"] <= NEARLY_ALL_FAIL:
        out.append(f"nearly everyone fails it ({item['passed']} of {item['ran']} passed): "
                   "is the check right, or the handout unclear?")
    d = item["discrimination"]
    if d is not None and d <= -LOW_DISCRIMINATION:
        out.append(f"the stronger submissions fail it more (discrimination {d:.2f}): check the check")
    elif d is not None and abs(d) < LOW_DISCRIMINATION:
        out.append(f"does not discriminate (discrimination {d:.2f}): passing it says nothing about the rest")
    return out


def analyse(loaded: list[tuple[str, dict | None]]) -> list[dict]:
    """One item per check that ran in at least one graded submission, in the checks' order: its
    name, question, description, how many ran and passed, the share, the discrimination, the most
    common failure messages (grouped as the overview groups them, with counts) and the flags."""
    outcomes: dict[str, dict] = {}
    for _, results in loaded:
        if not results or results.get("error"):
            continue
        score = results_doc.number(results.get("score"))
        if score is None:
            continue
        for check in results.get("checks", []):
            if not isinstance(check, dict) or check.get("not_run") or results_doc.status_of(check) not in RAN:
                continue
            item = outcomes.setdefault(results_doc.check_id(check), {
                "name": str(check.get("name") or results_doc.check_id(check)), "question": str(check.get("question") or ""),
                "description": str(check.get("description") or ""), "order": len(outcomes),
                "passed_flags": [], "rest": [], "messages": Counter()})
            passed = check.get("status") == "passed"
            item["passed_flags"].append(passed)
            item["rest"].append(score - (results_doc.number(check.get("points")) or 0.0))
            if not passed:
                item["messages"][messages.failure_pattern(str(check.get("message") or ""))] += 1
    items = []
    for item in sorted(outcomes.values(), key=lambda i: i["order"]):
        ran, passed = len(item["passed_flags"]), sum(item["passed_flags"])
        out = {"name": item["name"], "question": item["question"], "description": item["description"],
               "ran": ran, "passed": passed, "share": passed / ran,
               "discrimination": discrimination(item["passed_flags"], item["rest"]),
               "failures": item["messages"].most_common(TOP_MESSAGES)}
        out["flags"] = flags(out)
        items.append(out)
    return items
