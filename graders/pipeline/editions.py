"""The handout's editions as trees of files: the staff's reference and stubs of each edition.

`reference/python/` is the 2022 edition. Another edition keeps only what differs in
`reference/<edition>/python/`: whole files of its own (the 2019 PCA script, run_q6.py) and
patches against the 2022 files (`run_q3.py.diff`: data1's paths, 30 epochs), so a fix to a
shared file reaches every edition and no solution is written twice. `compose` lays out an
edition's whole tree; its stubs are generated from that tree as student/ is from reference/
(graders.staff.stubs.student_tree).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from graders.checks import rubric as rubric_mod

BASE = "2022"


def overlay(root: Path, edition: str) -> Path | None:
    """root/<edition>/python when the staff tree `root` has one for this edition."""
    folder = Path(root) / edition / "python"
    return folder if edition != BASE and folder.is_dir() else None


def apply_patch(patch: Path, folder: Path) -> None:
    """Apply a unified diff (made against the file as it sits in `folder`) in place."""
    # The ceiling keeps git from finding an enclosing repository, so it patches plain files.
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(Path(folder).resolve().parent))
    done = subprocess.run(["git", "apply", "--whitespace=nowarn", str(Path(patch).resolve())], cwd=folder,
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{patch} no longer applies (update it to the current code it "
                           f"patches): {done.stderr.strip()}")


def apply_overrides(folder: Path, overrides: Path) -> None:
    """Copy overrides/*.py into folder and apply overrides/*.diff to it."""
    for path in sorted(Path(overrides).glob("*.py")):
        shutil.copyfile(path, Path(folder) / path.name)
    for patch in sorted(Path(overrides).glob("*.diff")):
        apply_patch(patch, folder)


def compose(root: Path, edition: str, out: Path) -> Path:
    """out/python = root/python with root/<edition>/python applied; returns out/python."""
    python_dir = Path(out) / "python"
    shutil.copytree(Path(root) / "python", python_dir,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pickle", "*.pt", "*.pth"))
    extra = overlay(root, edition)
    if extra is not None:
        apply_overrides(python_dir, extra)
        # the base edition's own scripts (2022's run_q6_*.py) are not this edition's
        own = {f for files in rubric_mod.load(edition).files.values() for f in files}
        base = {f for files in rubric_mod.load(BASE).files.values() for f in files}
        for name in base - own:
            (python_dir / name).unlink(missing_ok=True)
    return python_dir
