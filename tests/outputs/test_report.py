"""report.html: what a student or TA reads must be right, complete, honest and self-contained."""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

from graders.pipeline import grade
from graders.outputs import publish
from graders.outputs import report
from graders.results import document as results_doc
from results_factory import check, results, typical, write

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
ALL_PASSED = re.compile(r"all (?:the )?(?:tests|checks) (?:have )?passed|every one of the \d+ checks passed", re.I)


def png(size: int = 32, pad_to: int = 0) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
    data = buf.getvalue()
    return data + b"\0" * max(0, pad_to - len(data))  # PNG readers ignore bytes after IEND


def render(tmp_path, doc) -> str:
    write(tmp_path, doc)
    publish.write_outputs(tmp_path)
    return (tmp_path / "report.html").read_text()


def total_in_header(html: str) -> list[str]:
    return re.sub(r"<[^>]+>|\s+", " ", re.search(r'<div class="total">(.*?)</div>', html, re.S).group(1)).split()


def test_total_every_question_and_every_status(tmp_path):
    doc = typical("public")
    html = render(tmp_path, doc)
    assert total_in_header(html)[:3] == [report.fmt_number(doc["score"]), "/", report.fmt_number(doc["max_score"])]
    for qid, entry in doc["questions"].items():
        assert f">{qid}<" in html or f">{qid} &middot;" in html, qid
        if entry["kind"] == "hand":
            assert entry["title"] in html
    assert "graded by hand" in html and "not graded by this version" in html
    for label in ("passed", "failed", "error", "timed out", "skipped", "hidden: not run"):
        assert f"</span> {label}</span>" in html, label
    # the failure's full story: message, expected, actual, hint, and the error's traceback
    for text in ("softmax returned NaN for large inputs", "finite values", "subtract the row maximum first",
                 "ValueError: shapes", "run_q3.py ran out of time"):
        assert text in html


def test_failed_checks_open_passed_closed(tmp_path):
    html = render(tmp_path, typical())
    opened = re.findall(r'<details class="check (\w+)"( open)?>', html)
    assert opened and all((css == "bad") == bool(is_open) for css, is_open in opened)


def test_public_run_with_hidden_checks_is_never_called_final(tmp_path):
    doc = typical("public", failing=False)
    html = render(tmp_path, doc)
    hidden = sum(c["status"] == "hidden-not-run" for c in doc["checks"])
    assert hidden and f"{hidden} hidden check(s) were not run" in html
    assert "score is not final" in html and "Not final" in html
    assert not ALL_PASSED.search(html)


def test_every_check_passed_is_said_only_without_hidden_checks(tmp_path):
    html = render(tmp_path, typical("all", failing=False))
    assert ALL_PASSED.search(html)
    assert "Not final" not in html


def test_pictures_are_embedded_as_data_uris_and_nothing_is_fetched(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "run_q3_1.png").write_bytes(png())
    (tmp_path / "figures" / "overlay.png").write_bytes(png(48))
    (tmp_path / "figures" / "huge.png").write_bytes(png(pad_to=int(report.MAX_IMAGE_BYTES * 1.1)))
    (tmp_path.parent / "secret.png").write_bytes(png())
    doc = results([check("test_q3_plots_shown", "Q3.1", data={
        "figures": ["figures/run_q3_1.png", "figures/gone.png", "figures/huge.png", "../secret.png"],
        "images": [{"path": "figures/overlay.png", "caption": "boxes over page_01.jpg"}],
        "overlays": ["figures/overlay.png"] * (report.MAX_IMAGES_PER_CHECK + 2)})])
    html = render(tmp_path, doc)
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == report.MAX_IMAGES_PER_CHECK - 3  # the missing, huge and outside ones are notes
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "boxes over page_01.jpg" in html
    assert "figures/gone.png is missing" in html
    assert "over the report&#39;s 1.5 MB cap" in html
    assert "outside the results folder" in html
    assert "more picture(s) not shown" in html
    assert not EXTERNAL.search(html)
    assert "default-src 'none'" in html  # the browser itself refuses any fetch


def test_a_huge_output_is_cut_and_the_page_stays_small(tmp_path):
    message = "\n".join(f"epoch {i}: loss {i * 0.5}" for i in range(10_000))
    frames = "".join(f'  File "nn.py", line {i}, in recurse\n    return recurse(x)\n' for i in range(50_000))
    traceback = "Traceback (most recent call last):\n" + frames + "RecursionError: maximum recursion depth\n"
    doc = results([check("test_forward", "Q2.2.1", "error", message=message, traceback=traceback,
                         hint="x" * 2_000_000)])
    html = render(tmp_path, doc)
    size = (tmp_path / "report.html").stat().st_size
    assert size < 3_000_000, size
    assert re.search(r"\.\.\. 99\d\d lines cut \.\.\.", html)            # the message
    assert re.search(r"\.\.\. 99\d{3} lines cut \.\.\.", html)           # the traceback: 100,002 lines
    assert "characters cut" in html                                      # one line of 2 MB
    assert "epoch 0: loss 0" in html and "epoch 9999: loss" in html      # head and tail stay
    assert "epoch 5000: loss" not in html
    assert "RecursionError: maximum recursion depth" in html             # the cause is at the end


