"""Q4.2: findLetters on the page photos; Q4.4: the text run_q4.py reads from them.

The photos are those of the data profile in use: the synthetic pages (ground truth beside
them in truth/pages.json, never shown to the sandbox) or, with --data-dir, the course's
images/ with the committed hand-checked boxes (fixtures/annotations/course_photos.json),
matched by file name and size. A photo without ground truth is not graded (a note says so).

Q4.2 loads each photo here as skimage.io.imread + img_as_float give it and passes the float
array to findLetters in the sandbox, once per photo (the checks of one photo share the call and
its xdist group). Boxes are matched to the truth one to one at IoU >= 0.5
(fixtures.boxes.match_boxes). Q4.4 runs run_q4.py once, in the sandbox where run_q3.py just
wrote q3_weights.pickle (xdist group "q3"), and scores its printed lines with
graders.checks.textmatch. Every check gives credit per photo, so one hard photo costs only its share.

Why one file this long: a suite is one question group of the rubric; Q4.2 and Q4.4 share the
photos, their truth and the boxes' matching.
"""
from __future__ import annotations

import functools

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from graders.checks import artifacts
from graders.checks import numerics
from graders.results import messages
from graders.checks import plugin
from graders.checks import textmatch
from graders.checks.student_module import call_limits, check_outcome, import_failure
from graders.results.messages import CheckFailure, Failure, Mismatch, NotImplementedYet, StudentError, describe
from graders.suites._photos import Photos, find_photos

DETECTIONS = pytest.StashKey[dict]()


def pytest_generate_tests(metafunc):
    """One check per graded photo: `page` for Q4.2 (one xdist group per photo, so its checks share
    one call), `photo` for Q4.4 (the group of run_q3's run, whose weights run_q4 reads)."""
    for arg in ("page", "photo"):
        if arg not in metafunc.fixturenames:
            continue
        photos = find_photos(metafunc.config)
        names = sorted(photos.truth)
        public = [pytest.mark.public_answers] if any(photos.public(n) for n in names) else []
        if arg == "page":
            params = [pytest.param(n, id=n, marks=[pytest.mark.xdist_group(f"q4.2-{n}")]
                                   + (public if photos.public(n) else [])) for n in names]
            params = params or [pytest.param(None, id="no-photos")]
        else:
            weight = TEXT_WEIGHT / max(len(photos.counted()), 1)
            params = [pytest.param(n, id=n or "no-photos", marks=[pytest.mark.rubric("Q4.4", weight=weight)]
                                   + (public if n and photos.public(n) else []))
                      for n in names or [None]]
        metafunc.parametrize(arg, params)


@pytest.fixture(scope="session")
def photos(pytestconfig, submission) -> Photos:
    return find_photos(pytestconfig)


def photo_name(request, photos, name: str | None) -> str:
    """The photo a check is about (skips when there is none); notes the photos not graded."""
    for note in photos.notes:
        request.node.user_properties.append((plugin.NOTE, note))
    if name is None:
        where = photos.images_dir or "the data folder (it has no images/)"
        pytest.skip(f"no photo in {where} has ground truth, so this cannot be graded here")
    return name


# ---------------------------------------------------------------------------------------------
# Q4.2: one call of findLetters per photo, judged here

@dataclass
class Detection:
    """What findLetters did on one photo, reduced to what the checks need (no big arrays kept)."""
    name: str
    size: tuple
    seconds: float = 0.0
    budget: float = 0.0
    failure: CheckFailure | None = None     # the call itself failed: every check of the photo shows it
    boxes: np.ndarray | None = None         # (N, 4) float, as returned
    boxes_problem: CheckFailure | None = None
    bw_problem: CheckFailure | None = None
    recall: float = 0.0
    precision: float = 0.0
    matched: int = 0
    matches: list = field(default_factory=list)   # (box index, truth index, IoU)
    overlay: bytes | None = None            # the report's picture of the boxes (JPEG)
    swapped_recall: float = 0.0             # the boxes read as [x1, y1, x2, y2]

    @property
    def looks_swapped(self) -> bool:
        """Read as [x1, y1, x2, y2], the boxes find clearly more characters."""
        return self.swapped_recall >= max(0.5, self.recall + 0.25)


