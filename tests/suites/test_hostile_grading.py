"""Hostile submissions graded end to end by `hw5grade grade`: the attack earns nothing, the
student reads why, results are written, and nothing is left running.

The sandbox-level tests (test_hostile.py) show each attack is contained; these show the verdict
that reaches grade.json. Each submission is the reference with the hostile nn.py in place, graded
on the sigmoid checks (Q2.2.1), where the attacks sit.
"""
import json
import os
import time
from pathlib import Path

import pytest

from graders.pipeline import grade
from support import REPO

HOSTILE = REPO / "tests" / "hostile"

# submission -> words of which the student's message must contain one (what happened, plainly).
# A memory hog meets the call's time budget or the memory limit first depending on how fast the
# machine hands out pages (this VM: 15 s to touch 4 GB); either stops it with a plain message.
ATTACKS = {
    "exit_at_import": ("did not import",),
    "sysexit_at_import": ("did not import",),
    "exit_in_call": ("exit",),
    "infinite_loop": ("timed out",),
    "sigterm_loop": ("timed out",),
    "memory_hog": ("memory", "timed out"),
    "fork_bomb": ("processes",),
    "print_flood": ("printed more than",),
    "monkeypatch": ("",),
}


def descendants() -> set[int]:
    """Processes below this one (other graders on the machine are not ours to count)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def left_running(before: set[int], grace: float = 10.0) -> set[int]:
    """Processes below this one that were not there before and are still there `grace` seconds on
    (a sandbox SIGKILLed a moment ago may still be exiting on a loaded machine)."""
    deadline = time.monotonic() + grace
    while (extra := descendants() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    return extra


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_earns_nothing_and_is_explained(name, make_submission, tmp_path):
    python_dir = make_submission(HOSTILE / name / "python")
    before = descendants()
    results = grade.run(python_dir, tmp_path / "out", select="sigmoid")
    written = json.loads((tmp_path / "out" / "grade.json").read_text())
    assert written["score"] == results["score"] == 0
    checks = [c for c in written["checks"] if c["question"] == "Q2.2.1" and not c.get("not_run")]
    assert checks, written["checks"]
    for check in checks:
        assert check["status"] in ("failed", "timeout", "skipped"), check
        assert check["points"] == 0
        assert check["message"].strip(), f"{check['name']}: no explanation"
    messages = " ".join(c["message"] for c in checks).lower()
    assert any(words in messages for words in ATTACKS[name]), messages
    assert not left_running(before), "a process started by the grading outlived it"


def test_rigged_numpy_in_the_worker_cannot_rig_the_verdict(make_submission, tmp_path):
    """monkeypatch's nn.py replaces np.allclose and pytest inside its worker, then returns 42s."""
    import numpy as np

    allclose = np.allclose
    results = grade.run(make_submission(HOSTILE / "monkeypatch" / "python"), tmp_path / "out",
                        select="sigmoid")
    assert np.allclose is allclose and not np.allclose(1.0, 42.0)
    values = next(c for c in results["checks"] if c["name"].endswith("sigmoid_values"))
    assert values["status"] == "failed" and "42" in values["message"]


def test_a_silenced_repairs_log_still_pays_the_rubrics_deduction(make_submission, tmp_path, monkeypatch):
    """hides_repairs' nn.py spells np.float and replaces the worker's repair recorder: its own
    process reports no repair, the grader's reading of nn.py finds the name, and the rubric's
    deduction for numpy repairs applies all the same."""
    from graders.checks import rubric as rubric_mod
    rubrics = tmp_path / "rubrics"
    rubrics.mkdir()
    for path in rubric_mod.RUBRICS.glob("*.toml"):
        (rubrics / path.name).write_text(path.read_text())
    course = rubrics / "2022.toml"
    course.write_text(course.read_text().replace('numpy = "free"', "numpy = 1.5"))
    monkeypatch.setattr(rubric_mod, "RUBRICS", rubrics)

    results = grade.run(make_submission(HOSTILE / "hides_repairs" / "python"), tmp_path / "out", select="sigmoid")
    sigmoid = [c for c in results["checks"] if c["question"] == "Q2.2.1" and not c.get("not_run")]
    assert sigmoid and all(c["status"] == "passed" for c in sigmoid), sigmoid   # the repair ran
    assert results["repairs"]["fired"] == []                                    # and went unreported
    assert [(r["kind"], r["file"]) for r in results["repairs"]["unreported"]] == [("numpy", "nn.py")]
    assert results["repairs"]["deductions"] == {"numpy": 1.5}
    earned = sum(entry["score"] or 0 for entry in results["questions"].values())
    assert results["score"] == pytest.approx(earned - 1.5) and earned > 1.5
    assert any("did not report" in note and "np.float" in note for note in results["notes"]), results["notes"]
