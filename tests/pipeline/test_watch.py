"""`hw5grade watch` (graders.pipeline.watch): a saved file regrades the checks that read it, and the
summary says what the change fixed or broke."""
from __future__ import annotations

import threading
import time

from conftest import build_submission
from graders.pipeline import watch

BROKEN_SOFTMAX = '''

def softmax(x):
    return np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)     # no shift: overflows on large rows
'''


def test_the_files_changed_choose_the_suites_that_read_them():
    assert watch.selection({"nn.py"}) == "q2_network or static_checks"
    assert watch.selection({"q4.py", "run_q4.py"}) == "q4_letters or static_checks"
    assert watch.selection({"nn.py", "helpers.py"}) is None          # a file no suite is known to read


def test_a_saved_mistake_is_reported_broken_then_fixed(tmp_path):
    python = build_submission(tmp_path / "alice")
    good = (python / "nn.py").read_text()
    printed = []

    def saves():
        (python / "nn.py").write_text(good + BROKEN_SOFTMAX)
        yield {"nn.py"}
        (python / "nn.py").write_text(good)
        yield {"nn.py"}

    latest = watch.watch(python.parent, tmp_path / "out", changed_files=saves(), emit=printed.append)
    first, broke, fixed = printed
    assert "every quick check" in first and "newly broken" not in first
    assert "nn.py changed" in broke and "newly broken: softmax of inputs in the thousands" in broke
    assert "Q2.2.2" in broke and "Q4.2" not in broke                  # only the suites that read nn.py ran
    assert "fixed: softmax of inputs in the thousands" in fixed and "newly broken" not in fixed
    assert all(c["status"] == "passed" for c in latest.values() if c["question"] == "Q2.2.2")


def test_watchfiles_sees_a_save(tmp_path):
    """The real watcher: a file written after the first grade starts a regrade of its suites."""
    python = build_submission(tmp_path / "bob")
    printed = []

    def save_later():
        while not printed:               # after the first grade, while watchfiles waits
            time.sleep(0.2)
        # saved again until the watcher has answered: its start may come after any one save
        source = (python / "q4.py").read_text()
        for i in range(120):
            if len(printed) > 1:
                return
            (python / "q4.py").write_text(source + f"\n# tidied {i}\n")
            time.sleep(1.0)

    threading.Thread(target=save_later, daemon=True).start()
    watch.watch(python.parent, tmp_path / "out", runs=1, emit=printed.append)
    assert len(printed) == 2 and "q4.py changed" in printed[1] and "no check changed" in printed[1], printed[1]
