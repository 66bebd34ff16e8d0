"""hw5grade similarity: disguised copies are flagged, independent work and untouched stubs are not;
staff-only pages, linked from the overview and from nowhere a student sees."""
from __future__ import annotations

import ast
import builtins
import json
import re
import textwrap
from pathlib import Path

import pytest

import results_factory as rf
from graders import cli
from graders.outputs import publish
from graders.results import document as results_doc
from graders.staff import similarity

pytest.importorskip("copydetect", reason=f"similarity needs copydetect: {similarity.INSTALL}")

REPO = Path(__file__).resolve().parents[2]
STUB = (REPO / "student" / "python" / "nn.py").read_text()
REFERENCE = (REPO / "reference" / "python" / "nn.py").read_text()
BANNER = re.compile(r"^([ \t]*)#{26}\n\1##### your code here #####\n\1#{26}\n", re.M)


def fill(bodies: list[str]) -> str:
    """The stub nn.py with its seven 'your code here' banners replaced by `bodies`, in order."""
    parts = iter(bodies)
    text = BANNER.sub(lambda m: textwrap.indent(textwrap.dedent(next(parts)).strip() + "\n", m.group(1)), STUB)
    assert next(parts, None) is None
    return text


# Three students who wrote nn.py on their own, each in their own way and each with a mistake.
ANA = fill([  # softmax without the shift, mean loss
    """
    limit = (6 / (in_size + out_size)) ** 0.5
    W = limit * (2 * np.random.rand(in_size, out_size) - 1)
    b = np.zeros(out_size)
    """,
    "res = 0.5 * (1 + np.tanh(0.5 * x))",
    """
    pre_act = np.dot(X, W) + b
    post_act = activation(pre_act)
    """,
    """
    exps = np.exp(x)
    res = exps / exps.sum(axis=1)[:, None]
    """,
    """
    n = y.shape[0]
    loss = -np.log(probs[np.arange(n), y.argmax(1)]).mean()
    acc = float(np.count_nonzero(probs.argmax(1) == y.argmax(1))) / n
    """,
    """
    g = activation_deriv(post_act) * delta
    grad_W = np.dot(X.transpose(), g)
    grad_b = g.sum(0)
    grad_X = np.dot(g, W.transpose())
    """,
    """
    perm = np.random.permutation(len(x))
    pieces = max(1, len(x) // batch_size)
    batches = [(x[chunk], y[chunk]) for chunk in np.array_split(perm, pieces)]
    """])
BEN = fill([  # the derivative taken at the pre-activation, a 2-D bias gradient
    """
    r = np.sqrt(6) / np.sqrt(in_size + out_size)
    W = np.random.uniform(low=-r, high=r, size=(in_size, out_size))
    b = np.zeros((out_size,))
    """,
    """
    small = np.exp(-np.abs(x))
    res = np.where(x >= 0, 1 / (1 + small), small / (1 + small))
    """,
    """
    pre_act = X @ W
    pre_act += b[np.newaxis, :]
    post_act = activation(pre_act)
    """,
    """
    res = np.zeros_like(x, dtype=float)
    for row in range(x.shape[0]):
        z = x[row] - x[row].max()
        res[row] = np.exp(z) / np.sum(np.exp(z))
    """,
    """
    total, right = 0.0, 0
    for i in range(len(y)):
        k = np.argmax(y[i])
        total -= np.log(probs[i, k])
        right += int(np.argmax(probs[i]) == k)
    loss, acc = total, right / len(y)
    """,
    """
    local = delta * activation_deriv(pre_act)
    grad_W = np.einsum('ni,nj->ij', X, local)
    grad_b = local.sum(axis=0, keepdims=True)
    grad_X = np.einsum('nj,ij->ni', local, W)
    """,
    """
    order = list(range(x.shape[0]))
    np.random.shuffle(order)
    while order:
        take, order = order[:batch_size], order[batch_size:]
        batches.append((x[take], y[take]))
    """])