def time_budget(question, size) -> float:
    """Seconds for one call: the question's call budget, more for photos above a few megapixels."""
    megapixels = size[0] * size[1] / 1e6
    return max(question.call_seconds, question.threshold("seconds_per_megapixel") * megapixels)


@pytest.fixture(scope="session")
def q4_import(_sandbox, rubric):
    """None when q4.py imports in the sandbox, else the Outcome of the failed import."""
    return import_failure(_sandbox, "q4", rubric["Q4.2"].call_seconds)


@pytest.fixture
def detection(request, page, sandbox, q4_import, photos, question, run_seed, pytestconfig, record_property):
    """findLetters's result on the check's photo (called once per photo and process)."""
    name = photo_name(request, photos, page)
    if q4_import is not None:
        pytest.skip("q4.py did not import")
    cache = pytestconfig.stash.setdefault(DETECTIONS, {})
    if name not in cache:
        cache[name] = detect(sandbox, photos, name, question, run_seed, cache,
                             pictures=artifacts.folder(pytestconfig) is not None)
    found = cache[name]
    record_property("seconds", round(found.seconds, 2))
    record_property("budget_seconds", round(found.budget, 1))
    if found.failure is not None:
        raise found.failure
    return found


def load_photo(path: Path) -> np.ndarray:
    """The photo as run_q4.py reads it (uint8; findLetters gets skimage.img_as_float of it, made
    in the sandbox: see detect)."""
    stat = Path(path).stat()
    return _decoded(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _decoded(path: str, mtime_ns: int, size: int) -> np.ndarray:
    # a batch's process grades every submission on the same photos: each is decoded once
    import skimage.io
    image = skimage.io.imread(path)
    image.setflags(write=False)
    return image


def detect(box, photos: Photos, name: str, question, seed: int, cache: dict, pictures: bool = False) -> Detection:
    size = tuple(photos.truth[name]["size"])
    found = Detection(name, size, budget=time_budget(question, size))
    # A photo at least as large as one that already ran out of time is not tried again.
    slower = [d for d in cache.values() if d.failure is not None and d.failure.status == "timeout"
              and d.size[0] * d.size[1] <= size[0] * size[1]]
    if slower:
        found.failure = StudentError(
            f"findLetters was not run on {name}: it ran out of time on {slower[0].name}, a smaller photo",
            timeout=True, hint=TIME_HINT)
        return found
    # box.call, not StudentModule.call: a timeout on one photo must not fail the smaller ones
    out = box.call("q4", "findLetters", load_photo(photos.images_dir / name), seed=seed,
                   limits=call_limits(box, found.budget), return_args=False, float_images=(0,))
    found.seconds = out.elapsed
    try:
        check_outcome(out, "findLetters in q4.py")
    except StudentError as failure:
        if failure.status == "timeout":
            failure = StudentError(f"findLetters took longer than its {found.budget:.0f} s on {name} "
                                   f"({size[1]} x {size[0]} pixels)", timeout=True, hint=TIME_HINT)
        found.failure = failure
        return found
    except CheckFailure as failure:
        found.failure = failure
        return found
    found.failure = returned_pair(out.value)
    if found.failure is not None:
        return found
    boxes, bw = out.value
    truth = photos.boxes(name)
    found.boxes, found.boxes_problem = read_boxes(boxes, most=max_boxes(len(truth)))
    if found.boxes is not None:
        found.matches, found.recall, found.precision = match(found.boxes, truth)
        found.matched = len(found.matches)
        if pictures:
            found.overlay = artifacts.boxes_overlay(photos.images_dir / name, truth, found.boxes, found.matches)
        found.swapped_recall = match(found.boxes[:, [1, 0, 3, 2]], truth)[1]
        found.boxes_problem = found.boxes_problem or boxes_inside(found, size)
    found.bw_problem = judge_bw(bw, size, truth)
    return found


TIME_HINT = ("phone photos are large (up to 4032 x 3024): work on a downscaled copy, or avoid slow "
             "filters on the full image (denoise_bilateral, per-pixel Python loops)")


def match(boxes, truth):
    """fixtures.boxes.match_boxes at IoU >= 0.5, with precision over all the boxes returned.

    A box whose area is under half the smallest character's or over twice the largest one's
    cannot reach IoU 0.5 with any character, so it is counted unmatched without entering the
    matching: a submission returning 200,000 specks is judged in a blink, not in gigabytes."""
    from fixtures.boxes import match_boxes
    areas, truth_areas = _areas(boxes), _areas(truth)
    keep = (areas >= 0.5 * truth_areas.min()) & (areas <= 2 * truth_areas.max()) if len(truth) else areas < 0
    matches, recall, _ = match_boxes(boxes[keep], truth, iou=0.5)
    kept = np.flatnonzero(keep)
    matches = [(int(kept[i]), j, overlap) for i, j, overlap in matches]
    # no boxes is no answer: its precision is nothing, not perfect
    precision = len(matches) / len(boxes) if len(boxes) else 0.0
    return matches, recall, precision


def returned_pair(value) -> CheckFailure | None:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return Mismatch("findLetters returned", "a pair (bboxes, bw)", describe(value),
                        hint="end with `return bboxes, bw`")
    boxes, bw = value
    if bw is None and (boxes is None or (isinstance(boxes, (list, tuple, np.ndarray)) and len(boxes) == 0)):
        return NotImplementedYet("findLetters in q4.py", "it returned no boxes and bw None")
    return None


# An unfiltered page of JPEG specks gives some 10^5 boxes, which are judged (and fail precision) in
# a blink; millions are refused before they are converted or matched, whatever the page.
MAX_BOXES_PER_CHARACTER, MIN_MAX_BOXES = 500, 200_000


def max_boxes(characters: int) -> int:
    """The most boxes findLetters may return on a photo of this many characters and be judged."""
    return max(MIN_MAX_BOXES, MAX_BOXES_PER_CHARACTER * characters)


def read_boxes(value, most: int | None = None) -> tuple[np.ndarray | None, CheckFailure | None]:
    """The boxes as an (N, 4) float array, or None and the failure saying why they cannot be read
    (more than `most` rows: refused before any conversion)."""
    hint = "return an array (or list) with one row [y1, x1, y2, x2] per character, e.g. region.bbox"
    try:
        count = len(value)
    except TypeError:
        count = None
    if most is not None and count is not None and count > most:
        return None, Failure(f"findLetters returned {count:,} boxes, more than the {most:,} judged on one "
                             "photo (the page has far fewer characters), so they were not matched",
                             expected=f"one box per character (at most {most:,})", actual=f"{count:,} boxes",
                             hint="skip regions much smaller than a character (specks, noise), e.g. by area")
    if isinstance(value, dict) or (isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value)):
        return None, Mismatch("bboxes", "rows of 4 numbers [y1, x1, y2, x2]",
                              f"{describe(value)} (objects that are not numbers)",
                              hint=hint + ", not the regionprops objects themselves")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None, Mismatch("bboxes", "rows of 4 numbers [y1, x1, y2, x2]", describe(value), hint=hint)
    if arr.size == 0:
        return np.zeros((0, 4)), None
    if arr.ndim != 2 or arr.shape[1] != 4:
        return None, Failure(f"bboxes has shape {arr.shape}; expected (N, 4), one row [y1, x1, y2, x2] "
                             "per character", expected="(N, 4)", actual=str(arr.shape), hint=hint)
    if not np.all(np.isfinite(arr)):
        return None, Failure("bboxes contains NaN or inf", hint=hint)
    return arr, None


