"""hw5grade diff: who moved between two grading runs, by question and check, with both messages."""
from __future__ import annotations

import pytest

import results_factory as rf
from graders import cli
from graders.outputs import regrade_diff
from graders.results import document as results_doc


def softmax_checks(stable: str, message: str = "") -> list[dict]:
    return [rf.check("test_softmax_rows", "Q2.2.2"),
            rf.check("test_softmax_stable", "Q2.2.2", stable, message=message),
            rf.check("test_backwards_shapes", "Q2.3.1")]


@pytest.fixture
def runs(tmp_path):
    """alice: unchanged; bob: the grader fix makes his softmax check pass; carol: a grader error
    before, graded now; dan: graded before, timed out now; erin: only in the new run."""
    old = {"alice": rf.typical(failing=False),
           "bob": rf.results(softmax_checks("failed", "softmax returned NaN for large inputs")),
           "carol": rf.results([], error="the grader failed on test_softmax_rows", error_cause="grader"),
           "dan": rf.results(softmax_checks("passed"))}
    new = {"alice": rf.typical(failing=False),
           "bob": rf.results(softmax_checks("passed")),
           "carol": rf.results(softmax_checks("passed")),
           "dan": rf.results([], error="grading took longer than 600 s", error_cause="timeout"),
           "erin": rf.results(softmax_checks("passed"))}
    for folder, docs in (("old", old), ("new", new)):
        for name, doc in docs.items():
            rf.write(tmp_path / folder / results_doc.SUBMISSIONS / name, doc)
    return tmp_path / "old", tmp_path / "new", old, new


def test_lists_who_moved_with_the_question_and_check_and_both_messages(runs):
    old_dir, new_dir, old, new = runs
    moves = {m.name: m for m in regrade_diff.diff_dirs(old_dir, new_dir)}
    assert sorted(moves) == ["bob", "carol", "dan", "erin"]          # alice did not move
    bob = moves["bob"]
    assert bob.old_score == pytest.approx(old["bob"]["score"]) and bob.new_score == pytest.approx(new["bob"]["score"])
    assert bob.delta > 0
    (q,) = bob.questions
    assert q.qid == "Q2.2.2" and q.old_score == pytest.approx(old["bob"]["questions"]["Q2.2.2"]["score"])
    (c,) = q.checks
    assert (c.name, c.old_status, c.new_status) == ("test_softmax_stable", "failed", "passed")
    assert c.old_message == "softmax returned NaN for large inputs" and c.new_message == ""
    assert moves["carol"].old_score is None and "the grader failed" in moves["carol"].old_state
    assert moves["carol"].new_state == "graded" and moves["carol"].questions == []
    assert moves["dan"].new_score is None and "longer than 600 s" in moves["dan"].new_state
    assert moves["erin"].old_state == "only in the new run"


def test_a_rubric_change_is_named_when_no_check_moved():
    checks = softmax_checks("passed")
    old = rf.results([dict(c) for c in checks])
    new = rf.results([dict(c) for c in checks])
    new["questions"]["Q2.2.2"].update(score=6.0, max_score=6.0)
    new["score"] += 6.0 - old["questions"]["Q2.2.2"]["score"]
    (m,) = regrade_diff.diff([("x", old, "")], [("x", new, "")])
    (q,) = m.questions
    assert q.checks == [] and "rubric's points for Q2.2.2 changed" in q.why


def test_cli_prints_the_summary(runs, capsys):
    old_dir, new_dir, old, new = runs
    assert cli.main(["diff", str(old_dir), str(new_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("4 student(s) moved of 5:")
    assert "  bob: " in out and "    Q2.2.2 " in out and "      test_softmax_stable: failed -> passed" in out
    assert "        old: softmax returned NaN for large inputs" in out and "        new: (no message)" in out
    assert "alice" not in out


def test_cli_refuses_a_folder_that_is_no_batch(tmp_path, runs, capsys):
    _, new_dir, _, _ = runs
    assert cli.main(["diff", str(tmp_path / "nowhere"), str(new_dir)]) == 2
    assert "not a batch folder" in capsys.readouterr().err


def test_student_text_cannot_fake_lines_of_the_summary():
    bad = "x\n  mallory: 0 -> 100 (+100)\x1b[2J"
    old = rf.results(softmax_checks("failed", bad))
    new = rf.results(softmax_checks("passed"))
    text = regrade_diff.format_moves(regrade_diff.diff([("bob", old, "")], [("bob", new, "")]))
    assert "\x1b" not in text and "\n  mallory" not in text


def verdict_job(sub, out_root, options, grading, force=False):
    """A batch job that grades by the submission's verdict.txt ("passed" or "failed") in no time."""
    from graders.staff import batch
    status = (sub.path / "verdict.txt").read_text().strip()
    doc = rf.results(softmax_checks(status, "" if status == "passed" else "softmax returned NaN"))
    out = batch.submission_out(out_root, sub.name)
    rf.write(out, doc)
    return batch.summarize(sub.name, doc, "graded")


def test_the_batch_prints_who_moved_when_it_regrades(tmp_path):
    from graders.staff import batch
    subs = tmp_path / "subs"
    for name, verdict in (("alice", "passed"), ("bob", "failed")):
        (subs / name / "python").mkdir(parents=True)
        (subs / name / "python" / "nn.py").write_text("# nothing\n")
        (subs / name / "verdict.txt").write_text(verdict)
    (tmp_path / "data").mkdir()

    def run():
        runner = batch.Batch(tmp_path / "out", batch.Options(data_dir=str(tmp_path / "data")), progress=False)
        runner.job = verdict_job
        return runner.run(subs, jobs=1)

    first = run()
    assert first["regrade"] == ""                      # nothing was graded before
    (subs / "bob" / "verdict.txt").write_text("passed")
    second = run()
    text = batch.format_summary(second)
    assert second["regrade"].startswith("1 student(s) moved of 2:")
    assert "  regraded: 1 student(s) moved of 2:" in text
    assert "    bob: " in text and "test_softmax_stable: failed -> passed" in text and "alice" not in second["regrade"]
