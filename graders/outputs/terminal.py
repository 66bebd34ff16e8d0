"""The score table printed in the terminal, from a grade.json document.

By default it fits a screen, as check50 and pytest do: one line per question (score, checks
passed), then one line per failed check (its sentence and the first line of its message); a
question none of whose checks passed gets its first reason on its own line, and questions that
were not run for one same reason (torch missing) share one line. Hints, whole messages and
expected/actual values are in the HTML report and behind -v (verbose=True), which prints every
failed check in full, as the TA's logs want.

Student text reaches the terminal only through messages.printable and only after an indent or
a label of ours, so a printed "TOTAL 40/40" never starts a line; colour codes are the grader's own.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import sys

from graders.results import messages

PASSED = ("passed", "hidden-not-run")
GREEN, YELLOW, RED, DIM, RESET = "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[2m", "\x1b[0m"


def colour_wanted(stream=None) -> bool:
    """Colour on a terminal that shows it, never with NO_COLOR (no-color.org) or TERM=dumb."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def _fmt(x) -> str:
    return "-" if x is None else f"{x:g}"


def _failed(results: dict) -> dict:
    failed = {}
    for check in results.get("checks", []):
        if check.get("status") not in PASSED and not check.get("not_run"):
            failed.setdefault(check.get("question"), []).append(check)
    return failed


def first_line(text) -> str:
    lines = [t for t in str(text or "").splitlines() if t.strip()]
    return messages.printable(lines[0].strip(), newlines=False) if lines else ""