def boxes_inside(found: Detection, size) -> CheckFailure | None:
    """[y1, x1, y2, x2] with y1 < y2, x1 < x2, inside the image (y2, x2 exclusive, as bbox)."""
    b, (H, W) = found.boxes, size
    if found.looks_swapped:
        return Failure(f"your boxes look like [x1, y1, x2, y2]: read that way they find "
                       f"{found.swapped_recall:.0%} of the characters of {found.name}, read as "
                       f"[y1, x1, y2, x2] only {found.recall:.0%}",
                       expected="[y1, x1, y2, x2] (rows first, as regionprops' bbox)",
                       actual="[x1, y1, x2, y2]", hint="swap the columns: rows (y) come first")
    if len(b) == 0:
        return Failure(f"findLetters returned no boxes on {found.name}, which has characters: the boxes' form "
                       "counts only for boxes", expected="one box [y1, x1, y2, x2] per character",
                       actual="no boxes", hint="label the connected components of the ink mask "
                                               "(skimage.measure.label, regionprops) and return their bbox")
    order = (b[:, 0] < b[:, 2]) & (b[:, 1] < b[:, 3])
    inside = (b[:, 0] >= 0) & (b[:, 1] >= 0) & (b[:, 2] <= H) & (b[:, 3] <= W)
    if order.all() and inside.all():
        return None
    bad = int(np.flatnonzero(~(order & inside))[0])
    what = "are not [y1, x1, y2, x2] with y1 < y2 and x1 < x2" if not order.all() else \
        f"reach outside the {H} x {W} image"
    hint = ("each row is [y1, x1, y2, x2]: the top-left corner, then the bottom-right one"
            if not order.all() else "clip the boxes to the image; y runs over rows (0..H), x over columns (0..W)")
    return Failure(f"{int((~(order & inside)).sum())} of your {len(b)} boxes on {found.name} {what} "
                   f"(e.g. {b[bad].tolist()})", hint=hint,
                   expected=f"0 <= y1 < y2 <= {H} and 0 <= x1 < x2 <= {W}", actual=str(b[bad].tolist()))