CAL = fill([  # weights from a normal distribution, batches never shuffled
    """
    std = np.sqrt(2.0 / (in_size + out_size))
    W = std * np.random.randn(in_size, out_size)
    b = np.zeros(out_size)
    """,
    "res = np.reciprocal(1.0 + np.exp(-x))",
    """
    pre_act = np.matmul(X, W) + b.reshape(1, -1)
    post_act = activation(pre_act)
    """,
    """
    m = np.amax(x, axis=-1, keepdims=True)
    logits = np.exp(x - m)
    res = logits / np.sum(logits, axis=-1, keepdims=True)
    """,
    """
    loss = float(-(y * np.log(probs)).sum())
    guesses, truth = np.argmax(probs, axis=-1), np.argmax(y, axis=-1)
    acc = np.mean(guesses == truth)
    """,
    """
    slope = activation_deriv(post_act)
    d_act = np.multiply(delta, slope)
    grad_W = np.matmul(X.T, d_act)
    grad_b = d_act.sum(axis=0)
    grad_X = np.matmul(d_act, W.T)
    """,
    """
    for lo in range(0, len(x), batch_size):
        batches.append((x[lo:lo + batch_size], y[lo:lo + batch_size]))
    """])


def disguise(source: str) -> str:
    """What a student does to hide a copy: functions in reverse order, every local name and
    argument renamed, comments and docstrings gone, the code reformatted (ast.unparse)."""
    tree = ast.parse(source)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    tree.body = [n for n in tree.body if not isinstance(n, ast.FunctionDef)] + functions[::-1]
    keep = set(dir(builtins)) | {"np"} | {f.name for f in functions}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in keep:
            node.id = f"my_{node.id.lower()}"
        elif isinstance(node, ast.arg) and node.arg not in keep:
            node.arg = f"my_{node.arg.lower()}"
        elif isinstance(node, ast.FunctionDef) and ast.get_docstring(node):
            node.body = node.body[1:]
    return ast.unparse(tree)


CLASS = {"orig": REFERENCE, "copycat": disguise(REFERENCE),          # a copy of the reference-derived original
         "ana": ANA, "ana_copy": disguise(ANA),                          # a copy of a wrong one
         "ben": BEN, "cal": CAL, "stub_1": STUB, "stub_2": STUB}         # independent work; untouched stubs


@pytest.fixture(scope="module")
def base():
    return similarity.boilerplate("2022")


def test_disguised_copies_are_flagged_and_independent_work_and_stubs_are_not(base):
    assert "my_" in CLASS["copycat"] and CLASS["copycat"].index("def get_random_batches") < CLASS["copycat"].index("def initialize_weights")
    pairs = similarity.compare({who: {"nn.py": code} for who, code in CLASS.items()}, base)
    assert [(p.a, p.b) for p in pairs] == [("copycat", "orig"), ("ana", "ana_copy")] or \
        sorted((p.a, p.b) for p in pairs) == [("ana", "ana_copy"), ("copycat", "orig")], \
        [(p.a, p.b, round(p.score, 2)) for p in pairs]
    everything = {(p.a, p.b): p for p in similarity.compare({w: {"nn.py": c} for w, c in CLASS.items()}, base, 0.0)}
    for (a, b), p in everything.items():
        if {a, b} not in ({"copycat", "orig"}, {"ana", "ana_copy"}):
            assert p.score < similarity.THRESHOLD, (a, b, p.shares)
    # untouched stubs have nothing of their own to compare: no pair at all, even at threshold 0
    assert not any("stub_1" in key and "stub_2" in key for key in everything)


