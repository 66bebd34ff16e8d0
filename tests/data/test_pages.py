"""The synthetic page photos: files, truth format, exactness of the boxes, determinism, and that a
plain student-style detector can find the characters."""
import json
import string

import numpy as np
import pytest
from skimage import color, filters, io, measure, morphology, segmentation, transform

from fixtures import pages
from fixtures.boxes import iou_matrix, match_boxes

SEED = 3


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    pages.write_pages(root / "images", root / "truth" / "pages.json", seed=SEED)
    truth = json.loads((root / "truth" / "pages.json").read_text())["images"]
    return root, truth


@pytest.fixture(scope="module")
def photos(built):
    root, truth = built
    return {name: io.imread(root / "images" / name) for name in truth}


@pytest.fixture(scope="module")
def greys(photos):
    return {name: color.rgb2gray(rgb) for name, rgb in photos.items()}


def all_boxes(entry):
    return [b for line in entry["lines"] for b in line["boxes"]]


def test_images_dir_holds_only_the_numbered_jpgs(built):
    root, truth = built
    files = sorted(p.name for p in (root / "images").iterdir())
    assert len(files) >= 8
    assert files == [f"page_{i:02d}.jpg" for i in range(1, len(files) + 1)]
    assert sorted(truth) == files
    for name in files:
        assert (root / "images" / name).read_bytes()[:3] == b"\xff\xd8\xff", f"{name} is not a JPEG"


def test_sizes_range_from_small_scans_to_phone_photos(built, photos):
    _, truth = built
    widths = []
    for name, entry in truth.items():
        assert entry["size"] == list(photos[name].shape[:2])
        assert photos[name].ndim == 3 and photos[name].shape[2] == 3
        widths.append(entry["size"][1])
    assert min(widths) <= 1100 and max(widths) >= 4000
    assert any(w / h > 3.5 for h, w in (e["size"] for e in truth.values())), "no wide, short photo"


def test_truth_has_one_box_per_character(built):
    _, truth = built
    allowed = set(string.ascii_uppercase + string.digits)
    for name, entry in truth.items():
        assert entry["lines"], name
        for line in entry["lines"]:
            text = line["text"]
            assert text and text == " ".join(text.split()), f"{name}: odd spacing in {text!r}"
            assert set(text.replace(" ", "")) <= allowed, f"{name}: {text!r}"
            assert len(line["boxes"]) == len(text.replace(" ", "")), f"{name}: {text!r}"


def test_all_36_classes_appear(built):
    _, truth = built
    chars = {c for e in truth.values() for line in e["lines"] for c in line["text"]}
    assert set(string.ascii_uppercase + string.digits) <= chars


def test_boxes_are_inside_and_never_overlap(built):
    _, truth = built
    for name, entry in truth.items():
        H, W = entry["size"]
        boxes = np.array(all_boxes(entry))
        assert boxes.dtype.kind == "i", name
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all(), name
        assert (boxes[:, 2] <= H).all() and (boxes[:, 3] <= W).all(), name
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all(), name
        overlap = iou_matrix(boxes, boxes)
        np.fill_diagonal(overlap, 0)
        assert overlap.max() == 0, f"{name}: two truth boxes overlap"


def test_boxes_are_in_reading_order(built):
    _, truth = built
    for name, entry in truth.items():
        centres = []
        for line in entry["lines"]:
            b = np.array(line["boxes"])
            assert (b[1:, 1] >= b[:-1, 3]).all(), f"{name}: {line['text']!r} not left to right"
            centres.append(((b[:, 0] + b[:, 2]) / 2).mean())
        assert np.all(np.diff(centres) > 0), f"{name}: lines not top to bottom"


def test_lines_separate_by_height(built):
    """run_q4 groups boxes into lines by their height on the page: every character of a line
    must sit above every character of the next one."""
    _, truth = built
    for name, entry in truth.items():
        centres = [[(b[0] + b[2]) / 2 for b in line["boxes"]] for line in entry["lines"]]
        for k in range(len(centres) - 1):
            assert max(centres[k]) < min(centres[k + 1]), \
                f"{name}: lines {k + 1} and {k + 2} overlap in height"


