"""The per-submission report: report.html rendered from a results document alone.

`render_report(results, out_dir)` is the page; graders.outputs.publish writes it beside grade.json with
the other outputs, and `hw5grade report DIR ...` re-renders saved results without grading again.

The page is one self-contained file, so it can be mailed or uploaded: CSS and the sorting
script are inlined, pictures are embedded as data: URIs, and a Content-Security-Policy forbids
any fetch. Whatever a submission printed stays readable and the page stays a few MB: long
texts keep their head and tail around a "... N lines cut ..." marker, and pictures have a size
cap, a cap per check and a budget for the page. Only files inside the results folder are
embedded, so a path in grade.json can never pull another file of the machine into the page.
"""
from __future__ import annotations

import base64
import difflib
import json
import re
from functools import lru_cache
from pathlib import Path

import jinja2

from graders.outputs import debugging
from graders.results import messages
from graders.results.document import PROBLEMS, hidden_not_run, status_of, unreadable

TEMPLATES = Path(__file__).resolve().parents[2] / "report_templates"

HEAD_LINES, TAIL_LINES = 40, 40     # a traceback's cause is at its end, a log's start at its head
MAX_TEXT_CHARS = 12_000             # one line of megabytes is cut too
MAX_IMAGE_BYTES = 1_500_000
MAX_IMAGES_PER_CHECK = 12
# the reference shows ~1.7 MB of its own plots and ~1 MB of the grader's (boxes, reconstructions);
# base64 adds a third: a page stays under ~6 MB, small enough to mail
MAX_PAGE_IMAGE_BYTES = 4_000_000
MAX_TABLE_ROWS = 200
MAX_MATRIX_SIZE = 100

# status word (graders.results.document.STATUSES) -> (label the reader sees, icon, css class); colour is never
# the only signal. The icons are in DejaVu Sans / common system fonts, not emoji (a machine without
# an emoji font shows boxes)
STATUSES = {
    "passed": ("passed", "\u2713", "ok"),
    "failed": ("failed", "\u2717", "bad"),
    "error": ("error", "\u26a0", "bad"),
    "timeout": ("timed out", "\u25f7", "bad"),
    "skipped": ("skipped", "\u21b7", "muted"),
    "hidden-not-run": ("hidden: not run", "\u25cc", "muted"),
}
PICTURE_KEYS = ("figures", "images", "overlays")
SHOWN_ELSEWHERE = {*PICTURE_KEYS, "confusion_matrix", "confusion_labels", "confusion_set", "most_confused",
                   "lines", "output"}
IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


# ---------------------------------------------------------------- shared by report and overview

@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = fmt_number
    env.filters["seconds"] = fmt_seconds
    # inlined, not linked: the page must open with no other file and no network
    env.globals["style_css"] = (TEMPLATES / "style.css").read_text()
    env.globals["sort_js"] = (TEMPLATES / "sort.js").read_text()
    env.globals["STATUSES"] = STATUSES
    return env


def _number_or_text(x):
    """A float, or the text to show as it is (None -> '-', anything not a number -> str)."""
    if x is None:
        return "-"
    try:
        return float(x)
    except (TypeError, ValueError):
        return str(x)


def fmt_number(x, digits: int = 2) -> str:
    """3.0 -> '3', 0.8333 -> '0.83'; None -> '-'."""
    value = _number_or_text(x)
    if isinstance(value, str):
        return value
    text = f"{value:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def fmt_seconds(x) -> str:
    value = _number_or_text(x)
    if isinstance(value, str):
        return value
    if value >= 120:
        return f"{int(value // 60)} min {value % 60:.0f} s"
    return f"{value:.1f} s" if value >= 0.1 else f"{value * 1000:.0f} ms"


def clip(text, head: int = HEAD_LINES, tail: int = TAIL_LINES, max_chars: int = MAX_TEXT_CHARS) -> str:
    """messages.clip with the page's own sizes (grade.json keeps more than a page shows)."""
    return messages.clip(text, max_chars, head, tail)


# ---------------------------------------------------------------- pictures

