"""The staff solution, loaded into the trusted process for the hidden checks.

Staff-only: the student handout ships neither this module nor reference/ (graders.staff.release
leaves both out), so only hidden suites (graders/suites/hidden_*.py) may import it.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REFERENCE_PYTHON = Path(__file__).resolve().parents[2] / "reference" / "python"


def load_reference_module(name: str, requires=()):
    """Import reference/python/<name>.py under a private name, its siblings visible to its
    `from util import *` only while it loads (the student's names never enter this process)."""
    saved = {dep: sys.modules.get(dep) for dep in requires}
    try:
        for dep in requires:
            sys.modules[dep] = _load_file(f"hw5ref_{dep}", REFERENCE_PYTHON / f"{dep}.py")
        return _load_file(f"hw5ref_{name}", REFERENCE_PYTHON / f"{name}.py")
    finally:
        for dep, module in saved.items():
            if module is None:
                sys.modules.pop(dep, None)
            else:
                sys.modules[dep] = module


def _load_file(module_name: str, path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the staff solution is not here (hidden checks need the "
                                "staff repository or the Gradescope bundle)")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