def test_each_box_is_tight_around_dark_ink(built, greys):
    _, truth = built
    for name, entry in truth.items():
        grey = greys[name]
        for y1, x1, y2, x2 in all_boxes(entry):
            h, w = y2 - y1, x2 - x1
            ring = grey[max(0, y1 - h // 2):y2 + h // 2, max(0, x1 - h // 2):x2 + h // 2]
            paper, ink = np.median(ring), np.percentile(grey[y1:y2, x1:x2], 1)
            assert ink < paper - 0.15, f"{name}: box {[y1, x1, y2, x2]} has no dark ink"
            # Neighbours keep at least 6 px away, so a 3 px frame holds only this character.
            oy, ox = max(0, y1 - 3), max(0, x1 - 3)
            ys, xs = np.nonzero(grey[oy:y2 + 3, ox:x2 + 3] < (paper + ink) / 2)
            found = np.array([oy + ys.min(), ox + xs.min(), oy + ys.max() + 1, ox + xs.max() + 1])
            slack = max(3, 0.08 * max(h, w))
            assert np.abs(found - [y1, x1, y2, x2]).max() <= slack, \
                f"{name}: truth {[y1, x1, y2, x2]} but the ink spans {found.tolist()}"


def test_same_seed_gives_the_same_bytes(built, tmp_path):
    root, _ = built
    pages.write_pages(tmp_path / "images", tmp_path / "pages.json", seed=SEED)
    assert (tmp_path / "pages.json").read_bytes() == (root / "truth" / "pages.json").read_bytes()
    for p in sorted((root / "images").iterdir()):
        assert (tmp_path / "images" / p.name).read_bytes() == p.read_bytes(), p.name


def test_seed_changes_the_page():
    spec = pages.PAGES[0]
    a = pages.make_page(spec, np.random.default_rng([0, 1]))
    b = pages.make_page(spec, np.random.default_rng([1, 1]))
    assert a[1] != b[1]
    assert not np.array_equal(a[0], b[0])


def test_the_alphabet_sheet_is_in_an_order_of_the_seed():
    """All 36 classes once each, in an order a script cannot print without reading the photo."""
    texts = [[line.words[0] for line in pages._alphabet(np.random.default_rng([seed, 2]))] for seed in (0, 1)]
    for rows in texts:
        assert sorted("".join(rows)) == sorted(string.ascii_uppercase + string.digits)
    assert texts[0] != texts[1] and "ABCDEFG" not in texts[0]


def test_a_staff_seed_keeps_the_sizes_and_changes_every_text():
    """A page from a seed derived from the course key has the public page's size (a lookup by size
    finds an answer) but none of its text or boxes."""
    from graders.checks import secret
    staff_seed = secret.derive(bytes(range(32)), "pages")
    for i in (1, 2):
        spec = pages.PAGES[i - 1]
        public = pages.make_page(spec, np.random.default_rng([0, i]))
        staff = pages.make_page(spec, np.random.default_rng([staff_seed, i]))
        assert public[0].shape == staff[0].shape
        assert [line["text"] for line in public[1]] != [line["text"] for line in staff[1]]
        boxes = [np.array([b for line in truth for b in line["boxes"]]) for truth in (public[1], staff[1])]
        assert len(boxes[0]) != len(boxes[1]) or not np.array_equal(boxes[0], boxes[1])


def otsu_boxes(grey):
    """What many students hand in: grey, shrink, blur, global Otsu, closing, clear_border, label,
    drop specks."""
    f = max(1, grey.shape[1] // 1500)
    grey = transform.downscale_local_mean(grey, (f, f))
    grey = filters.gaussian(grey, sigma=1)
    bw = segmentation.clear_border(morphology.closing(grey < filters.threshold_otsu(grey), morphology.disk(1)))
    regions = measure.regionprops(measure.label(bw, connectivity=2))
    areas = np.array([r.area for r in regions])
    return [np.array(r.bbox) * f for r, a in zip(regions, areas) if a > 0.1 * np.median(areas)]


def test_a_plain_otsu_detector_finds_every_character(built, greys):
    _, truth = built
    for name, entry in truth.items():
        _, recall, _ = match_boxes(otsu_boxes(greys[name]), all_boxes(entry))
        assert recall >= 0.98, f"{name}: global Otsu finds only {recall:.0%} of the characters"