class Pictures:
    """Embeds picture files of one results folder as data: URIs within the page's budget."""

    def __init__(self, out_dir: Path):
        self.root = Path(out_dir).resolve()
        self.budget = MAX_PAGE_IMAGE_BYTES

    def embed(self, item) -> dict:
        path, caption = (item.get("path"), item.get("caption")) if isinstance(item, dict) else (item, None)
        caption = clip(caption or Path(str(path or "?")).name, 2, 0, 300)
        if not isinstance(path, str) or not path:
            return {"caption": caption, "note": "no file named for this picture"}
        file = (self.root / path).resolve()
        if not file.is_relative_to(self.root):
            return {"caption": caption, "note": f"{path} is outside the results folder: not embedded"}
        try:
            size = file.stat().st_size
            if size > MAX_IMAGE_BYTES:
                return {"caption": caption, "note": f"{path} is {size / 1e6:.1f} MB, over the report's "
                                                     f"{MAX_IMAGE_BYTES / 1e6:.1f} MB cap: not shown"}
            if size > self.budget:
                return {"caption": caption, "note": f"{path} not shown: the page's picture budget "
                                                     f"({MAX_PAGE_IMAGE_BYTES / 1e6:.0f} MB) is used up"}
            data = file.read_bytes()
        except OSError:
            return {"caption": caption, "note": f"{path} is missing"}
        mime = next((m for magic, m in IMAGE_MAGIC.items() if data.startswith(magic)), None)
        if mime is None:
            return {"caption": caption, "note": f"{path} is not a PNG, JPEG or GIF picture"}
        self.budget -= size
        return {"caption": caption, "src": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"}

    def for_check(self, data: dict) -> list[dict]:
        items = []
        for key in PICTURE_KEYS:
            value = data.get(key)
            if isinstance(value, (str, dict)):
                value = [value]
            if isinstance(value, list):
                items.extend(value)
        shown = [self.embed(item) for item in items[:MAX_IMAGES_PER_CHECK]]
        if len(items) > MAX_IMAGES_PER_CHECK:
            shown.append({"caption": "", "note": f"{len(items) - MAX_IMAGES_PER_CHECK} more picture(s) "
                                                 f"not shown (at most {MAX_IMAGES_PER_CHECK} per check)"})
        return shown


# ---------------------------------------------------------------- what a check recorded

def _fact(value) -> str:
    if isinstance(value, float):
        return fmt_number(value, 4)
    if isinstance(value, list) and len(value) > 4:
        return clip(f"{len(value)} values, from {json.dumps(value[0])} to {json.dumps(value[-1])}", 1, 0, 300)
    if isinstance(value, (list, dict)):
        return clip(json.dumps(value), 1, 0, 300)
    return clip(value, 1, 0, 300)


def confusion_view(data: dict) -> dict | None:
    """The grader's confusion matrix as heat-map cells; None when absent or malformed."""
    matrix, labels = data.get("confusion_matrix"), data.get("confusion_labels")
    if not isinstance(matrix, list) or not matrix or len(matrix) > MAX_MATRIX_SIZE:
        return None
    n = len(matrix)
    if not all(isinstance(row, list) and len(row) == n and all(isinstance(v, (int, float)) for v in row)
               for row in matrix):
        return None
    labels = [str(x) for x in labels] if isinstance(labels, (str, list)) and len(labels) == n \
        else [str(i) for i in range(n)]
    off = max((v for i, row in enumerate(matrix) for j, v in enumerate(row) if i != j), default=0) or 1
    diag = max((matrix[i][i] for i in range(n)), default=0) or 1
    rows = []
    for i, row in enumerate(matrix):
        cells = []
        for j, v in enumerate(row):
            level = v / (diag if i == j else off)
            # the diagonal (right answers) is green, confusions are red; strength scales with count
            colour = f"rgba(30,140,70,{0.1 + 0.8 * level:.2f})" if i == j else \
                (f"rgba(215,50,40,{0.12 + 0.8 * level:.2f})" if v else "transparent")
            cells.append({"value": fmt_number(v), "colour": colour, "diagonal": i == j, "dark": bool(v) and level > 0.55,
                          "title": f"true {labels[i]}, read as {labels[j]}: {fmt_number(v)}"})
        rows.append({"label": labels[i], "cells": cells})
    confused = [c for c in data.get("most_confused") or [] if isinstance(c, list) and len(c) == 3][:10]
    of = data.get("confusion_set")
    return {"labels": labels, "rows": rows, "most_confused": confused,
            "of": of if isinstance(of, str) else "the grader's data"}


def _diff_segments(truth: str, read: str) -> tuple[list, list]:
    """Both strings cut into (text, differs) segments, so what was misread stands out. Spaces
    are not marked: the grader's edit distance does not count them either."""
    t_out, r_out = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, truth, read, autojunk=False).get_opcodes():
        if i2 > i1:
            t_out.append((truth[i1:i2], op != "equal" and bool(truth[i1:i2].strip())))
        if j2 > j1:
            r_out.append((read[j1:j2], op != "equal" and bool(read[j1:j2].strip())))
    return t_out, r_out


