"""Typed check failures, in the spirit of check50's Mismatch / Missing / Failure.

A check raises one of these to fail with a message the student can act on. Each carries what
was expected, what came back and a hint in the student's terms; `render()` turns any of them
into the same plain dict, which the results document, the terminal table and the HTML report
all show the same way. Anything else a check raises is a harness error, not the student's fault
(see graders.checks.plugin).
"""
from __future__ import annotations

import re

import numpy as np

# Statuses a failure may carry; the plugin adds passed, error, skipped and hidden-not-run.
FAILED, TIMEOUT = "failed", "timeout"


def describe(value, limit: int = 120) -> str:
    """A short, readable description of a returned value (shape and dtype for arrays)."""
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            body = np.array2string(value, precision=4, separator=", ")
            return f"array {body} (shape {value.shape}, {value.dtype})"
        return f"an array of shape {value.shape} ({value.dtype})"
    if isinstance(value, dict) and set(value) == {"__unsupported__"}:
        return f"an object of type {value['__unsupported__']}"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CheckFailure(AssertionError):
    """A failed check: the submission did something other than what the rubric asks."""

    status = FAILED

    def __init__(self, rationale: str, *, hint: str = "", expected=None, actual=None):
        super().__init__(rationale)
        self.rationale, self.hint = rationale, hint
        self.expected, self.actual = expected, actual

    def render(self) -> dict:
        out = {"message": clip(self.rationale)}
        if self.expected is not None:
            out["expected"] = clip(self.expected if isinstance(self.expected, str) else describe(self.expected))
        if self.actual is not None:
            out["actual"] = clip(self.actual if isinstance(self.actual, str) else describe(self.actual))
        if self.hint:
            out["hint"] = self.hint
        return out


class Failure(CheckFailure):
    """A failure explained in one sentence (check50's Failure)."""


class Mismatch(CheckFailure):
    """Something came back, but not what was expected (check50's Mismatch)."""

    def __init__(self, what: str, expected, actual, *, hint: str = ""):
        super().__init__(f"{what}: expected {describe(expected) if not isinstance(expected, str) else expected}, "
                         f"got {describe(actual) if not isinstance(actual, str) else actual}",
                         hint=hint, expected=expected, actual=actual)


class Missing(CheckFailure):
    """An item that should be in a collection is not (check50's Missing)."""

    def __init__(self, item: str, collection: str, *, present=(), hint: str = ""):
        have = ", ".join(repr(k) for k in present) if present else "nothing"
        super().__init__(f"{item} is missing from {collection} (it holds {have})", hint=hint,
                         expected=item, actual=have)


class NotImplementedYet(CheckFailure):
    """The function is still the handout's stub (returns None or raises NotImplementedError)."""

    def __init__(self, what: str, detail: str = ""):
        super().__init__(f"{what} is not implemented yet" + (f" ({detail})" if detail else ""),
                         hint="fill in the part marked 'your code here' in the handout's file")


class StudentError(CheckFailure):
    """The student's code raised, crashed or ran out of a resource while the check ran it."""

    def __init__(self, message: str, *, traceback: str = "", timeout: bool = False, hint: str = ""):
        super().__init__(message, hint=hint)
        self.traceback = traceback
        if timeout:
            self.status = TIMEOUT

    def render(self) -> dict:
        out = super().render()
        if self.traceback:
            out["traceback"] = clip(self.traceback)
        return out


def clip(text, max_chars: int = 20_000, head: int = 200, tail: int = 200) -> str:
    """Text cut to its first `head` and last `tail` lines, then to `max_chars`, around markers
    saying how much went.

    A student's exception can carry megabytes (a 10,000-line message, a printed array); the
    start says what went wrong and the end where, so both are kept and the middle is dropped.
    Every place that shows student text (grade.json, the report, Gradescope) cuts with this."""
    if text is None:
        return ""
    text = text if isinstance(text, str) else str(text)
    lines = text.splitlines()
    if len(lines) > head + tail + 1:
        cut = len(lines) - head - tail
        text = "\n".join(lines[:head] + [f"... {cut} lines cut ..."] + (lines[-tail:] if tail else []))
    if len(text) > max_chars:
        keep_head, keep_tail = max_chars * 2 // 3, max_chars // 3
        cut = len(text) - keep_head - keep_tail
        text = f"{text[:keep_head]}\n... {cut} characters cut ...\n{text[-keep_tail:]}"
    return text


def render_text(rendered: dict, indent: str = "    ") -> str:
    """The terminal form of a rendered failure: message, then expected/actual/hint lines."""
    lines = [rendered.get("message", "")]
    for key in ("expected", "actual", "hint"):
        if rendered.get(key) and key != "message" and rendered[key] not in lines[0]:
            lines.append(f"{key}: {rendered[key]}")
    return ("\n" + indent).join(line for line in lines if line)


# C0 and C1 controls but newline and tab (ESC starts the terminal's escape sequences: clear screen,
# cursor moves that overwrite a line, OSC 52 clipboard writes; CR rewrites a line), DEL, and the
# bidirectional overrides that make text read other than it is stored.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_AND_NEWLINES = re.compile(_CONTROLS.pattern[:-1] + "\n\u2028\u2029\x85]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text, newlines: bool = True) -> str:
    """text safe to print to a terminal or a log: control characters written as \\x1b, \\r...
    (newlines kept unless newlines=False, for what must stay one line: a name, a note).

    Everything printed or logged that quotes a student (messages, file names, printed output)
    goes through this, so a submission cannot clear the TA's screen, fake a line of the score
    table, or write to their clipboard."""
    if text is None:
        return ""
    text = text if isinstance(text, str) else str(text)
    return (_CONTROLS if newlines else _CONTROLS_AND_NEWLINES).sub(_escaped, text)


# quoted values and numbers differ between submissions for the same mistake
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_FILE = re.compile(r"\b[\w.-]+\.(?:jpe?g|png|py|pt|pth|pickle|mat)\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SHAPE = re.compile(r"\((?:\s*N\s*,)+\s*N?\s*\)")


def failure_pattern(message: str) -> str:
    """One failure's message with its particulars blanked, so the same mistake groups together."""
    first = (message or "").strip().splitlines()[0] if (message or "").strip() else "(no message)"
    text = _QUOTED.sub("'…'", first)
    text = _FILE.sub("…", text)        # one mistake on ten photos, or in four scripts, is one mistake
    text = _NUMBER.sub("N", text)
    text = _SHAPE.sub("(…)", text)
    return clip(" ".join(text.split()), 300, 1, 0)
