"""The Q4.2 (findLetters) and Q4.4 (run_q4's text) checks judged on known submissions.

Like tests/suites/test_q2_checks.py: each wrong submission in tests/wrong/ is the reference with the
files of its folder swapped in, and the table says exactly which checks must not pass, on
which photos ("[*]": on every photo of the profile, each a check of its own).

CI budget: a wrong q4.py needs no training, so it is graded with --quick (Q4.4, the training
tier, is not run) and only the Q4 suite selected. A wrong run_q4.py needs weights: the reference
is trained once per test session (a bare run of run_q3.py, about 20 s), its q3_weights.pickle is
shipped in the wrong submission, and run_q3.py is replaced by a stand-in that stops at once, so
the grade takes the real path for "run_q3 wrote no weights, the submitted file is used" (and
says so in a note) instead of training again for every wrong run_q4.py.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fixtures import cache
from graders.staff import stubs
from graders.checks import textmatch
from graders.suites import q4_letters
from support import REPO, course_photos_dir
from test_q2_checks import grade, short

WRONG = REPO / "tests" / "wrong"
Q4 = ("Q4.2", "Q4.4")
QUICK = ("--quick", "-k", "q4_letters")
RUN_Q4 = ("-k", "run_q4")
STAND_IN_RUN_Q3 = ('raise SystemExit("stand-in of run_q3.py for the harness tests: '
                   'the weights trained once per session are shipped as q3_weights.pickle")\n')

# name -> (grade options, checks that must NOT pass; "[*]" = on every photo); all others pass.
EXPECTED = {
    "bw_inverted": (QUICK, {"find_letters_bw_format[*]"}),
    "bw_boolean": (QUICK, {"find_letters_bw_format[*]"}),
    "bw_uint8": (QUICK, {"find_letters_bw_format[*]"}),
    # read as [y1, x1, y2, x2], [x1, y1, x2, y2] boxes match nothing
    "boxes_xy": (QUICK, {"find_letters_boxes_format[*]", "find_letters_recall[*]", "find_letters_precision[*]"}),
    "boxes_noise": (QUICK, {"find_letters_precision[*]"}),
    # no boxes and the grey photo: nothing earns anything (precision was 100% for no boxes)
    "finds_nothing": (QUICK, {"find_letters_boxes_format[*]", "find_letters_bw_format[*]",
                              "find_letters_recall[*]", "find_letters_precision[*]"}),
    # the big boxes are well formed; they just hold words and lines, not letters
    "merged_lines": (QUICK, {"find_letters_recall[*]", "find_letters_precision[*]"}),
    # nothing printed: the text of each photo skipped behind one failure, and running to the end
    # counts only for a run that read the photos
    "run_q4_prints_nothing": (RUN_Q4, {"run_q4_finishes", "run_q4_prints_text", "run_q4_text[*]"}),
    # the photos' folder on the student's laptop is served from ../images (a data-path repair,
    # free by default): only the advice to fix it remains
    "run_q4_hardcoded_path": (RUN_Q4, {"ran_without_repairs"}),
    # fixed text (the synthetic pages' titles), no reading: nothing counts
    "run_q4_prints_titles": (RUN_Q4, {"run_q4_finishes", "run_q4_prints_text", "run_q4_text[*]"}),
    # an honest habit: print(chars) of a list of NumPy characters, read as NumPy 1 printed it
    "run_q4_prints_lists": (RUN_Q4, set()),
    # q4.py cannot be loaded: one failure, and every photo's checks skipped behind it
    "q4_import_cv2": (QUICK, {"q4_imports", "find_letters_boxes_format[*]", "find_letters_bw_format[*]",
                              "find_letters_recall[*]", "find_letters_precision[*]"}),
    # 10,000 printed lines and a RecursionError that Python cannot fold: every photo fails, and the
    # messages are cut to a readable size (tests/outputs/test_report_browser.py looks at the report)
    "huge_output": (QUICK, {"find_letters_boxes_format[*]", "find_letters_bw_format[*]",
                            "find_letters_recall[*]", "find_letters_precision[*]"}),
}
# what the student reads first in each case (a phrase of the message or hint of a failed check)
SAYS = {
    "bw_inverted": "inverted",
    "bw_boolean": "float in [0, 1]",
    "bw_uint8": "float in [0, 1]",
    "boxes_xy": "look like [x1, y1, x2, y2]",
    "boxes_noise": "tiny",
    "finds_nothing": "returned no boxes",
    "merged_lines": "two or more characters",
    "run_q4_prints_nothing": "printed no text",
    "run_q4_hardcoded_path": "../images",
    "run_q4_prints_titles": "counts for a run that read the photos",
    "q4_import_cv2": "No module named 'cv2'",
    "huge_output": "RecursionError",
}


def photo_names() -> list[str]:
    profile = cache.build(log=lambda *_: None)
    return sorted(json.loads(profile.truth_path.read_text())["images"])


def expand(checks: set[str], photos: list[str]) -> set[str]:
    return {c.replace("[*]", f"[{p}]") for c in checks for p in (photos if "[*]" in c else [None])}


def not_passed_run(results: dict) -> set[str]:
    """Checks that ran and did not pass (those --quick or -k left out are not counted)."""
    return {short(c) for c in results["checks"] if c["status"] != "passed" and not c.get("not_run")}


@pytest.fixture(scope="module")
def session_weights(reference_run_q3) -> bytes:
    """q3_weights.pickle of one bare run of the reference run_q3.py (trained once per session)."""
    done, python_dir = reference_run_q3
    assert done.returncode == 0, done.stderr[-2000:]
    return (python_dir / "q3_weights.pickle").read_bytes()


# ---------------------------------------------------------------------------------------------
# the text matcher and the format judges on their own (fast)

def test_edit_distance_counts_each_missing_extra_or_wrong_letter_once():
    assert textmatch.edit_distance("KITTEN", "SITTING") == 3
    assert textmatch.edit_distance("DEEPLEARNING", "DEEPLEARNNG") == 1      # one missing
    assert textmatch.edit_distance("DEEPLEARNING", "DEEPLEEARNING") == 1    # one extra
    assert textmatch.edit_distance("", "ABC") == textmatch.edit_distance("ABC", "") == 3
    line = textmatch.score_image("p", ["DEEP LEARNING"], ["DEEPLEARNNG"]).lines[0]
    assert (line.errors, line.characters) == (1, 12)


def test_blocks_follow_the_text_not_the_order_of_the_photos():
    truth = {"a.jpg": ["TO DO LIST", "1 MAKE A TO DO LIST"], "b.jpg": ["ABCDEFG", "HIJKLMN"],
             "c.jpg": ["DEEP LEARNING", "DEEPER LEARNING"]}
    stdout = ("processing c.jpg\nDEEP LEARNIN6\nDEEPER LEARN1NG\n\nABCDEF6\nHIJKLMN\n\n"
              "TO DO LIST\nI MAKE A TO DO LIST\n")
    scores = textmatch.score_output(stdout, truth)
    assert scores["b.jpg"].errors == 1 and scores["c.jpg"].errors == 2 and scores["a.jpg"].errors == 1
    assert scores["a.jpg"].accuracy == pytest.approx(1 - 1 / 22)      # 8 + 14 characters
    # a photo printed on one line, and a photo of one line between two others, keep their text
    truth["d.jpg"] = ["REFRIGERATOR"]
    scores = textmatch.score_output("TODOLIST1MAKEATODOLIST\nREFR1GERATOR\nABCDEFGHIJKLMN\n", truth)
    assert [scores[p].errors for p in sorted(truth)] == [0, 0, 12 + 14, 1]
    del truth["d.jpg"]
    # a photo whose text was never printed scores 0; nothing printed scores 0 everywhere
    assert textmatch.score_output("ABCDEFG\nHIJKLMN\n", truth)["c.jpg"].accuracy == 0
    assert all(s.accuracy == 0 for s in textmatch.score_output("", truth).values())


def test_text_printed_with_labels_or_a_character_per_line_is_read_as_the_text():
    truth = {"a.jpg": ["TO DO LIST", "1 MAKE A TO DO LIST"], "c.jpg": ["DEEP LEARNING", "DEEPER LEARNING"]}
    labelled = "Line 1: TO DO LIST\nLine 2: 1 MAKE A TO DO LIST\nc.jpg: DEEP LEARNING\nc.jpg: DEEPER LEARNING\n"
    scores = textmatch.score_output(labelled, truth)
    assert scores["a.jpg"].errors == 0 and scores["c.jpg"].errors == 0
    # one character per line, a blank line between lines of text: as many lines as characters,
    # which would exceed the budget of lines, and no line of the photos
    by_character = "\n\n".join("\n".join(t.replace(" ", "")) for texts in truth.values() for t in texts) + "\n"
    scores = textmatch.score_output(by_character * 1, truth)
    assert all(score.accuracy == 1 for score in scores.values()), scores
    # a label does not excuse a wrong reading
    assert textmatch.score_output("Line 1: TO DO LIST\nLine 2: I MAKE A TO DO LIST\n", truth)["a.jpg"].errors == 1


def test_bw_judge_names_each_format_mistake():
    truth = np.array([[10, 10, 30, 20]], dtype=float)
    bw = np.ones((50, 60))
    bw[12:28, 12:18] = 0
    assert q4_letters.judge_bw(bw, (50, 60), truth) is None
    assert "inverted" in q4_letters.judge_bw(1 - bw, (50, 60), truth).rationale
    assert "float in [0, 1]" in q4_letters.judge_bw(bw > 0.5, (50, 60), truth).rationale
    assert "integers" in q4_letters.judge_bw((bw * 255).astype(np.uint8), (50, 60), truth).rationale
    assert "transposed" in q4_letters.judge_bw(bw.T, (50, 60), truth).hint
    assert "no characters" in q4_letters.judge_bw(np.ones((50, 60)), (50, 60), truth).rationale
    for bad in (np.nan, np.inf, -np.inf):
        spoiled = bw.copy()
        spoiled[40, 50] = bad
        assert "NaN or inf" in q4_letters.judge_bw(spoiled, (50, 60), truth).rationale
    assert "between 0 and 1" in q4_letters.judge_bw(bw * 2, (50, 60), truth).expected


def test_matching_skips_specks_without_changing_the_counts():
    truth = np.array([[0, 0, 10, 10], [0, 20, 10, 30]], dtype=float)
    specks = np.array([[y, x, y + 1, x + 1] for y in range(40, 60) for x in range(100)], dtype=float)
    boxes = np.vstack([truth + 1, specks])
    matches, recall, precision = q4_letters.match(boxes, truth)
    assert len(matches) == 2 and recall == 1.0 and precision == pytest.approx(2 / len(boxes))


def test_a_timeout_spares_smaller_photos_only(tmp_path):
    """After findLetters runs out of time on a photo, larger ones fail at once, smaller ones run."""
    import skimage.io
    from graders.checks import rubric
    from graders.sandbox.sandbox import Outcome

    class SlowBox:
        calls = []

        def call(self, module, function, image, seed, limits, **options):
            self.calls.append(image.shape[:2])
            return Outcome(ok=False, error="timeout", message="q4.findLetters timed out")

    truth = {}
    for name, size in (("small.png", (20, 30)), ("mid.png", (40, 50)), ("big.png", (60, 80))):
        skimage.io.imsave(tmp_path / name, np.full(size + (3,), 255, np.uint8), check_contrast=False)
        truth[name] = {"size": list(size), "lines": []}
    photos = q4_letters.Photos(tmp_path, truth)
    question, box, cache = rubric.load("2022")["Q4.2"], SlowBox(), {}
    for name in ("mid.png", "big.png", "small.png"):
        cache[name] = q4_letters.detect(box, photos, name, question, 0, cache)
    assert box.calls == [(40, 50), (20, 30)]
    assert all(cache[n].failure.status == "timeout" for n in cache)
    assert "ran out of time on mid.png" in cache["big.png"].failure.rationale
    assert q4_letters.time_budget(question, (3024, 4032)) > q4_letters.time_budget(question, (750, 1000))


# ---------------------------------------------------------------------------------------------
# whole grades

def test_every_q4_wrong_submission_has_a_folder():
    for name in EXPECTED:
        assert (WRONG / name / "README").is_file(), name
        assert list((WRONG / name).glob("*.py.diff")), name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrong_q4_submission_fails_exactly_its_checks(name, make_submission, session_weights, tmp_path):
    options, expected = EXPECTED[name]
    python_dir = make_submission(WRONG / name)
    if options == RUN_Q4:
        (python_dir / "q3_weights.pickle").write_bytes(session_weights)
        (python_dir / "run_q3.py").write_text(STAND_IN_RUN_Q3)
    results = grade(python_dir, tmp_path / "out", *options)
    assert not_passed_run(results) == expand(expected, photo_names())
    failed = [c for c in results["checks"] if c["status"] != "passed" and not c.get("not_run")]
    for check in results["checks"]:
        assert check["status"] != "error", check
    for check in failed:
        assert check["message"] and check["points"] == 0, check
    if expected:
        assert any(SAYS[name] in c["message"] + c.get("hint", "") for c in failed), failed[0]
    lost = {q: results["questions"][q]["max_score_run"] - results["questions"][q]["score"]
            for q in Q4 if results["questions"][q]["score"] is not None}
    # a mistake costs points; a habit the repairs serve (free by default) costs only the advice
    assert (sum(lost.values()) > 0) == bool(expected - {"ran_without_repairs"})
    if options == RUN_Q4:
        assert any("used the q3_weights.pickle in your submission" in n for n in results["notes"])


@pytest.mark.slow
def test_reference_scores_full_marks_on_q4(tmp_path):
    results = grade(REPO / "reference" / "python", tmp_path / "out", "-k", "q4_letters")
    assert not_passed_run(results) == set()
    for q in Q4:
        assert results["questions"][q]["score"] == results["questions"][q]["max_score"] > 0, q
    checks = {short(c): c for c in results["checks"]}
    photos = photo_names()
    for photo in photos:
        assert checks[f"find_letters_recall[{photo}]"]["data"]["recall"] == 1.0
        assert checks[f"find_letters_precision[{photo}]"]["data"]["precision"] == 1.0
    assert checks["run_q4_finishes"]["data"]["figure_count"] == len(photos)
    assert not any("q3_weights.pickle in your submission" in n for n in results["notes"])


@pytest.mark.slow
def test_stubs_score_zero_on_q4(tmp_path):
    stubs.generate(REPO / "reference", tmp_path / "student")
    results = grade(tmp_path / "student" / "python", tmp_path / "out", "-k", "q4_letters")
    for q in Q4:
        assert results["questions"][q]["score"] == 0, q
    q42 = [c for c in results["checks"] if c["question"] == "Q4.2"]
    assert q42 and all("not implemented yet" in c["message"] for c in q42)
    q44 = [c for c in results["checks"] if c["question"] == "Q4.4"]
    assert q44 and all(c["status"] in ("failed", "skipped") for c in q44)
    finishes = next(c for c in q44 if c["name"] == "test_run_q4_finishes")
    assert "findLetters in q4.py" in finishes["message"] and "not implemented yet" in finishes["message"]


def course_folder(tmp_path: Path, photos: Path) -> Path:
    """A --data-dir folder: the course photos in images/, the synthetic NIST36 in data/."""
    course = tmp_path / "course"
    (course / "images").mkdir(parents=True)
    for path in sorted(photos.iterdir()):
        (course / "images" / path.name).symlink_to(path)
    (course / "data").symlink_to(cache.build(log=lambda *_: None).data_dir)
    return course


@pytest.mark.photos
def test_reference_finds_every_letter_of_the_course_photos(tmp_path):
    """--data-dir with the course photos: the committed annotations are used, by file name."""
    photos = course_photos_dir()
    course = course_folder(tmp_path, photos)
    results = grade(REPO / "reference" / "python", tmp_path / "out", *QUICK, "--data-dir", str(course))
    assert not_passed_run(results) == set()
    recall = {c["name"] for c in results["checks"] if c["name"].startswith("test_find_letters_recall")}
    course_photos = {f"test_find_letters_recall[{p.name}]" for p in sorted(photos.iterdir())}
    # and the course key's pages, whose text no student has seen (the course photos' is public)
    staff_pages = recall - course_photos
    assert course_photos <= recall and staff_pages
    assert all(name.startswith("test_find_letters_recall[staff_") for name in staff_pages)
    assert results["questions"]["Q4.2"]["score"] == results["questions"]["Q4.2"]["max_score"]


@pytest.mark.photos
@pytest.mark.slow
def test_printing_the_course_photos_public_text_reads_no_staff_page(make_submission, session_weights, tmp_path):
    """The course photos' text is in the handout: a run_q4 that prints it without reading any
    photo is right on those, which are worth nothing beside the course key's pages, and reads
    none of those: it earns nothing."""
    from fixtures import annotate
    photos = course_photos_dir()
    course = course_folder(tmp_path, photos)
    known = [line["text"] for entry in json.loads(annotate.JSON_PATH.read_text())["images"].values()
             for line in entry["lines"]]
    python_dir = make_submission({"run_q4.py": "".join(f"print({text!r})\n" for text in known),
                                  "run_q3.py": STAND_IN_RUN_Q3})
    (python_dir / "q3_weights.pickle").write_bytes(session_weights)
    results = grade(python_dir, tmp_path / "out", *RUN_Q4, "--data-dir", str(course))
    texts = {c["name"]: c for c in results["checks"] if c["name"].startswith("test_run_q4_text[")}
    staff = {n: c for n, c in texts.items() if "[staff_" in n}
    assert staff and all(c["status"] == "failed" for c in staff.values()), staff
    assert all(c["status"] == "passed" for n, c in texts.items() if n not in staff)
    # public answers are worth nothing beside the staff pages, and printing them is no reading
    assert all(c["max_points"] == 0 for n, c in texts.items() if n not in staff)
    assert results["questions"]["Q4.4"]["score"] == 0, results["questions"]["Q4.4"]


def test_a_photo_without_ground_truth_is_noted_not_graded(tmp_path):
    profile = cache.build(log=lambda *_: None)
    course = tmp_path / "course"
    (course / "images").mkdir(parents=True)
    shutil.copytree(profile.truth_path.parent, course / "truth")
    (course / "data").symlink_to(profile.data_dir)
    for name in ("page_01.jpg", "page_02.jpg"):
        (course / "images" / name).symlink_to(profile.images_dir / name)
    (course / "images" / "holiday.jpg").symlink_to(profile.images_dir / "page_03.jpg")
    results = grade(REPO / "reference" / "python", tmp_path / "out", "--quick", "-k", "find_letters_bw",
                    "--data-dir", str(course))
    graded = sorted(c["name"] for c in results["checks"] if not c.get("not_run") and c["question"] != "Static")
    course = [name for name in graded if "[staff_" not in name]
    assert course == ["test_find_letters_bw_format[page_01.jpg]", "test_find_letters_bw_format[page_02.jpg]"]
    assert len(graded) > len(course)        # the course key's own pages besides
    assert any(n.startswith("holiday.jpg has no ground truth") for n in results["notes"])
