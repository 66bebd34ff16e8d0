"""Shared fixtures of the harness's own tests (kept small and generic)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE_PYTHON = REPO / "reference" / "python"


def build_submission(root: Path, overrides=None, base: Path = REFERENCE_PYTHON) -> Path:
    """root/python = a copy of base (the reference by default) with files replaced.

    overrides: a folder whose *.py files replace base's, or a {name: source text} dict.
    Returns the python/ folder.
    """
    python_dir = Path(root) / "python"
    shutil.copytree(base, python_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pickle"))
    if isinstance(overrides, (str, Path)):
        for path in Path(overrides).glob("*.py"):
            shutil.copyfile(path, python_dir / path.name)
    elif overrides:
        for name, text in overrides.items():
            (python_dir / name).write_text(text)
    return python_dir


@pytest.fixture
def make_submission(tmp_path):
    """make_submission(overrides=None, base=reference) -> the python/ folder of a new submission."""
    count = 0

    def make(overrides=None, base: Path = REFERENCE_PYTHON) -> Path:
        nonlocal count
        count += 1
        return build_submission(tmp_path / f"submission{count}", overrides, base)

    return make