def judge_bw(bw, size, truth) -> CheckFailure | None:
    """bw: float in [0, 1], the image's size, black (0) characters on white (1)."""
    H, W = size
    float_hint = "the handout asks for floating point in [0, 1]: e.g. (~mask).astype(float)"
    if bw is None:
        return NotImplementedYet("findLetters in q4.py", "it returned bw None")
    if not isinstance(bw, np.ndarray):
        return Mismatch("bw", "a float array of the image's size", describe(bw))
    if bw.shape != (H, W):
        hint = "bw is one value per pixel, the image's height and width"
        if bw.shape == (W, H):
            hint = "bw is transposed: it must have the image's (rows, columns)"
        elif bw.shape[:2] == (H, W):
            hint = "bw must be 2D (one grey value per pixel): convert to grey before thresholding"
        return Failure(f"bw has shape {bw.shape}; the image is {(H, W)}", expected=str((H, W)),
                       actual=str(bw.shape), hint=hint)
    if bw.dtype.kind == "b":
        return Mismatch("bw's type", "float in [0, 1]", "a boolean array", hint=float_hint)
    if bw.dtype.kind in "iu":
        return Mismatch("bw's type", "float in [0, 1]",
                        f"integers ({bw.dtype}, values {int(bw.min())} to {int(bw.max())})", hint=float_hint)
    if bw.dtype.kind != "f":
        return Mismatch("bw's type", "float in [0, 1]", str(bw.dtype), hint=float_hint)
    # a NaN makes min and max NaN, an inf makes one of them infinite: no third pass over 12 Mpx
    lo, hi = float(bw.min()), float(bw.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return Failure("bw contains NaN or inf", expected="float in [0, 1]", hint=float_hint)
    if lo < 0 or hi > 1:
        return Mismatch("bw's values", "between 0 and 1", f"from {lo:.4g} to {hi:.4g}",
                        hint="scale to [0, 1] (black 0, white 1)")
    grey = np.count_nonzero((bw > GREY[0]) & (bw < GREY[1])) / max(bw.size, 1)
    if grey > MOST_GREY:
        return Failure(f"bw is not black and white: {grey:.0%} of its pixels are grey (between {GREY[0]} and "
                       f"{GREY[1]}), as in the photo itself", expected="a thresholded image: ink 0, paper 1",
                       actual=f"{grey:.0%} grey pixels",
                       hint="threshold the grey image (e.g. skimage.filters.threshold_otsu) and return the mask "
                            "as floats")
    under, inside = _under_boxes(H, W, np.asarray(truth, dtype=int).tobytes())
    total, ink_sum = float(bw.sum()), float(bw.sum(where=under))
    ink, paper = ink_sum / max(inside, 1), (total - ink_sum) / max(H * W - inside, 1)
    if paper < 0.5 or ink > paper + 0.02:
        return Failure(f"bw looks inverted: it is {paper:.2f} on average on the paper (outside the "
                       f"characters' boxes) and {ink:.2f} inside them",
                       expected="black characters (0) on a white background (1)",
                       actual="white characters on black", hint="return 1 - bw (or ~mask) for the ink mask")
    if ink > paper - 0.02:
        return Failure(f"bw shows no characters: under the characters it is {ink:.2f} on average, "
                       f"the same as the paper ({paper:.2f})", expected="black characters (0) on white (1)",
                       hint="bw should be your thresholded image, characters 0 and paper 1")
    return None


# bw is the thresholded image: a photo in grey is mid-grey almost everywhere (98-100% of the
# course photos' pixels); a mask smoothed at its edges, a few percent
GREY, MOST_GREY = (0.1, 0.9), 0.5


@functools.lru_cache(maxsize=16)
def _under_boxes(H: int, W: int, boxes: bytes) -> tuple[np.ndarray, int]:
    """(mask of the pixels under the truth boxes, their count): the same for every submission a
    batch's process grades on this photo."""
    under = np.zeros((H, W), dtype=bool)
    for y1, x1, y2, x2 in np.frombuffer(boxes, dtype=int).reshape(-1, 4):
        under[y1:y2, x1:x2] = True
    under.setflags(write=False)
    return under, int(under.sum())


# Advice like nn.py's import check: the Q4.2 checks say "q4.py did not import" and score 0 anyway.
@pytest.mark.rubric("Static")
def test_q4_imports(q4_import):
    """q4.py imports in the sandbox (only numpy, scipy and scikit-image)"""
    if q4_import is not None:
        check_outcome(q4_import, "importing q4.py")


@pytest.mark.rubric("Q4.2")
def test_find_letters_boxes_format(page, detection):
    """findLetters returns boxes as rows [y1, x1, y2, x2] inside the image, y1 < y2 and x1 < x2"""
    if detection.boxes_problem is not None:
        raise detection.boxes_problem


@pytest.mark.rubric("Q4.2")
def test_find_letters_bw_format(page, detection):
    """findLetters returns bw as floats in [0, 1] of the image's size, black characters on white"""
    if detection.bw_problem is not None:
        raise detection.bw_problem


def boxes_or_fail(detection) -> np.ndarray:
    if detection.boxes is None:
        raise Failure(f"the boxes found on {detection.name} cannot be read, so they cannot be matched: "
                      f"{detection.boxes_problem.rationale}", hint=detection.boxes_problem.hint)
    return detection.boxes


@pytest.mark.rubric("Q4.2", weight=2)
def test_find_letters_recall(page, detection, photos, question, record_property, pytestconfig):
    """findLetters finds at least 95% of the characters (a box with IoU >= 0.5 each)"""
    boxes = boxes_or_fail(detection)
    if detection.overlay is not None:
        artifacts.record_image(pytestconfig, record_property, f"q4_boxes_{Path(detection.name).stem}.jpg",
                               detection.overlay, f"{detection.name}: the ground truth's boxes (left, blue) and "
                               f"yours (right): green found a character, red found none, orange = missed"
                               + (f" ({artifacts.MAX_BOXES:,} of your {len(boxes):,} boxes drawn, spread over the "
                                  "page)" if len(boxes) > artifacts.MAX_BOXES else ""))
    record_property("recall", round(detection.recall, 4))
    threshold = question.threshold("recall")
    if detection.recall >= threshold:
        return
    truth = photos.boxes(detection.name)
    raise Failure(f"findLetters found {detection.matched} of the {len(truth)} characters of {detection.name} "
                  f"(recall {detection.recall:.0%}, with {len(boxes)} boxes); at least {threshold:.0%} is needed",
                  expected=f"recall >= {threshold:.0%}", actual=f"{detection.recall:.1%}",
                  hint=recall_hint(detection, boxes, truth))


@pytest.mark.rubric("Q4.2", weight=2)
def test_find_letters_precision(page, detection, photos, question, record_property):
    """at least 90% of findLetters's boxes are characters (IoU >= 0.5 with one each), for boxes that find at least half of them"""
    boxes = boxes_or_fail(detection)
    record_property("precision", round(detection.precision, 4))
    least = question.threshold("precision_needs_recall")
    if not numerics.at_least(detection.recall, least):
        raise Failure(f"findLetters found {detection.recall:.0%} of the characters of {detection.name}: precision "
                      f"(how many of the boxes are characters) counts only for boxes that find at least "
                      f"{least:.0%} of them", expected=f"recall >= {least:.0%}", actual=f"{detection.recall:.1%}",
                      hint="see the recall check first")
    threshold = question.threshold("precision")
    if detection.precision >= threshold:
        return
    truth = photos.boxes(detection.name)
    extra = len(boxes) - detection.matched
    raise Failure(f"{extra} of your {len(boxes)} boxes on {detection.name} match no character "
                  f"(precision {detection.precision:.0%}); at least {threshold:.0%} of them must",
                  expected=f"precision >= {threshold:.0%}", actual=f"{detection.precision:.1%}",
                  hint=precision_hint(detection, boxes, truth))


def _areas(b) -> np.ndarray:
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def recall_hint(found: Detection, boxes, truth) -> str:
    if found.looks_swapped:
        return "your boxes look like [x1, y1, x2, y2]; rows (y) come first"
    if len(boxes) == 0:
        return "no boxes at all: check the threshold (ink is darker than the paper) and the size filter"
    if len(boxes) > 5 * len(truth):
        return (f"{len(boxes)} boxes for {len(truth)} characters: most are specks, and a character broken "
                "into pieces gets no box of its own; smooth before thresholding and skip tiny regions")
    merged = merged_hint(boxes, truth)
    if merged:
        return merged
    if len(boxes) < 0.8 * len(truth):
        return ("fewer boxes than characters: faint or thin characters may be lost to the threshold "
                "or removed by the size filter")
    from fixtures.boxes import iou_matrix
    best = iou_matrix(truth, boxes).max(axis=1)
    if ((best > 0.1) & (best < 0.5)).sum() >= 0.3 * len(truth):
        return "your boxes overlap the characters but not tightly (IoU < 0.5): do not pad them much"
    return "some characters have no box of their own: look at the boxes drawn over this photo"


def merged_hint(boxes, truth) -> str:
    """Said when many boxes hold the centres of two or more characters ("" otherwise)."""
    centres = np.column_stack([(truth[:, 0] + truth[:, 2]) / 2, (truth[:, 1] + truth[:, 3]) / 2])
    holds = ((centres[None, :, 0] >= boxes[:, None, 0]) & (centres[None, :, 0] < boxes[:, None, 2])
             & (centres[None, :, 1] >= boxes[:, None, 1]) & (centres[None, :, 1] < boxes[:, None, 3])).sum(axis=1)
    several = int((holds >= 2).sum())
    if several < max(1, 0.2 * len(boxes)):
        return ""
    return (f"{several} of your {len(boxes)} boxes hold two or more characters each: too much dilation "
            "or closing joins neighbouring letters (or lines); use a smaller footprint")


def precision_hint(found: Detection, boxes, truth) -> str:
    if found.looks_swapped:
        return "your boxes look like [x1, y1, x2, y2]; rows (y) come first"
    merged = merged_hint(boxes, truth) if len(boxes) <= 5 * len(truth) else ""
    if merged:
        return merged
    typical = float(np.median(_areas(truth)))
    if (_areas(boxes) < 0.1 * typical).sum() >= 0.5 * (len(boxes) - found.matched):
        return ("most of the extra boxes are tiny (specks, paper texture, JPEG noise): skip regions much "
                "smaller than a character, e.g. by area")
    return "some boxes are not single characters (pieces of one, or several together)"


# ---------------------------------------------------------------------------------------------
# Q4.4: run_q4.py's printed text

TEXT_WEIGHT = 6      # the photos' text checks share this weight; running and printing have 1 each


@dataclass
class Q4Run:
    outcome: object = None                 # the ScriptOutcome (None when run_q4 could not start)
    problem: CheckFailure | None = None    # why it could not run
    notes: list = field(default_factory=list)
    scores: dict = field(default_factory=dict)   # photo -> textmatch.ImageScore
    text_problem: CheckFailure | None = None     # why the printed text was not scored


@pytest.fixture(scope="session")
def q4_run(q3_run, _data_sandbox, submission, photos, rubric, run_seed) -> Q4Run:
    """run_q4.py run once, right after run_q3.py in the same sandbox, so it reads the
    q3_weights.pickle that run_q3.py wrote (or, when run_q3 wrote none, the one submitted)."""
    from graders.checks import training_runs
    run = Q4Run()
    if training_runs.WEIGHTS_FILE not in q3_run.outcome.files:
        if not (submission / training_runs.WEIGHTS_FILE).is_file():
            run.problem = Failure(
                f"run_q4.py needs {training_runs.WEIGHTS_FILE}, and run_q3.py did not write it"
                + (f" ({q3_run.problem.rationale})" if q3_run.problem else ""),
                expected=f"{training_runs.WEIGHTS_FILE} from run_q3.py", actual="no weights file",
                hint="make run_q3.py train and save its weights first (see Q3.1)")
            return run
        run.notes.append(f"run_q3.py did not write {training_runs.WEIGHTS_FILE}, so run_q4.py used the "
                         f"{training_runs.WEIGHTS_FILE} in your submission")
    run.outcome = _data_sandbox.run_script(
        "run_q4.py", globals=(), files=(), seed=run_seed,
        limits=call_limits(_data_sandbox, rubric["Q4.4"].script_seconds))
    try:
        run.scores = photos.scores(run.outcome.stdout, "run_q4.py")
    except Failure as failure:
        run.text_problem = failure
    return run


@pytest.fixture
def finished_q4(q4_run, data_sandbox, request) -> Q4Run:
    for note in q4_run.notes:
        request.node.user_properties.append((plugin.NOTE, note))
    if q4_run.problem is not None:
        raise q4_run.problem
    return q4_run


def unimplemented_for_run_q4(box, rubric) -> list[str]:
    """The functions run_q4.py calls that are still the handout's stubs."""
    from graders.suites._scripts import unimplemented
    limits = call_limits(box, rubric["Static"].call_seconds)
    missing = [f"{name} in nn.py" for name in unimplemented(box, limits) if name in ("forward", "sigmoid", "softmax")]
    out = box.call("q4", "findLetters", np.ones((24, 24, 3)), limits=limits)
    if out.ok and isinstance(returned_pair(out.value), NotImplementedYet):
        missing.append("findLetters in q4.py")
    return missing


def run_q4_failure(outcome, box, rubric) -> None:
    """Raise why run_q4.py stopped, with a hint for the usual causes."""
    if outcome.ok:
        return
    if outcome.error != "timeout":
        missing = unimplemented_for_run_q4(box, rubric)
        if missing:
            raise Failure(f"run_q4.py cannot run yet: {', '.join(missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} not implemented yet",
                          hint="run_q4.py calls findLetters and the network's forward pass; implement them first")
    try:
        check_outcome(outcome, "run_q4.py")
    except StudentError as failure:
        text = failure.rationale + (getattr(failure, "traceback", "") or "")
        if "q3_weights.pickle" in text:
            failure.hint = failure.hint or "run_q4.py opens q3_weights.pickle in python/, where run_q3.py saves it"
        elif "No such file or directory" in text or "FileNotFoundError" in text:
            failure.hint = failure.hint or ("run_q4.py runs from python/ with the photos in ../images: "
                                            "use relative paths like '../images', not paths of your own machine")
        raise


@pytest.mark.rubric("Q4.4")
@pytest.mark.xdist_group("q3")
def test_run_q4_finishes(finished_q4, data_sandbox, photos, rubric, pytestconfig, record_property):
    """run_q4.py runs to its end on the photos in ../images, with the weights run_q3.py saved"""
    outcome = finished_q4.outcome
    record_property("seconds", round(outcome.elapsed, 1))
    record_property("output", messages.clip(outcome.stdout or "", head=100, tail=100))
    artifacts.save_figures(pytestconfig, record_property, "run_q4", outcome.figures,
                           dropped=outcome.figures_dropped)
    run_q4_failure(outcome, data_sandbox, rubric)
    require_read(finished_q4, photos, rubric["Q4.4"], "running to its end")


def require_read(run: Q4Run, photos: Photos, question, what: str) -> None:
    """Fail `what` unless the run read the photos: printing fixed text (the pages' titles), or
    nothing that resembles them, is no reading."""
    if run.text_problem is not None or not run.scores:
        return      # the text checks say why the text was not scored
    counted = [run.scores[n] for n in photos.counted() if n in run.scores]
    characters = sum(s.characters for s in counted)
    accuracy = sum(s.accuracy * s.characters for s in counted) / max(characters, 1)
    floor = question.threshold("read_floor")
    if not numerics.at_least(accuracy, floor):
        raise Failure(f"{what} counts for a run that read the photos, and run_q4.py read {accuracy:.0%} of "
                      f"their {characters} characters right", expected=f">= {floor:.0%} of the characters",
                      actual=f"{accuracy:.1%}",
                      hint="classify each crop with the network of Q3 and print what it read, line by line")


@pytest.mark.rubric("Q4.4")
@pytest.mark.xdist_group("q3")
def test_run_q4_prints_text(finished_q4, photos, rubric, record_property):
    """run_q4.py prints the text it reads from each photo, one printed line per line of text"""
    outcome = finished_q4.outcome
    lines = textmatch.printed_lines(outcome.stdout)
    record_property("printed_lines", len(lines))
    stopped = "" if outcome.ok else f" (it stopped early: {(outcome.message or outcome.error).splitlines()[0]})"
    if not lines:
        raise Failure(f"run_q4.py printed no text{stopped}", expected="the text of each photo, line by line",
                      actual=repr(outcome.stdout.strip()[:80]) if outcome.stdout.strip() else "nothing",
                      hint="print each line of characters your network read, e.g. print(''.join(chars))")
    if finished_q4.text_problem is not None:
        raise finished_q4.text_problem
    if all(not score.printed for score in finished_q4.scores.values()) or \
            all(line.printed is None for s in finished_q4.scores.values() for line in s.lines):
        raise Failure(f"none of the {len(lines)} lines run_q4.py printed resembles the text of a photo{stopped}",
                      expected="the photos' text", actual=f"{lines[0][:60]!r} ...",
                      hint="print the characters your network read (letters and digits), one line per line of text")
    require_read(finished_q4, photos, rubric["Q4.4"], "printing the text")


@pytest.mark.xdist_group("q3")
def test_run_q4_text(photo, request, photos, finished_q4, question, record_property):
    """run_q4.py reads at least 80% of each photo's characters right (edit distance per line)"""
    name = photo_name(request, photos, photo)
    outcome = finished_q4.outcome
    if not textmatch.printed_lines(outcome.stdout):
        pytest.skip("run_q4.py printed no text")
    if finished_q4.text_problem is not None:
        raise finished_q4.text_problem
    score = finished_q4.scores[name]
    record_property("character_accuracy", round(score.accuracy, 4))
    record_property("lines", [[line.truth, line.printed, line.errors] for line in score.lines])
    threshold = question.threshold("character_accuracy")
    if score.accuracy >= threshold:
        return
    stopped = "" if outcome.ok else " (run_q4.py stopped before it finished)"
    if not score.printed or all(line.printed is None for line in score.lines):
        raise Failure(f"no printed line resembles the text of {name}{stopped}",
                      expected=f">= {threshold:.0%} of its {score.characters} characters", actual="none found",
                      hint="run_q4.py must read every photo in ../images")
    worst = sorted(score.lines, key=lambda line: line.accuracy)[:3]
    shown = "; ".join(f"{line.truth!r} read as {line.printed!r}" if line.printed else f"{line.truth!r} missing"
                      for line in worst if line.errors)
    raise Failure(f"run_q4.py read {score.accuracy:.0%} of the {score.characters} characters of {name} right"
                  f"{stopped}; at least {threshold:.0%} is needed. Worst lines: {shown}",
                  expected=f">= {threshold:.0%}", actual=f"{score.accuracy:.1%}",
                  hint="make each crop look like the training data: square, padded, 32 x 32, dark strokes "
                       "of similar width on white, transposed as the .mat rows are; and group boxes into "
                       "lines by their centres")
