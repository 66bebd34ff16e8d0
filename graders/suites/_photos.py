"""The photos a grading judges findLetters and run_q4.py on, and their ground truth: those of the
data profile in use (the synthetic pages with truth/pages.json beside them, the staff profile's
under a course key, or with --data-dir the course's images/ with the committed hand-checked
boxes), matched by file name and size. Read once per process, at collection, by Q4 and by the
2019 edition's Q7.1.4 (the photos read by a PyTorch network).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from graders.suites._sandboxes import course_data_dirs, grading_key

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
PHOTOS = pytest.StashKey["Photos"]()


@dataclass
class Photos:
    images_dir: Path | None
    truth: dict = field(default_factory=dict)          # file name -> {"size", "lines"}
    notes: list = field(default_factory=list)          # photos that are not graded, and why

    def boxes(self, name: str) -> np.ndarray:
        return np.array([b for line in self.truth[name]["lines"] for b in line["boxes"]],
                        dtype=float).reshape(-1, 4)

    def text(self, name: str) -> list[str]:
        return [line["text"] for line in self.truth[name]["lines"]]

    def counted(self) -> list[str]:
        """The photos whose results earn points: with a course key's staff pages beside the course
        photos (--data-dir under a key), only the staff pages. The course photos' answers are
        public (the handout prints their text and ships their boxes), so a script could give them
        without reading anything: they are graded for the report, worth nothing."""
        from fixtures.cache import STAFF_PAGE_PREFIX
        staff = [n for n in self.truth if n.startswith(STAFF_PAGE_PREFIX)]
        return sorted(staff) if staff and len(staff) < len(self.truth) else sorted(self.truth)

    def public(self, name: str) -> bool:
        return name in self.truth and name not in self.counted()

    def scores(self, stdout: str, script: str) -> dict:
        """Photo name -> textmatch.ImageScore of what a script printed (Q4.4, 2019's Q7.1.4); a
        Failure when it printed far more text than the photos hold."""
        from graders.checks import textmatch
        from graders.results.messages import Failure
        try:
            return textmatch.score_output(stdout or "", {name: self.text(name) for name in self.truth}, script)
        except textmatch.TooMuchText as err:
            raise Failure(str(err), expected="the text of each photo, line by line",
                          hint="print one line per line of text on the photos, and little else") from None


def truth_files(images_dir: Path) -> list[Path]:
    """Where ground truth may be: a profile's own truth/pages.json beside images/ (the synthetic
    profile's layout), then the committed annotations of the course photos."""
    from fixtures import annotate
    return [images_dir.parent / "truth" / "pages.json", annotate.JSON_PATH]


def find_photos(config) -> Photos:
    """The graded photos of this run (computed once per process, at collection)."""
    if PHOTOS in config.stash:
        return config.stash[PHOTOS]
    photos = Photos(None)
    if config.getoption("submission", None):
        _, images_dir = course_data_dirs(config.getoption("data_dir"), key=grading_key(config))
        photos = Photos(images_dir)
        if images_dir is not None:
            known = {}
            for path in truth_files(images_dir):
                if path.is_file():
                    for name, entry in json.loads(path.read_text())["images"].items():
                        known.setdefault(name, entry)
            names = sorted(p.name for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            for name in names:
                entry = known.get(name)
                if entry is None:
                    photos.notes.append(f"{name} has no ground truth, so findLetters and run_q4 "
                                        "were not graded on it")
                elif tuple(entry["size"]) != image_size(images_dir / name):
                    photos.notes.append(f"{name} is not the photo the ground truth describes (its size "
                                        "differs), so it was not graded")
                else:
                    photos.truth[name] = entry
    config.stash[PHOTOS] = photos
    return photos


def image_size(path: Path) -> tuple[int, int]:
    from PIL import Image        # reads the header only; a 12 Mpx photo is not decoded
    with Image.open(path) as im:
        return im.height, im.width
