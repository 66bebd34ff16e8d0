"""Where a grading's sandboxes and data come from, for the suites' fixtures (conftest.py) and the
suites that open a sandbox of their own (q3_second_set): the course key of staff grading, the
course data folders, the handout's given files, and the notes and isolation a sandbox puts on
the check that used it.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from graders.checks import plugin
from graders.checks import static

# The handout's copies of the files it gives (util.py), which replace a student's own: the
# student handout carries them in graders/given/ (graders.staff.release), the staff repository and the
# Gradescope bundle in reference/python/. Public suites copy them into the sandbox and never
# import anything from reference/: hidden checks live in hidden_*.py and use graders.staff.staff_solution.
GIVEN_DIRS = (Path(__file__).resolve().parents[1] / "given",
              Path(__file__).resolve().parents[2] / "reference" / "python")


def grading_key(config) -> bytes | None:
    """The course key under staff grading (--staff, set by graders.pipeline.grade.run), None for a
    student's local grade (graders.checks.secret explains the modes)."""
    if not config.getoption("staff", False):
        return None
    from graders.checks import secret
    key = secret.staff_key()
    if key is None:
        raise pytest.UsageError("--staff needs the course key: `hw5grade secret` makes it "
                                f"({secret.ENV_KEY} or {secret.key_file()})")
    return key


def course_data_dirs(option: str | None, layout: dict | None = None,
                     key: bytes | None = None) -> tuple[Path, Path | None]:
    """(data, images) from --data-dir, or the embedded synthetic profile (built when needed)
    with NIST36 where the edition's scripts read it (layout: Rubric.nist36_layout); under a
    course key (staff grading) the staff profile, whose photos the student has never seen.
    The grader-only split is fixtures.cache.grader_split_path(data), never mounted."""
    from fixtures import cache
    if option:
        root = Path(option).resolve()
        data, images = (root / "data", root / "images") if (root / "data").is_dir() else (root, root.parent / "images")
        if not images.is_dir():
            return data, None
        # staff grading reads the text of photos no student has seen besides the course's own
        return data, cache.with_staff_pages(images, key, log=lambda *a: None) if key else images
    profile = cache.grading(key, log=lambda *a: None, files=layout)
    return profile.data_dir, profile.images_dir


def open_sandbox(python_dir: Path, data=None, images=None, *, spare: bool = False):
    """spare: take the process's spare when a batch keeps one (Sandbox.open), for a sandbox whose
    call worker runs; one that runs scripts only starts a fresh worker for each anyway."""
    from graders.sandbox.sandbox import Sandbox
    return (Sandbox.open if spare else Sandbox)(python_dir, data, images, given_files=given_files(),
                                                repairs=plugin.sandbox_repairs())


def given_files() -> dict:
    """name -> the handout's copy, from the first of GIVEN_DIRS that holds them."""
    for folder in GIVEN_DIRS:
        found = {name: folder / name for name in static.GIVEN_FILES if (folder / name).is_file()}
        if found:
            return found
    return {}


def sandbox_notes(box) -> list[str]:
    additions = getattr(box, "additions", {}) or {}
    notes = [f"your {name} differed from the handout's; the handout's copy was used"
             + (f", with what yours adds ({', '.join(additions[name][:8])})" if additions.get(name) else "")
             for name in sorted(getattr(box, "replaced", ()) or ())]
    if getattr(box, "isolation", "bubblewrap") != "bubblewrap" and os.geteuid() == 0:
        # the staff's to know: a root grader without bubblewrap (Gradescope) and whose rights the code had
        from graders.sandbox import sandbox as sandbox_mod
        notes.append(f"student code ran without bubblewrap, as {box.worker_user}"
                     + ("" if box.run_as else f" ({sandbox_mod.unprivileged_problem()}): it could read the "
                                              "grader's files"))
    return notes


def record_sandbox(request, box):
    # Notes and isolation ride on the check's report, so they reach the xdist controller too.
    request.node.user_properties.append((plugin.ISOLATION, box.isolation))
    request.node.user_properties.append((plugin.ENFORCEMENT, box.enforcement))
    for note in sandbox_notes(box):
        request.node.user_properties.append((plugin.NOTE, note))