def test_confusion_matrix_and_text_read_are_tables(tmp_path):
    labels = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    matrix = (np.eye(36, dtype=int) * 40 + np.random.default_rng(1).integers(0, 3, (36, 36))).tolist()
    doc = results([
        check("test_q3_validation_accuracy", "Q3.1", data={
            "validation_accuracy": 0.79, "confusion_matrix": matrix, "confusion_labels": labels,
            "most_confused": [["O", "0", 34]]}),
        check("test_run_q4_text[page_01.jpg]", "Q4.4", data={
            "character_accuracy": 0.9, "lines": [["GROCERY LIST", "GR0CERY LIST", 1], ["4 RUN", "4 RUN", 0]]})])
    html = render(tmp_path, doc)
    table = re.search(r'<table class="cm">(.*?)</table>', html, re.S).group(1)
    assert len(re.findall(r"<td ", table)) == 36 * 36
    assert len(re.findall(r'<td class="diag', table)) == 36
    assert 'title="true A, read as A: ' in table
    assert "O read as 0 (34)" in html
    # the misread O is marked on both sides; the right line is not marked at all
    assert 'GR<span class="diff truth">O</span>CERY LIST' in html
    assert 'GR<span class="diff">0</span>CERY LIST' in html
    assert "<td>4 RUN</td>" in html


def test_a_grader_crash_and_missing_pieces_still_render(tmp_path):
    doc = grade.crashed_results("2022", "pytest failed: RuntimeError: boom", "/sub", "all", False)
    html = render(tmp_path, doc)
    assert "The grader failed" in html and "RuntimeError: boom" in html
    assert not ALL_PASSED.search(html)
    # a bare document with almost nothing in it
    html = report.render_report({"checks": [{"status": "weird"}], "questions": {}}, tmp_path)
    assert "Grading report" in html


def test_isolation_none_is_a_visible_warning(tmp_path):
    doc = typical()
    doc["isolation"] = "none"
    assert "Isolation: none." in render(tmp_path, doc)


def test_student_text_is_escaped(tmp_path):
    doc = results([check("test_softmax_rows", "Q2.2.2", "failed", message="<script>alert(1)</script>",
                         data={"figures": ['"><img src=x onerror=alert(1)>']})])
    html = render(tmp_path, doc)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<img src=x" not in html


def test_write_outputs_returns_what_it_wrote(tmp_path):
    write(tmp_path, typical())
    written = publish.write_outputs(tmp_path)
    assert written["report"] == tmp_path / "report.html" and written["report"].stat().st_size > 0
    assert json.loads(written["results"].read_text())["tests"]


def test_a_broken_grade_json_is_a_clear_error(tmp_path):
    write(tmp_path, '{"score": ')
    with pytest.raises(results_doc.ResultsError, match="not valid JSON"):
        publish.write_outputs(tmp_path)
    write(tmp_path, "[1, 2]")
    with pytest.raises(results_doc.ResultsError, match="not a results document"):
        publish.write_outputs(tmp_path)


def test_a_submission_that_cannot_be_read_is_told_to_fix_it_not_that_the_grader_failed(tmp_path):
    unreadable = grade.crashed_results("2022", "alice.zip is not a readable zip archive", "/subs/alice.zip",
                                       "all", False, cause=results_doc.SUBMISSION)
    write(tmp_path / "alice", unreadable)
    written = publish.write_outputs(tmp_path / "alice")
    html = written["report"].read_text()
    assert "This submission could not be graded" in html and "not a readable zip" in html
    assert "not your fault" not in html
    assert json.loads(written["results"].read_text())["output"].startswith("Your submission could not be graded")
    # the harness's own failure still says it is not the student's
    write(tmp_path / "bob", grade.crashed_results("2022", "pytest failed: boom", "/subs/bob", "all", False))
    assert "not your fault" in publish.write_outputs(tmp_path / "bob")["report"].read_text()


def test_a_failed_check_links_to_how_to_debug_it(tmp_path):
    """Each failed check with an entry in graders/debug_pages links to it; the entry (what the
    check does, what to try, the usual causes) is shown once, and none for passed checks."""
    from graders.outputs import debugging
    doc = results([check("test_softmax_large_inputs", "Q2.2.2", "failed", message="softmax returned NaN"),
                   check("test_softmax_rows_sum_to_one", "Q2.2.2"),
                   check("test_find_letters_recall[page_01.jpg]", "Q4.2", "failed", message="few boxes"),
                   check("test_find_letters_recall[page_02.jpg]", "Q4.2", "failed", message="few boxes"),
                   check("test_a_check_with_no_entry[q6_1_1]", "Q6.1.1", "failed", message="no figure")])
    html = render(tmp_path, doc)
    assert html.count('href="#debug-test_softmax_large_inputs"') == 1
    assert html.count('id="debug-test_softmax_large_inputs"') == 1
    assert "subtract each row&#39;s maximum first" in html or "subtract each row's maximum first" in html
    assert 'id="debug-test_softmax_rows_sum_to_one"' not in html            # it passed
    # one entry for a check's cases (two photos); a check with no entry has no link
    assert html.count('id="debug-test_find_letters_recall"') == 1 and html.count('href="#debug-test_find_letters_recall"') == 2
    assert debugging.entry("test_a_check_with_no_entry[q6_1_1]") is None and "#debug-test_a_check" not in html
    for entry in debugging.entries().values():
        assert entry["does"].strip() and entry["causes"], entry


def test_every_check_has_a_debug_entry():
    import re as re_
    from pathlib import Path
    from graders.outputs import debugging
    suites = sorted((Path(report.__file__).parents[1] / "suites").glob("*.py"))
    assert len(suites) >= 9
    for path in suites:
        names = set(re_.findall(r"^def (test_\w+)", path.read_text(), re_.M))
        assert names <= set(debugging.entries()), (path.name, names - set(debugging.entries()))
