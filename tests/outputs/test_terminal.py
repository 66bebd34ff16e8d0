"""The terminal summary (graders.outputs.terminal): short by default, whole with -v, safe to print."""
from __future__ import annotations

import results_factory as rf
from graders.outputs import terminal

TORCH = "torch and torchvision are not installed where the grader runs: `tox -e pytorch` grades them"


def stub_like() -> dict:
    """A submission with nothing done on Q2.2.2 (five checks, one reason), half of Q2.2.3 done,
    the PyTorch questions skipped for a missing torch, and the advice all passed."""
    checks = [rf.check(f"test_softmax_{i}", "Q2.2.2", "failed", message=f"softmax in nn.py is not implemented "
                       f"yet (it returned None)\nsecond line {i}", hint="fill in the part marked 'your code here'")
              for i in range(5)]
    checks += [rf.check("test_loss_sum", "Q2.2.3"),
               rf.check("test_acc_fraction", "Q2.2.3", "failed", message="acc is 3.0, not a fraction\nmore",
                        expected="0.75", actual="3.0", hint="divide by the number of examples"),
               rf.check("test_loss_log", "Q2.2.3", "failed", message="the loss used log10")]
    checks += [rf.check(f"test_q6_{q[-1]}_{i}", q, "skipped", message=TORCH)
               for q in ("Q6.1.1", "Q6.1.2", "Q6.1.3") for i in range(3)]
    checks.append(rf.check("test_no_removed_library_names", "Static"))
    return rf.results(checks, visibility="public", notes=["student: files taken from python/"])


def test_a_question_with_nothing_passed_is_one_line_with_its_first_reason():
    out = terminal.format_table(stub_like(), verbose=False, width=200)
    (line,) = [t for t in out.splitlines() if t.startswith("Q2.2.2")]
    assert "x softmax in nn.py is not implemented yet (it returned None) (+4 more)" in line
    assert "second line" not in out and "fill in the part" not in out


def test_a_partly_done_question_lists_each_failed_check_in_one_line():
    lines = terminal.format_table(stub_like(), verbose=False, width=200).splitlines()
    at = next(i for i, t in enumerate(lines) if t.startswith("Q2.2.3"))
    assert "(1/3 checks)" in lines[at]
    assert lines[at + 1].startswith("  x ") and lines[at + 1].endswith(": acc is 3.0, not a fraction")
    assert lines[at + 2].startswith("  x ") and lines[at + 2].endswith(": the loss used log10")
    assert "divide by the number" not in "\n".join(lines) and "expected" not in "\n".join(lines)


def test_questions_not_run_for_one_reason_share_one_line():
    lines = terminal.format_table(stub_like(), verbose=False, width=300).splitlines()
    torch = [t for t in lines if TORCH in t]
    assert len(torch) == 1 and torch[0].startswith("Q6.1.1, Q6.1.2, Q6.1.3") and "not run" in torch[0]
    assert not any(t.startswith("Static") for t in lines)          # advice all passed: nothing to say
    assert sum(t.startswith("TOTAL") for t in lines) == 1


def test_lines_fit_the_width_and_verbose_prints_everything():
    doc = stub_like()
    short = terminal.format_table(doc, verbose=False, width=60)
    assert all(len(t) <= 60 for t in short.splitlines()), short
    assert short.splitlines()[-1] == "whole messages and hints: the report, or -v"
    full = terminal.format_table(doc, verbose=True)
    assert "hint: divide by the number of examples" in full and "second line 4" in full
    assert full.count(TORCH) == 9 and len(full.splitlines()) > len(short.splitlines())


def test_colour_only_where_asked_and_never_from_student_text(monkeypatch):
    doc = stub_like()
    doc["checks"][6]["message"] = "\x1b[2J TOTAL 40/40"
    plain = terminal.format_table(doc, verbose=False, width=200)
    assert "\x1b" not in plain and "\\x1b[2J" in plain
    painted = terminal.format_table(doc, verbose=False, width=200, colour=True)
    assert terminal.RED in painted and painted.count("\x1b[2J") == 0

    class Tty:
        @staticmethod
        def isatty():
            return True
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert terminal.colour_wanted(Tty)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not terminal.colour_wanted(Tty)


def test_progress_is_one_line_rewritten_then_cleared():
    import io
    stream = io.StringIO()
    progress = terminal.Progress(stream, width=40)
    for i in range(8):
        progress.update(f"Q2.{i}", 5, 5)
    writes = stream.getvalue().split("\r\x1b[K")
    assert all(len(w) <= 40 for w in writes) and writes[-1].endswith("Q2.7 5/5")
    progress.finish()
    assert stream.getvalue().endswith("\r\x1b[K") and "\n" not in stream.getvalue()


def test_each_question_is_told_as_its_last_check_reports_quick_ones_first(tmp_path):
    """In-process grading calls plugin.PROGRESS once per question, when its checks are all in;
    the quick checks run before the training ones."""
    from conftest import build_submission
    from graders.pipeline import grade
    from graders.checks import plugin
    told = []
    plugin.PROGRESS = lambda q, passed, run: told.append((q, passed, run))
    try:
        grade.run(build_submission(tmp_path / "alice"), tmp_path / "out",
                  select="q3_weights_saved or softmax or (find_letters_bw_format and page_01)")
    finally:
        plugin.PROGRESS = None
    # Q4.2's quick check is collected after Q3.1's training one, and reports before it
    assert [q for q, _, _ in told] == ["Q2.2.2", "Q4.2", "Q3.1"], told
    assert told[:2] == [("Q2.2.2", 5, 5), ("Q4.2", 1, 1)]


def test_progress_comes_from_xdist_workers_too(tmp_path):
    from conftest import build_submission
    from graders.pipeline import grade
    from graders.checks import plugin
    told = []
    plugin.PROGRESS = lambda q, passed, run: told.append((q, passed, run))
    try:
        results = grade.run(build_submission(tmp_path / "alice"), tmp_path / "out", jobs=2, select="softmax or init_")
    finally:
        plugin.PROGRESS = None
    assert sorted(told) == [("Q2.1.2", 5, 5), ("Q2.2.2", 5, 5)], told
    assert not any("checks_in_question" in c for c in results["checks"])
