"""The reports as people see them: opened in a real browser (Debian's chromium, driven by
playwright), for the reference, the generated stubs and wrong submissions, and the class overview
of all of them. Each page must show its total and every question, load every picture from the
page itself, fetch nothing, and be screenshotted (into $HW5GRADE_SCREENSHOTS when set, to look at).

Locally without chromium or playwright these tests skip and say why; on CI (CI=true) they fail.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from graders.outputs import overview
from graders.outputs import publish
from graders.outputs import report
from graders.results import document as results_doc
from support import REPO, grade_cli, shared_once

pytestmark = [pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
# off the closed network: no background fetches, no component updates, no first-run pages
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
WRONG = REPO / "tests" / "wrong"
# name -> (what is graded, grade options): the stubs as a student runs them, and wrong submissions
# whose reports carry what a report must survive (false boxes drawn, a flood of output)
SUBMISSIONS = {
    "stubs": (REPO / "student" / "python", ("--visibility", "public")),
    "boxes_noise": (WRONG / "boxes_noise", ("--quick", "-k", "q4_letters")),
    "softmax_no_shift": (WRONG / "softmax_no_shift", ("--quick", "-k", "q2_network")),
    "huge_output": (WRONG / "huge_output", ("-k", "find_letters or run_q3_finishes")),
}
PAGE_LIMIT = 3_000_000


def unavailable(why: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{why}: CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(f"{why}: install Debian's chromium (apt-get install chromium) to run them")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        unavailable(f"no {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def batch(reference_full_grades, tmp_path_factory, worker_id) -> Path:
    """One folder as `hw5grade batch` leaves it: a graded folder per submission (in submissions/),
    index.html; made once per test session. Returns the folder of the submissions' results; its
    parent is the batch's."""
    from conftest import build_submission

    def make(root: Path):
        folder = root / "batch" / results_doc.SUBMISSIONS
        shutil.copytree(reference_full_grades[0], folder / "reference")
        for name, (source, options) in SUBMISSIONS.items():
            python_dir = source if name == "stubs" else build_submission(root / "submissions" / name, source)
            grade_cli(python_dir, folder / name, *options)
        publish.write_outputs(folder / "reference")
        overview.write_batch(folder.parent)

    return shared_once(tmp_path_factory, worker_id, "reports", make) / "batch" / results_doc.SUBMISSIONS


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("HW5GRADE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser, path: Path):
    """A page with the file loaded, and the list of every URL it asked for."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, requests


def assert_self_contained(page, requests, path: Path) -> None:
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    images = page.evaluate("[...document.images].map(i => [i.src.slice(0, 5), i.complete && i.naturalWidth > 0])")
    assert all(src == "data:" and loaded for src, loaded in images), images
    assert path.stat().st_size < PAGE_LIMIT + 3_000_000


@pytest.mark.parametrize("name", ["reference", *SUBMISSIONS])
def test_report_shows_the_total_and_every_question(name, batch, browser, shots):
    folder = batch / name
    results = json.loads((folder / "grade.json").read_text())
    page, requests = open_page(browser, folder / "report.html")
    total = page.locator(".score-card .total")
    assert total.is_visible()
    assert total.inner_text().split()[0] == report.fmt_number(results["score"])
    assert total.bounding_box()["y"] < 900, "the total is not on the first screen"
    graded = [q for q, e in results["questions"].items() if e["kind"] == "auto" and e["score"] is not None]
    assert graded
    for qid in graded:
        row = page.locator(f'table.sortable a[href="#q-{qid}"]')
        assert row.is_visible(), qid
        cells = row.locator("xpath=ancestor::tr").inner_text()
        entry = results["questions"][qid]
        assert f"{report.fmt_number(entry['score'])}/{report.fmt_number(entry['max_score'])}" in cells, cells
    assert_self_contained(page, requests, folder / "report.html")
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    page.close()


def test_public_run_says_hidden_checks_remain(batch, browser):
    results = json.loads((batch / "stubs" / "grade.json").read_text())
    assert any(c["status"] == "hidden-not-run" for c in results["checks"])
    page, _ = open_page(browser, batch / "stubs" / "report.html")
    banner = page.locator(".banner.warn", has_text="Not final")
    assert banner.is_visible()
    assert "all tests passed" not in page.inner_text("body").lower()
    page.close()


def test_reference_report_shows_the_graders_pictures(batch, browser, shots):
    page, _ = open_page(browser, batch / "reference" / "report.html")
    captions = page.locator("figcaption").all_inner_texts()
    # the student's own plots, the boxes over every page, the reconstructions, the confusion matrix
    assert sum("ground truth" in c for c in captions) == 10, captions
    assert any("reconstructions" in c for c in captions)
    assert page.locator("table.cm").first.is_visible()
    assert page.locator("table.cm td.diag").count() == 36
    figure = page.locator("figure", has_text="page_01.jpg").first
    figure.scroll_into_view_if_needed()
    figure.screenshot(path=str(shots / "reference_boxes_page_01.png"))
    page.close()


def test_a_flood_of_output_stays_readable(batch, browser, shots):
    path = batch / "huge_output" / "report.html"
    assert path.stat().st_size < PAGE_LIMIT
    results = json.loads((batch / "huge_output" / "grade.json").read_text())
    printed = next(c for c in results["checks"] if c["name"] == "test_run_q3_finishes")
    assert printed["status"] == "passed" and "lines cut" in printed["data"]["output"]
    page, _ = open_page(browser, path)
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    longest = page.evaluate("Math.max(...[...document.querySelectorAll('pre')].map(p => p.innerText.split('\\n').length))")
    assert longest <= 200, longest
    body = page.inner_text("body")
    assert "RecursionError" in body and "lines cut" in body
    page.screenshot(path=str(shots / "huge_output_open.png"), full_page=True)
    page.close()


def test_class_overview_links_every_report(batch, browser, shots):
    page, requests = open_page(browser, batch.parent / "index.html")
    names = ["reference", *SUBMISSIONS]
    for name in names:
        link = page.locator(f'a[href="submissions/{name}/report.html"]').first
        assert link.is_visible(), name
    assert page.locator("svg").first.is_visible()          # the score histogram
    page.screenshot(path=str(shots / "index.png"), full_page=True)
    page.locator('a[href="submissions/reference/report.html"]').first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("submissions/reference/report.html")
    assert page.locator(".score-card .total").is_visible()
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    page.close()