def test_the_scores_are_the_same_in_every_process():
    """copydetect hashes with Python's salted hash(): two gradings of one class once disagreed
    on whether a pair reached the threshold."""
    import os
    import subprocess
    import sys
    script = ("import sys; sys.path[:0] = ['tests', 'tests/staff']; import test_similarity as t; from graders.staff import similarity; "
              "print([(p.a, p.b, round(p.score, 9)) for p in similarity.compare("
              "{w: {'nn.py': c} for w, c in t.CLASS.items()}, similarity.boilerplate(), 0.0)])")
    root = Path(__file__).resolve().parents[2]
    runs = {subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(runs) == 1 and "copycat" in runs.pop()


def test_files_are_compared_with_the_same_file_only(base):
    codes = {"x": {"nn.py": ANA, "q4.py": BEN}, "y": {"nn.py": BEN, "q4.py": CAL}}
    assert similarity.compare(codes, base) == []                    # BEN in x's q4.py is not y's nn.py
    codes["y"]["q4.py"] = disguise(BEN)
    (pair,) = similarity.compare(codes, base, threshold=0.3)
    q4 = next(f for f in pair.files if f.file == "q4.py")
    assert min(q4.shares) > similarity.THRESHOLD and "<mark>" in q4.html[0] and "<mark>" in q4.html[1]


def test_a_files_code_on_the_pair_page_is_escaped_with_or_without_shared_regions():
    """copydetect hands back code with no shared region unescaped; the page must never get markup."""
    import numpy as np
    code = "x = 1  # </code><script>alert(1)</script>\ny = x < 2 and x > 0\n"
    for slices in (np.array([]), np.array([[0], [5]]), np.array([[], []])):   # np.array([]): no overlap
        page = similarity.marked(code, slices)
        assert "<script>" not in page and "&lt;script&gt;" in page and "x &lt; 2" in page
    assert similarity.marked(code, np.array([[0], [5]])).startswith("<mark>x = 1</mark>")


@pytest.fixture
def batch(tmp_path):
    """A graded batch whose grade.json documents name where each submission's code is."""
    grades = tmp_path / "grades"
    for who, code in CLASS.items():
        folder = tmp_path / "subs" / who / "python"
        folder.mkdir(parents=True)
        (folder / "nn.py").write_text(code)
        rf.write(grades / results_doc.SUBMISSIONS / who, {**rf.typical(), "submission": str(folder.parent)})
    rf.write(grades / results_doc.SUBMISSIONS / "gone", {**rf.typical(), "submission": str(tmp_path / "subs" / "gone")})
    return grades


def test_the_command_writes_staff_pages_linked_from_the_overview_only(batch, capsys):
    for name in ("orig", "ana"):
        publish.write_outputs(batch / results_doc.SUBMISSIONS / name)
    before = {p: p.read_bytes() for p in (batch / results_doc.SUBMISSIONS).rglob("*") if p.is_file()}
    assert cli.main(["similarity", str(batch)]) == 0
    printed = capsys.readouterr().out
    assert "2 pair(s) of 8 submissions" in printed and "copycat / orig" in printed and "gone" in printed
    summary = json.loads((batch / similarity.FOLDER / "pairs.json").read_text())
    assert sorted((p["a"], p["b"]) for p in summary["pairs"]) == [("ana", "ana_copy"), ("copycat", "orig")]
    assert summary["not_compared"] == ["gone"]
    page = (batch / summary["pairs"][0]["href"]).read_text()
    assert "Evidence for a person to weigh, not a verdict" in page and page.count("<mark>") >= 2
    assert "staff only" in page
    index = (batch / "index.html").read_text()
    section = re.search(r'<section class="card" id="similarity">(.*?)</section>', index, re.S).group(1)
    for p in summary["pairs"]:
        assert f'<a href="{p["href"]}">{p["a"]} / {p["b"]}</a>' in section
    assert "not a verdict" in section and "gone" in section
    # nothing a student sees changed: their folders (report.html, results.json, grade.json) are as they were
    after = {p: p.read_bytes() for p in (batch / results_doc.SUBMISSIONS).rglob("*") if p.is_file()}
    assert after == before
    assert not any("similar" in p.read_text(errors="replace").lower() for p in after if p.suffix in (".html", ".json"))


def test_the_overview_has_no_similarity_section_until_it_is_run(batch):
    from graders.outputs import overview
    html = overview.write_batch(batch)["index"].read_text()
    assert 'id="similarity"' not in html


def test_without_copydetect_the_command_says_how_to_get_it(batch, monkeypatch, capsys):
    def missing():
        raise similarity.SimilarityUnavailable(f"copydetect is not installed: {similarity.INSTALL}")
    monkeypatch.setattr(similarity, "_copydetect", missing)
    assert cli.main(["similarity", str(batch)]) == 2
    assert "pip install 'hw5grade[similarity]'" in capsys.readouterr().err


def test_overview_sections_and_pair_page_in_a_real_browser(batch, tmp_path):
    """The similarity and item-analysis sections of the overview as a TA sees them in chromium:
    the ranked pairs link to their side-by-side page, whose shared regions are highlighted."""
    from test_report_browser import CHROMIUM, CHROMIUM_ARGS, open_page, unavailable
    if not CHROMIUM.exists():
        unavailable(f"no {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    assert cli.main(["similarity", str(batch)]) == 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page, requests = open_page(browser, batch / "index.html")
            section = page.locator("#similarity")
            assert section.is_visible() and "not a verdict" in section.inner_text()
            rows = page.locator("#similar-pairs tbody tr")
            assert rows.count() == 2
            items = page.locator("#items tbody tr")
            assert items.count() > 0 and page.locator("#item-analysis").is_visible()
            assert "test_softmax_stable" in page.locator("#items").inner_text()
            page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
            page.locator('#similar-pairs a[href*="copycat"]').click()
            page.wait_for_load_state("load")
            assert page.url.endswith("similarity/copycat--orig.html")
            marks = page.locator("mark")
            assert marks.count() >= 2 and marks.first.is_visible()
            assert "Evidence for a person to weigh, not a verdict" in page.inner_text("body")
            assert all(url.startswith(("file:", "data:")) for url in requests), requests
            page.close()
        finally:
            browser.close()


def test_a_notebook_is_compared_by_the_code_it_contributes(tmp_path, base):
    """A notebook is read as the grader reads it (graders.pipeline.ingest): its nn.py against a folder's."""
    import nbformat
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# HW5\nMy answers."),
        nbformat.v4.new_code_cell("%%writefile nn.py\n" + disguise(BEN)),
        nbformat.v4.new_code_cell("print('training...')")])
    path = tmp_path / "nora.ipynb"
    nbformat.write(notebook, str(path))
    folder = tmp_path / "ben" / "python"
    folder.mkdir(parents=True)
    (folder / "nn.py").write_text(BEN)
    codes = {"nora": similarity.submission_code({"submission": str(path)}),
             "ben": similarity.submission_code({"submission": str(folder.parent)}),
             "cal": {"nn.py": CAL}}
    assert set(codes["nora"]) == {"nn.py"}
    (pair,) = similarity.compare(codes, base)
    assert (pair.a, pair.b) == ("ben", "nora") and pair.score > 0.9


