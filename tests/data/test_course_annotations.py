"""The committed ground truth of the four course photos is consistent, and the reference finds it.

The structural checks need only the JSON; the ones that look at pixels need the photos in
../shared/images (skipped in a clone without them, an error when CI=true).
"""
import importlib.util
import json
import time

import numpy as np
import pytest
import skimage.color
import skimage.io

from fixtures import annotate
from fixtures.boxes import iou_matrix, match_boxes
from support import COURSE_PHOTOS, REPO, course_photos_dir

TRUTH = json.loads(annotate.JSON_PATH.read_text())["images"]
# Characters per photo as the handout counts them (periods after item numbers not counted).
HANDOUT_COUNTS = {"01_list.jpg": 115, "02_letters.jpg": 36, "03_haiku.jpg": 54, "04_deep.jpg": 41}


def boxes_of(name):
    return np.array([b for line in TRUTH[name]["lines"] for b in line["boxes"]])


@pytest.fixture(scope="module")
def photos():
    return course_photos_dir()


@pytest.fixture(scope="module")
def reference_q4():
    spec = importlib.util.spec_from_file_location("reference_q4", REPO / "reference" / "python" / "q4.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_match_boxes_is_one_to_one_and_counts_both_ways():
    truth = [[0, 0, 10, 10], [0, 20, 10, 30], [0, 40, 10, 50]]
    pred = [[0, 1, 10, 11],      # truth 0, IoU 9/11
            [0, 0, 10, 30],      # spans truth 0 and 1: may match at most one, and IoU 1/3 < 0.5
            [100, 100, 110, 110]]  # nothing there
    matches, recall, precision = match_boxes(pred, truth, iou=0.5)
    assert [(p, t) for p, t, _ in matches] == [(0, 0)]
    assert matches[0][2] == pytest.approx(9 / 11)
    assert (recall, precision) == (pytest.approx(1 / 3), pytest.approx(1 / 3))
    assert match_boxes(np.zeros((0, 4)), truth)[1:] == (0.0, 1.0)
    assert match_boxes(truth, truth, iou=0.99)[1:] == (1.0, 1.0)


def test_all_four_photos_are_annotated():
    assert sorted(TRUTH) == sorted(COURSE_PHOTOS)


@pytest.mark.parametrize("name", COURSE_PHOTOS)
def test_one_box_per_character_of_each_line(name):
    for line in TRUTH[name]["lines"]:
        assert len(line["boxes"]) == len(line["text"].replace(" ", "")), line["text"]
    assert sum(len(line["boxes"]) for line in TRUTH[name]["lines"]) == HANDOUT_COUNTS[name]


@pytest.mark.parametrize("name", COURSE_PHOTOS)
def test_boxes_are_integer_nonempty_and_inside_the_image(name):
    h, w = TRUTH[name]["size"]
    boxes = boxes_of(name)
    assert boxes.dtype.kind == "i"
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= h).all() and (boxes[:, 3] <= w).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


@pytest.mark.parametrize("name", COURSE_PHOTOS)
def test_reading_order_left_to_right_and_top_to_bottom(name):
    centres_y = []
    for line in TRUTH[name]["lines"]:
        b = np.array(line["boxes"])
        centres_x = (b[:, 1] + b[:, 3]) / 2
        assert (np.diff(centres_x) > 0).all(), f"{line['text']!r} is not left to right"
        centres_y.append(np.median((b[:, 0] + b[:, 2]) / 2))
    assert (np.diff(centres_y) > 0).all(), "lines are not top to bottom"


@pytest.mark.parametrize("name", COURSE_PHOTOS)
def test_character_heights_are_plausible_for_their_line(name):
    for line in TRUTH[name]["lines"]:
        heights = np.array([b[2] - b[0] for b in line["boxes"]])
        ratio = heights / np.median(heights)
        assert ((ratio > 0.5) & (ratio < 1.6)).all(), f"{line['text']!r}: heights {heights}"


@pytest.mark.parametrize("name", COURSE_PHOTOS)
def test_no_two_boxes_overlap_heavily(name):
    overlaps = iou_matrix(boxes_of(name), boxes_of(name))
    np.fill_diagonal(overlaps, 0)
    assert overlaps.max() < 0.2, f"IoU {overlaps.max():.2f} between two characters"


@pytest.mark.photos
@pytest.mark.parametrize("name", COURSE_PHOTOS)
def test_boxes_sit_tightly_on_ink_of_the_photo(photos, name):
    image = skimage.io.imread(photos / name)
    assert list(image.shape[:2]) == TRUTH[name]["size"]
    gray = skimage.color.rgb2gray(image)
    for y1, x1, y2, x2 in boxes_of(name):
        crop = gray[y1:y2, x1:x2]
        paper = np.percentile(crop, 95)
        assert (crop < 0.7 * paper).mean() > 0.02, f"box {[y1, x1, y2, x2]} holds no ink"
        # Tight: each side runs through ink (a stroke's faint edge counts: 15% darker than paper).
        sides = [crop[0], crop[-1], crop[:, 0], crop[:, -1]]
        assert all(s.min() < 0.85 * paper for s in sides), \
            f"box {[y1, x1, y2, x2]} is not tight on its character"


@pytest.mark.photos
def test_annotation_procedure_reproduces_the_committed_json(photos):
    for name, spec in annotate.SPECS.items():
        entry = annotate.annotate(skimage.io.imread(photos / name), spec)
        assert annotate.problems(name, entry) == []
        entry.pop("_found_lines")
        assert entry == TRUTH[name], f"{name}: fixtures/annotate.py no longer gives the committed boxes"


@pytest.mark.photos
@pytest.mark.parametrize("name", COURSE_PHOTOS)
def test_reference_findletters_recovers_the_annotated_characters(photos, reference_q4, name):
    image = skimage.util.img_as_float(skimage.io.imread(photos / name))
    start = time.perf_counter()
    bboxes, bw = reference_q4.findLetters(image)
    seconds = time.perf_counter() - start
    bw = np.asarray(bw)
    assert bw.shape == image.shape[:2] and bw.dtype.kind == "f"
    assert 0 <= bw.min() and bw.max() <= 1 and bw.mean() > 0.5, "bw must be black ink on white"
    _, recall, precision = match_boxes(bboxes, boxes_of(name), iou=0.5)
    assert recall >= 0.98, f"recall {recall:.3f} (precision {precision:.3f})"
    assert precision >= 0.9, f"precision {precision:.3f}"
    assert seconds < 20, f"findLetters took {seconds:.1f} s"