def lines_view(data: dict) -> list[dict] | None:
    lines = data.get("lines")
    if not isinstance(lines, list):
        return None
    rows = []
    for entry in lines[:MAX_TABLE_ROWS]:
        if not isinstance(entry, (list, tuple)) or len(entry) < 2:
            continue
        truth, read = clip(entry[0], 1, 0, 300), clip(entry[1], 1, 0, 300)
        t, r = _diff_segments(truth, read)
        rows.append({"truth": t, "read": r, "errors": entry[2] if len(entry) > 2 else None})
    return rows


# ---------------------------------------------------------------- the report's view model

def repair_facts(check: dict) -> list[tuple[str, str]]:
    """The repairs a check's run needed (graders.sandbox.shipped.repairs), as a fact of the check."""
    fired = [r for r in check.get("repairs") or () if isinstance(r, dict) and r.get("kind") != "data-read"]
    if not fired:
        return []
    return [("repairs", clip("; ".join(f"{r.get('file') or '?'}, line {r.get('line')}: {r.get('old')} -> "
                                      f"{r.get('new')}" for r in fired[:20]), 5, 2, 2000))]


def check_view(check: dict, pictures: Pictures) -> dict:
    status = status_of(check)
    label, icon, css = STATUSES[status]
    data = check.get("data") if isinstance(check.get("data"), dict) else {}
    # a parametrised check's case (the photo, say): its description is the same for all cases
    case = re.search(r"\[(.*)\]$", str(check.get("name", "")))
    view = {
        "name": str(check.get("name") or check.get("nodeid") or "?"),
        "case": clip(case.group(1), 1, 0, 80) if case else "",
        "nodeid": str(check.get("nodeid", "")),
        "description": clip(check.get("description") or check.get("name") or "", 3, 0, 600),
        "status": status, "label": label, "icon": icon, "css": css,
        "open": status in PROBLEMS,
        "visibility": check.get("visibility", "public"), "tier": check.get("tier", ""),
        "points": check.get("points"), "max_points": check.get("max_points"),
        "duration": check.get("duration"),
        "message": clip(check.get("message") or ""),
        "expected": clip(check.get("expected") or "", 10, 5, 2000),
        "actual": clip(check.get("actual") or "", 10, 5, 2000),
        "hint": clip(check.get("hint") or "", 10, 5, 2000),
        "traceback": clip(check.get("traceback") or ""),
        "output": clip(data.get("output") or ""),
        "facts": [(str(k), _fact(v)) for k, v in list(data.items())[:30] if k not in SHOWN_ELSEWHERE]
                 + repair_facts(check),
        "pictures": pictures.for_check(data),
        "confusion": confusion_view(data),
        "lines": lines_view(data),
        "same_as_above": False,
    }
    view["output_lines"] = len(view["output"].splitlines())
    # the check's "how to debug this" entry, for a failed check (graders/debugging)
    view["debug"] = view["name"].split("[", 1)[0] if status in PROBLEMS and debugging.entry(view["name"]) else ""
    # what the code produced (plots, the matrix, the text it read) is worth seeing even when passed
    view["open"] = view["open"] or bool(view["pictures"] or view["confusion"] or view["lines"])
    return view


