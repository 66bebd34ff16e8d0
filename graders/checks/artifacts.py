"""Pictures the checks keep beside grade.json for the report.

Everything here runs on the trusted side from data the grader already holds (the photos and the
ground truth it owns, the boxes and weights the worker sent back), so a picture can never be
something the submission drew to look right. Files go to <results folder>/figures/ and checks
record their paths, relative to grade.json, under data["figures"] (the script's own plots) or
data["images"] (the grader's pictures, with captions).
"""
from __future__ import annotations

import functools

from pathlib import Path

import numpy as np

FOLDER = "figures"
# a phone photo shrinks to this width per panel: boxes stay visible, the page stays a few MB
PANEL_WIDTH = 720
MAX_BOXES = 5000       # a submission may return 200,000 specks; the picture shows an even sample
# A script's figures written beside grade.json: the reference plots fewer than ten (~1.7 MB); a
# script showing 20,000 figures keeps the first ones within these bounds (the count is still
# recorded, so a check asking for a plot is judged on what the script did).
MAX_FIGURES = 40
MAX_FIGURE_BYTES = 3_000_000            # one picture (the report embeds at most 1.5 MB of one)
MAX_FIGURES_TOTAL_BYTES = 30_000_000    # all of one script's
COLOURS = {"truth": (40, 110, 230), "matched": (20, 160, 60), "false": (220, 30, 30), "missed": (255, 150, 0)}


def folder(pytestconfig) -> Path | None:
    """The figures folder beside the results document, or None when results are not kept."""
    results = pytestconfig.getoption("results", None)
    return Path(results).parent / FOLDER if results else None


def save(pytestconfig, name: str, data: bytes) -> str | None:
    """Write one picture; returns its path relative to grade.json (None when nothing is kept)."""
    target = folder(pytestconfig)
    if target is None:
        return None
    target.mkdir(parents=True, exist_ok=True)
    (target / name).write_bytes(data)
    return f"{FOLDER}/{name}"


def save_figures(pytestconfig, record_property, stem: str, figures: list, dropped: int = 0) -> int:
    """Keep a script's captured plt.show() figures and record their paths; returns how many came back.

    At most MAX_FIGURES are written, each under MAX_FIGURE_BYTES and all under
    MAX_FIGURES_TOTAL_BYTES; what is left out, and the `dropped` ones the sandbox did not take
    (ScriptOutcome.figures_dropped), is counted in data["figures_left_out"] and said in a note."""
    names, total, left_out = [], 0, 0
    for i, png in enumerate(figures, 1):
        size = len(png) if isinstance(png, (bytes, bytearray, memoryview)) else None
        if (size is None or len(names) >= MAX_FIGURES or size > MAX_FIGURE_BYTES
                or total + size > MAX_FIGURES_TOTAL_BYTES):
            left_out += 1
            continue
        name = save(pytestconfig, f"{stem}_{i}.png", bytes(png))
        if name is None:
            break       # nothing is kept in this run
        names.append(name)
        total += size
    if names:
        record_property("figures", names)
    if left_out + dropped:
        record_property("figures_left_out", left_out + dropped)
        from graders.checks import plugin
        record_property(plugin.NOTE, f"{stem}: {left_out + dropped} of its {len(figures) + dropped} figures were "
                                     f"dropped (a script's first {MAX_FIGURES} figures are kept, "
                                     f"{MAX_FIGURES_TOTAL_BYTES // 1_000_000} MB in all)")
    record_property("figure_count", len(figures))
    return len(figures)


def record_image(pytestconfig, record_property, name: str, data: bytes, caption: str) -> None:
    path = save(pytestconfig, name, data)
    if path is not None:
        record_property("images", [{"path": path, "caption": caption}])


def encode(image: np.ndarray, fmt: str = "png") -> bytes:
    """uint8 RGB/grey array -> PNG or JPEG bytes (JPEG for photos: a tenth of the size)."""
    import io
    from PIL import Image
    # Pillow itself: imageio's wrapper around it took three times as long for a JPEG
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG" if fmt == "jpeg" else "PNG",
                                **({"quality": 80} if fmt == "jpeg" else {}))
    return buffer.getvalue()


