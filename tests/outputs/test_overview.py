"""index.html of a batch, and `hw5grade report` re-rendering saved results."""
from __future__ import annotations

import csv
import re

from graders import cli
from graders.results import messages
from graders.outputs import overview
from graders.outputs import publish
from graders.results import document as results_doc
from results_factory import check, results, write


def shape_failure(name: str, shape: tuple, key: str) -> dict:
    return check(name, "Q2.3.1", "failed", message=f"grad_W has shape {shape}; params['{key}'] must match it")


def batch(tmp_path):
    """alice passes everything; bob and carol make the same mistake with different numbers and
    names; dave's grade.json is broken; erin's grading crashed. Returns the batch folder (the
    submissions are in its submissions/)."""
    subs = tmp_path / results_doc.SUBMISSIONS
    write(subs / "alice", results([check("test_softmax_rows", "Q2.2.2"), check("test_backwards", "Q2.3.1")]))
    write(subs / "bob", results([check("test_softmax_rows", "Q2.2.2"),
                                     shape_failure("test_backwards", (25, 2), "Wlayer1")]))
    write(subs / "carol", results([check("test_softmax_rows", "Q2.2.2", "failed", message="softmax is not implemented yet"),
                                       shape_failure("test_backwards", (64, 1024), "Woutput")]))
    write(subs / "dave", '{"score": 3, "checks": [')
    write(subs / "erin", results([], error="pytest failed: MemoryError"))
    return tmp_path


def test_normalise_groups_the_same_mistake():
    a = messages.failure_pattern("grad_W has shape (25, 2); params['Wlayer1'] must match it, 1e-3 off")
    b = messages.failure_pattern("grad_W has shape (64, 1024); params['Woutput'] must match it, 0.5 off")
    assert a == b
    assert messages.failure_pattern("softmax is not implemented yet") != a


def test_normalise_groups_one_mistake_on_every_photo_or_script():
    pages = {messages.failure_pattern(f"findLetters found {n} of the 41 characters of page_0{n}.jpg") for n in range(1, 5)}
    scripts = {messages.failure_pattern(f"run_q6_1_{n}.py did not save q6_1_{n}_model.pt") for n in range(1, 5)}
    assert len(pages) == 1 and len(scripts) == 1 and pages != scripts


def test_index_rows_links_histogram_rates_and_failures(tmp_path):
    root = batch(tmp_path)
    subs = root / results_doc.SUBMISSIONS
    for name in ("alice", "bob", "carol", "erin"):
        publish.write_outputs(subs / name)
    written = overview.write_batch(root)
    html = written["index"].read_text()
    rows = re.findall(r"<tr class=\"row-(\w+)\">\s*<td>(.*?)</td>", html, re.S)
    assert [re.sub(r"<[^>]+>", "", cell) for _, cell in rows] == ["alice", "bob", "carol", "dave", "erin"]
    for name in ("alice", "bob", "carol", "erin"):
        assert f'<a href="submissions/{name}/report.html">{name}</a>' in html
    assert 'dave/report.html"' not in html and "not readable" in html and "not valid JSON" in html
    assert "grader error: not a grade" in html and "MemoryError" in html
    # histogram: a bar per tenth; alice's 100% and the 0% of bob and carol are in the end bins
    bars = re.findall(r'<rect class="bin"[^>]*><title>(\d+) submission\(s\) scored ([^<]+)</title>', html)
    assert len(bars) == overview.HISTOGRAM_BINS
    counts = {label: int(n) for n, label in bars}
    percents = [r["score"] / r["max_score"] * 100 for r in (results_doc.load(subs / n) for n in ("alice", "bob", "carol"))]
    assert counts["90\u2013100%"] == sum(p >= 90 for p in percents)
    assert counts["0\u20139%"] == sum(p < 10 for p in percents)
    assert sum(counts.values()) == len(percents)
    # per question: Q2.2.2 was earned by two submissions of three
    q222 = re.search(r"<td[^>]*>Q2\.2\.2</td>.*?</tr>", html, re.S).group(0)
    assert f"{round(100 * 2 / 3)}%" in q222
    # the shape mistake of bob and carol is one group naming both
    group = re.search(r"<tr>\s*<td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>\s*<td><code>grad_W has shape.*?</tr>", html, re.S)
    assert group and group.group(1) == "2" and "bob, carol" in group.group(0)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html)
    assert "table.sortable" in html  # the sorting script is inlined


def test_grades_csv(tmp_path):
    root = batch(tmp_path)
    written = overview.write_batch(root)
    if "csv" not in written:
        return  # graders.outputs.gradebook not installed in this tree
    with open(written["csv"], newline="") as f:
        names = [row["submission"] for row in csv.DictReader(f)]
    assert names == ["alice", "bob", "carol", "dave", "erin"]


def test_names_choose_the_rows(tmp_path):
    root = batch(tmp_path)
    html = overview.write_batch(root, names=["bob", "nobody"])["index"].read_text()
    assert ">bob<" in html and "nobody" in html and ">alice<" not in html


def test_report_command_rerenders_a_batch_despite_a_broken_grade_json(tmp_path, capsys):
    root = batch(tmp_path)
    assert cli.main(["report", str(root)]) == 1
    out, err = capsys.readouterr()
    subs = root / results_doc.SUBMISSIONS
    for name in ("alice", "bob", "carol", "erin"):
        assert (subs / name / "report.html").is_file() and str(subs / name / "report.html") in out
    assert not (subs / "dave" / "report.html").exists()
    assert "dave" in err and "not valid JSON" in err
    assert (root / "index.html").is_file() and str(root / "index.html") in out


def test_report_command_on_one_folder_and_on_nothing(tmp_path, capsys):
    root = batch(tmp_path)
    assert cli.main(["report", str(root / results_doc.SUBMISSIONS / "alice")]) == 0
    assert (root / results_doc.SUBMISSIONS / "alice" / "report.html").is_file() and not (root / "index.html").exists()
    assert cli.main(["report", str(tmp_path / "empty")]) == 1
    assert "no grade.json" in capsys.readouterr().err