def question_state(entry: dict, checks: list[dict]) -> tuple[str, str, str]:
    """(label, icon, css class) of a question: the status a reader sees at a glance."""
    kind, score = entry.get("kind"), entry.get("score")
    status = str(entry.get("status", ""))
    if kind == "hand":
        return "graded by hand", "\u270e", "muted"
    if status == "not graded by this version":
        return "not graded by this version", "\u2205", "muted"
    if score is None:
        return status or "not graded", "\u2205", "muted"
    problems = sum(c["status"] in PROBLEMS for c in checks)
    hidden = sum(c["status"] == "hidden-not-run" for c in checks)
    if kind == "advisory":
        return (f"{problems} issue(s) to look at", "\u26a0", "warn") if problems else ("no issues", "\u2713", "ok")
    top = entry.get("max_score_run", entry.get("max_score")) or 0
    if problems == 0 and score >= top:
        if hidden:
            return f"full marks so far; {hidden} hidden check(s) not run", "\u2713", "ok"
        if status.startswith("partly graded"):
            # -k or --quick left checks out: full marks on what ran is not full marks
            return "passed what ran; " + status.removeprefix("partly graded: "), "\u25d0", "warn"
        return "full marks", "\u2713", "ok"
    if score > 0:
        return "partial credit", "\u25d0", "warn"
    return "no points", "\u2717", "bad"


def _fold_repeats(checks: list[dict]) -> None:
    """Close a failed check that says exactly what an open one above it says (a stub fails forty
    checks of Q4.2 with one message): the first stays open, the rest say so in their summary."""
    seen = set()
    for c in checks:
        if c["status"] not in PROBLEMS:
            continue
        key = (c["message"], c["hint"], c["traceback"])
        if key in seen and not (c["pictures"] or c["confusion"] or c["lines"]):
            c["open"], c["same_as_above"] = False, True
        seen.add(key)


def question_view(qid: str, entry: dict, checks: list[dict]) -> dict:
    _fold_repeats(checks)
    label, icon, css = question_state(entry, checks)
    score, top = entry.get("score"), entry.get("max_score") or 0
    counts = {s: sum(c["status"] == s for c in checks) for s in STATUSES}
    return {
        "id": qid, "title": str(entry.get("title", "")), "kind": entry.get("kind", "auto"),
        "extra_credit": bool(entry.get("extra_credit")),
        "score": score, "max_score": entry.get("max_score"), "max_score_run": entry.get("max_score_run"),
        "percent": round(100 * score / top) if score is not None and top else None,
        "status_text": str(entry.get("status", "")),
        "label": label, "icon": icon, "css": css, "checks": checks, "counts": counts,
        "run": sum(n for s, n in counts.items() if s != "hidden-not-run"),
        "seconds": sum(float(c["duration"] or 0) for c in checks) if checks else None,
        "open": any(c["open"] for c in checks),
    }


