"""How to debug a failed check: one entry per check, written once, in the student's terms.

Each suite's entries live in graders/debug_pages/<suite>.toml, keyed by the check's function name
(test_softmax_large_inputs): what the check does, what to try in a Python shell started in the
student's python/ folder, and the usual causes. The report shows the entry of every check that
failed, linked from the check.
"""
from __future__ import annotations

import functools
import tomllib
from pathlib import Path

PAGES = Path(__file__).resolve().parents[1] / "debug_pages"


@functools.cache
def entries() -> dict[str, dict]:
    """check function name -> {"does", "try", "causes"} from every suite's file."""
    out = {}
    for path in sorted(PAGES.glob("*.toml")):
        with open(path, "rb") as f:
            out.update(tomllib.load(f))
    return out


def entry(check_name: str) -> dict | None:
    """The entry of a check (its parameters, such as [page_01.jpg], left out), or None."""
    return entries().get(check_name.split("[", 1)[0])
