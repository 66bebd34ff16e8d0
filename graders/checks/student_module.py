"""Calls into a submission through its sandbox, and the failures they turn into.

Used by the suites' fixtures and checks; nothing here runs student code in this process.
"""
from __future__ import annotations

import dataclasses
import re

from graders.results import messages
from graders.checks import static


class StudentModule:
    """Calls into one module of the submission, inside the sandbox."""

    def __init__(self, box, module: str, limits=None):
        self.box, self.module, self.limits = box, module, limits

    @property
    def filename(self) -> str:
        return self.module.replace(".", "/") + ".py"

    def call(self, function: str, *args, seed: int = 0, **kwargs):
        """The raw Outcome of module.function(*args, **kwargs).

        A function that timed out once is not called again in this run: its later checks fail
        at once with the same message instead of each waiting out the budget."""
        timed_out = self.box.__dict__.setdefault("_hw5_timed_out", {})
        key = (self.module, function)
        if key in timed_out:
            return timed_out[key]
        out = self.box.call(self.module, function, *args, seed=seed, limits=self.limits, **kwargs)
        if out.error == "timeout":
            timed_out[key] = out
        return out

    def value(self, function: str, *args, seed: int = 0, allow_none: bool = False, **kwargs):
        """The Outcome of a call that must return normally (and, unless allow_none, not None).

        Raises NotImplementedYet for the handout's stub, StudentError when the call raised,
        crashed or ran out of time."""
        out = self.call(function, *args, seed=seed, **kwargs)
        check_outcome(out, f"{function} in {self.filename}")
        if out.value is None and not allow_none:
            raise messages.NotImplementedYet(f"{function} in {self.filename}", "it returned None")
        return out


def check_outcome(out, what: str) -> None:
    """Raise the student-facing failure for an Outcome that did not return normally."""
    if out.ok:
        return
    if "NotImplementedError" in (out.message or ""):
        raise messages.NotImplementedYet(what, "it raises NotImplementedError")
    hints = static.drift_hints_for_error(out.message or "")
    message = (out.message or f"{what} failed ({out.error})").strip().splitlines()[0]
    raise messages.StudentError(message + where_suffix(message, out.traceback or ""),
                                traceback=out.traceback or "", timeout=out.error == "timeout",
                                hint="; ".join(hints))


def call_limits(box, seconds: float):
    """The sandbox's limits with this budget for CPU and wall clock."""
    from graders.sandbox.sandbox import Limits
    base = getattr(box, "limits", None) or Limits()
    return dataclasses.replace(base, cpu_seconds=seconds, wall_seconds=seconds)


def import_failure(box, module: str, seconds: float):
    """None when the submission's module imports in the sandbox, else the failed Outcome."""
    out = box.call("importlib", "import_module", module, limits=call_limits(box, seconds))
    return None if out.ok else out


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in [^\n]*\n\s*(.*)')


def where_suffix(message: str, traceback: str) -> str:
    """The student's line of code that failed, unless the message shows it already."""
    frames = _FRAME.findall(traceback)
    if not frames:
        return ""
    path, line, code = frames[-1]
    code = code.strip()[:100]
    if code and code in message:
        return ""
    if f"line {line}" in message:
        return f": {code}" if code else ""
    return f" ({path.rsplit('/', 1)[-1]} line {line}: {code})"