def test_a_staff_batch_ends_with_the_similarity_section_and_a_public_one_does_not(tmp_path):
    from graders.staff import batch
    subs = tmp_path / "subs"
    for who in ("orig", "copycat", "ben"):
        (subs / who / "python").mkdir(parents=True)
        (subs / who / "python" / "nn.py").write_text(CLASS[who])
    (tmp_path / "data").mkdir()

    def job(sub, out_root, options, grading, force=False):
        doc = {**rf.typical(), "submission": str(sub.path)}
        rf.write(batch.submission_out(out_root, sub.name), doc)
        return batch.summarize(sub.name, doc, "graded")

    for visibility, shown in (("all", True), ("public", False)):
        out = tmp_path / visibility
        runner = batch.Batch(out, batch.Options(visibility=visibility, data_dir=str(tmp_path / "data")),
                             progress=False)
        runner.job = job
        runner.run(subs, jobs=1)
        index = (out / "index.html").read_text()
        assert ('id="similarity"' in index) is shown, visibility
        if shown:
            pairs = json.loads((out / similarity.FOLDER / "pairs.json").read_text())["pairs"]
            assert [(p["a"], p["b"]) for p in pairs] == [("copycat", "orig")]


def test_a_failure_of_the_similarity_leaves_the_batch_its_overview(tmp_path, monkeypatch, capsys):
    """One submission the similarity step cannot read (a zip or notebook that crashed it) once
    ended a staff batch before its overview and gradebook were written."""
    from graders.staff import batch as batch_mod

    def crash(out):
        raise RecursionError("maximum recursion depth exceeded during ast construction")
    monkeypatch.setattr(similarity, "refresh", crash)
    batch_mod.refresh_similarity(tmp_path)
    assert "the similarity of the submissions was not computed (RecursionError" in capsys.readouterr().err