def format_table(results: dict, verbose: bool = True, width: int | None = None, colour: bool = False) -> str:
    """The terminal summary of a grade.json document: compact (verbose=False) or in full."""
    line = functools.partial(messages.printable, newlines=False)    # one line of student text
    width = width or shutil.get_terminal_size((100, 24)).columns
    paint = (lambda code, text: f"{code}{text}{RESET}") if colour else (lambda code, text: text)

    def fit(text: str) -> str:
        """One screen line (its length counts our colour codes: a painted line ends a little early)."""
        if verbose or len(text) <= width:
            return text
        cut = re.sub(r"\x1b\[[0-9;]*$", "", text[:max(20, width - 1)])      # never half a colour code
        return cut + (RESET if colour else "") + "…"

    lines = [f"hw5grade {results.get('edition')} | {line(results.get('submission'))} | "
             f"isolation: {results.get('isolation')} | visibility: {results.get('visibility')}"
             + (" | quick" if results.get("quick") else "")]
    if results.get("error"):
        lines.append(f"ERROR: {line(results['error'])}")
    failed = _failed(results)
    hand, ungraded, not_run = [], [], {}
    questions = results.get("questions", {}) if results.get("checks") or not results.get("error") else {}
    id_width = max([8, *map(len, questions)])      # ids run from "Q4.2" to "Q3.1.5-data2"
    for qid, entry in questions.items():
        if entry["kind"] == "hand":
            hand.append(qid)
            continue
        if entry["score"] is None:
            if entry["status"] == "not graded by this version":
                ungraded.append(qid)
            else:
                lines.append(f"{qid:<{id_width}} {'-':>11}  {entry['title']}: {entry['status']}")
            continue
        checks = failed.get(qid, [])
        passed, run = entry.get("checks_passed"), entry.get("checks_run")
        score = f"{_fmt(entry['score'])}/{_fmt(entry['max_score'])}"
        reasons = {first_line(c.get("message")) for c in checks}
        if (not verbose and checks and not passed and len(reasons) == 1
                and all(c.get("status") == "skipped" for c in checks)):
            reason = reasons.pop()
            if reason not in not_run:      # one line where the first of them stands
                not_run[reason] = [[], 0.0, 0.0]
                lines.append(reason)
            group = not_run[reason]                    # e.g. torch is not installed
            group[0].append(qid)
            group[1] += entry["score"] or 0
            group[2] += entry["max_score"] or 0
            continue
        full = entry["score"] is not None and entry["score"] >= (entry["max_score"] or 0) and not checks
        if not verbose and full and not entry["max_score"]:
            continue            # advice with nothing to advise (the static checks, all passed)
        score = paint(GREEN if full else (RED if not entry["score"] else YELLOW), f"{score:>11}")
        extra = "" if entry["status"] == "graded" else f"  [{entry['status']}]"
        if verbose:
            lines.append(f"{qid:<{id_width}} {score}  {entry['title']}{extra}")
            for check in checks:
                text = messages.render_text({k: check.get(k) for k in ("message", "expected", "actual", "hint")},
                                            indent="")
                lines.append(f"  {str(check['status']).upper():<12}  {line(check['description'])}")
                # every line of a message indented: a printed "TOTAL 40/40" never starts a line
                lines += [" " * 16 + messages.printable(t) for t in text.splitlines()]
        elif checks and not passed:
            # nothing passed: the first reason says more than the title (the report has both)
            first = checks[0]
            more = f" (+{len(checks) - 1} more)" if len(checks) > 1 else ""
            lines.append(fit(f"{qid:<{id_width}} {score}  {paint(RED, 'x')} "
                             f"{first_line(first.get('message')) or line(first['description'])}{more}"))
        else:
            tally = f"  ({passed}/{run} checks)" if run else ""
            lines.append(fit(f"{qid:<{id_width}} {score}  {entry['title']}{extra}{tally}"))
            for check in checks:
                reason = first_line(check.get("message"))
                lines.append(fit(f"  {paint(RED, 'x')} {line(check['description'])}" + (f": {reason}" if reason else "")))
    for reason, (qids, got, most) in not_run.items():
        at = next(i for i, text in enumerate(lines) if text is reason)
        lines[at] = fit(f"{', '.join(qids)}  {paint(RED, f'{_fmt(got)}/{_fmt(most)}')}  not run: {reason}")
    if results.get("max_score") == 0 and results.get("score"):
        lines.append(f"{'TOTAL':<{id_width}} {_fmt(results.get('score')):>5}  extra-credit points (only extra-credit "
                     "questions were graded in this run)")
    else:
        lines.append(f"{'TOTAL':<{id_width}} {_fmt(results.get('score')):>5}/{_fmt(results.get('max_score'))}  "
                     "auto-graded in this run (extra credit counted in the score, not the maximum)")
    if hand:
        lines.append(fit(f"graded by hand: {', '.join(hand)}"))
    if ungraded:
        lines.append(fit(f"not graded by this version: {', '.join(ungraded)}"))
    for note in results.get("notes", []):
        if not note.startswith("not graded by this version"):
            lines.append(fit(f"note: {line(note)}"))
    timings = results.get("timings", {})
    if timings.get("wall_seconds") is not None:
        lines.append(f"time: {timings['wall_seconds']:.1f} s")
    if not verbose and failed:
        lines.append("whole messages and hints: the report, or -v")
    return "\n".join(lines if verbose else map(fit, lines))


class Progress:
    """One line on a terminal, rewritten as each question's checks finish ("Q2.2.1 5/5 ..."),
    the latest on the right; cleared before the summary is printed."""

    def __init__(self, stream, colour: bool = False, width: int | None = None):
        self.stream, self.colour = stream, colour
        self.width = width or shutil.get_terminal_size((100, 24)).columns
        self.done: list[str] = []

    def update(self, question: str, passed: int, run: int) -> None:
        self.done.append(f"{question} {passed}/{run}")
        text = "checked: " + "  ".join(self.done)
        if len(text) > self.width - 1:
            text = "checked: …" + text[len(text) - (self.width - 11):]
        self.stream.write("\r\x1b[K" + (f"{DIM}{text}{RESET}" if self.colour else text))
        self.stream.flush()

    def finish(self) -> None:
        if self.done:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