def summary(results: dict, checks: list[dict]) -> dict:
    """The header card: totals, the sentence that says what the score means, the banners."""
    counts = {s: sum(c["status"] == s for c in checks) for s in STATUSES}
    hidden = hidden_not_run(results)
    quick_left = [c for c in results.get("checks", []) if isinstance(c, dict) and c.get("not_run") == "quick"]
    ran = sum(counts.values()) - counts["hidden-not-run"] - counts["skipped"]
    problems = sum(counts[s] for s in PROBLEMS)
    skipped = f" ({counts['skipped']} skipped)" if counts["skipped"] else ""
    public_run = results.get("visibility") == "public"
    if unreadable(results):
        verdict = "This submission could not be graded: nothing in it could be run."
    elif results.get("error"):
        verdict = "The grader failed before it could finish: this is not a grade."
    elif hidden:
        verdict = (f"{counts['passed']} of {ran} checks that ran passed{skipped}; {len(hidden)} hidden check(s) "
                   f"remain, so this score is not final.")
    elif quick_left:
        verdict = (f"{counts['passed']} of {ran} checks that ran passed{skipped}; the training checks were "
                   f"skipped (--quick), so this score is not final.")
    elif ran and problems == 0 and counts["skipped"] == 0:
        verdict = f"Every one of the {ran} checks passed."
    else:
        verdict = f"{counts['passed']} of {ran} checks that ran passed{skipped}."
    score, top = results.get("score"), results.get("max_score")
    timings = results.get("timings") if isinstance(results.get("timings"), dict) else {}
    return {
        "score": score, "max_score": top,
        "percent": round(100 * float(score) / float(top)) if isinstance(score, (int, float))
        and isinstance(top, (int, float)) and top else None,
        # a run of extra-credit questions alone (the PyTorch part) has no maximum to be out of
        "extra_credit_only": top == 0 and any(isinstance(q, dict) and q.get("extra_credit") and q.get("score") is not None
                                              for q in (results.get("questions") or {}).values()),
        "verdict": verdict, "counts": counts, "ran": ran,
        "hidden_banner": bool(hidden) and (public_run or not results.get("visibility")),
        "hidden_count": len(hidden),
        "hidden_points": sum(float(c.get("max_points") or 0) for c in hidden),
        "quick_count": len(quick_left),
        "rubric_points": results.get("rubric_points") if isinstance(results.get("rubric_points"), dict) else {},
        "timings": timings,
    }


def view_model(results: dict, out_dir) -> dict:
    pictures = Pictures(Path(out_dir))
    raw = [c for c in results.get("checks", []) if isinstance(c, dict)]
    raw.sort(key=lambda c: c.get("order", 10**9) if isinstance(c.get("order"), int) else 10**9)
    checks = [check_view(c, pictures) for c in raw]
    by_question: dict[str, list[dict]] = {}
    for raw_check, view in zip(raw, checks):
        by_question.setdefault(str(raw_check.get("question")), []).append(view)
    questions = [question_view(qid, entry if isinstance(entry, dict) else {}, by_question.pop(qid, []))
                 for qid, entry in results.get("questions", {}).items()]
    # checks of no rubric question (a harness error while collecting, say) are still shown
    for qid, orphans in by_question.items():
        questions.append(question_view(qid, {"title": "checks outside the rubric", "kind": "other",
                                             "status": "not scored"}, orphans))
    notes = [clip(n, 5, 2, 1000) for n in results.get("notes", []) if isinstance(n, str)]
    libraries = results.get("libraries") if isinstance(results.get("libraries"), dict) else {}
    debug = [{"name": name, **debugging.entry(name)} for name in dict.fromkeys(c["debug"] for c in checks if c["debug"])]
    return {
        "results": {k: results.get(k) for k in ("edition", "submission", "visibility", "quick",
                                               "isolation", "jobs")},
        "error": clip(results.get("error") or ""),
        "unreadable": unreadable(results),
        "summary": summary(results, checks),
        "auto": [q for q in questions if q["kind"] not in ("hand",) and q["score"] is not None],
        "hand": [q for q in questions if q["kind"] == "hand"],
        "ungraded": [q for q in questions if q["kind"] != "hand" and q["score"] is None],
        "questions": [q for q in questions if q["checks"]],
        "notes": notes, "libraries": sorted((str(k), str(v)) for k, v in libraries.items()),
        "late": late_view(results),
        "debug": debug,
    }


def late_view(results: dict) -> dict | None:
    """What the late policy did (grade.json's `late`, from the Gradescope run): its message with
    the times, and the score after the penalty; None when no policy applied."""
    late = results.get("late") if isinstance(results.get("late"), dict) else {}
    message = late.get("message")
    if not isinstance(message, str) or not message.strip():
        return None
    from graders.outputs.late_policy import after_penalty
    return {"lines": [clip(line, 1, 0, 300) for line in message.splitlines() if line.strip()][:12],
            "score_after": after_penalty(results, results.get("score"))}


def render_report(results: dict, out_dir: Path) -> str:
    """report.html for a results document; pictures are read from (and only from) out_dir."""
    return environment().get_template("report.html.j2").render(**view_model(results, out_dir))