def _outline(panel: np.ndarray, boxes, scale: float, colour, width: int) -> None:
    """Draw box outlines `width` pixels thick, just outside each box; boxes are clipped to the
    panel first, because a submission's boxes may lie anywhere (outside the photo, swapped
    corners, NaN)."""
    h, w = panel.shape[:2]
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    if len(boxes) > MAX_BOXES:       # spread over the page, not the first rows of it
        boxes = boxes[np.linspace(0, len(boxes) - 1, MAX_BOXES).astype(int)]
    boxes = boxes * scale
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    outer = np.clip(boxes.round() + [-width, -width, width, width], 0, [h, w, h, w]).astype(int)
    for (y1, x1, y2, x2), (top, left, bottom, right) in zip(np.clip(boxes.round(), 0, [h, w, h, w]).astype(int), outer):
        if y2 <= y1 or x2 <= x1:
            continue
        panel[top:y1, left:right] = colour
        panel[y2:bottom, left:right] = colour
        panel[top:bottom, left:x1] = colour
        panel[top:bottom, x2:right] = colour


def boxes_overlay(photo_path: Path, truth: np.ndarray, boxes: np.ndarray, matches) -> bytes:
    """The photo twice, side by side: left the ground truth's boxes; right the submission's boxes,
    green where they match a character, red where they match none, and in orange the characters
    no box found. Returns JPEG bytes.

    Read from the file, not the array the grader sent: a JPEG decodes straight at a fraction of
    its size (PIL's draft mode), which takes milliseconds where shrinking a 12-megapixel float
    array took seconds per photo."""
    stat = Path(photo_path).stat()
    small, scale = _panel(str(photo_path), stat.st_mtime_ns, stat.st_size)
    size = (small.shape[1], small.shape[0])
    width = max(1, round(size[0] / 450))
    left, right = small.copy(), small.copy()
    _outline(left, truth, scale, COLOURS["truth"], width)
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    truth = np.asarray(truth, dtype=float).reshape(-1, 4)
    found = np.zeros(len(boxes), dtype=bool)
    seen = np.zeros(len(truth), dtype=bool)
    found[[i for i, _, _ in matches]] = True
    seen[[j for _, j, _ in matches]] = True
    _outline(right, boxes[~found], scale, COLOURS["false"], width)
    _outline(right, boxes[found], scale, COLOURS["matched"], width)
    _outline(right, truth[~seen], scale, COLOURS["missed"], width + 1)
    gap = np.full((size[1], 12, 3), 255, np.uint8)
    return encode(np.concatenate([left, gap, right], axis=1), "jpeg")


@functools.lru_cache(maxsize=16)
def _panel(path: str, mtime_ns: int, file_size: int) -> tuple[np.ndarray, float]:
    """(the photo shrunk to PANEL_WIDTH, read-only; its scale): decoded once per process, as a
    batch grades every submission on the same photos."""
    from PIL import Image
    with Image.open(path) as image:
        full_width, full_height = image.size
        scale = min(1.0, PANEL_WIDTH / full_width)
        size = (max(1, round(full_width * scale)), max(1, round(full_height * scale)))
        image.draft("RGB", size)
        small = np.array(image.convert("RGB").resize(size, Image.BILINEAR))
    small.setflags(write=False)
    return small, scale


def image_grid(rows: list[list[np.ndarray]], zoom: int = 3) -> bytes:
    """Rows of same-sized grey images in [0, 1] as one PNG, enlarged `zoom` times (nearest)."""
    tiles = [np.concatenate([np.pad(np.clip(np.nan_to_num(t), 0, 1), 1, constant_values=1) for t in row], axis=1)
             for row in rows]
    grid = np.concatenate(tiles, axis=0)
    grid = np.kron(grid, np.ones((zoom, zoom)))
    return encode((grid * 255).round().astype(np.uint8))

