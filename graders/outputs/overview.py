"""The class overview of a batch: batch_dir/index.html and batch_dir/grades.csv.

`write_batch(batch_dir)` reads batch_dir/submissions/<name>/grade.json of every submission and writes
index.html (one sortable row per submission linking to its report.html, a score histogram,
per-question pass rates, the item analysis of every check (graders.outputs.item_analysis) and the most
common failure messages) and, through graders.outputs.gradebook,
the gradebook CSV. A missing or broken grade.json is a row that says so, never a crash.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from graders.results import messages
from graders.outputs import report
from graders.results import document as results_doc

SIMILARITY_FOLDER = "similarity"        # a batch's similarity pages and pairs.json (staff only)
SIMILARITY_PAIRS = "pairs.json"         # in it: the ranked pairs, which the overview lists

HISTOGRAM_BINS = 10
TOP_FAILURES = 25
def submission_row(name: str, results: dict | None, problem: str, report_exists: bool) -> dict:
    row = {"name": name, "href": f"{results_doc.SUBMISSIONS}/{quote(name)}/report.html" if report_exists else None,
           "score": None, "max_score": None, "percent": None, "questions": {}, "error": problem}
    if results is None:
        row.update(label="not readable", css="bad", sort=-2)
        return row
    checks = [c for c in results.get("checks", []) if isinstance(c, dict)]
    problems = sum(results_doc.status_of(c) in results_doc.PROBLEMS for c in checks)
    hidden = len(results_doc.hidden_not_run(results))
    score, top = results.get("score"), results.get("max_score")
    if isinstance(score, (int, float)) and isinstance(top, (int, float)):
        row.update(score=score, max_score=top, percent=round(100 * score / top) if top else None)
    for qid, entry in results.get("questions", {}).items():
        if isinstance(entry, dict) and entry.get("score") is not None:
            row["questions"][qid] = entry
    if results.get("error"):
        cause = results.get("error_cause")
        label = ("could not be graded" if results_doc.unreadable(results) else
                 "timed out: not a grade" if cause == "timeout" else "grader error: not a grade")
        # no score shown: what a failed run scored is not a grade
        row.update(label=label, css="bad", sort=-1, error=report.clip(results["error"], 3, 1, 400),
                   score=None, max_score=None, percent=None, questions={})
    else:
        label = f"{problems} check(s) failed" if problems else "every check passed"
        if hidden:
            label += f"; {hidden} hidden not run"
        row.update(label=label, css="warn" if problems or hidden else "ok", sort=problems)
    return row


def histogram(percents: list[float]) -> dict:
    """Bars of an inline SVG: how many submissions scored in each tenth of the maximum."""
    counts = [0] * HISTOGRAM_BINS
    for p in percents:
        counts[min(HISTOGRAM_BINS - 1, max(0, int(p // (100 / HISTOGRAM_BINS))))] += 1
    tallest = max(counts) or 1
    # top: room for the count written above the tallest bar
    width, height, left, bottom, top = 52, 140, 34, 24, 22
    bars = []
    for i, n in enumerate(counts):
        h = round(height * n / tallest)
        low = i * 100 // HISTOGRAM_BINS
        bars.append({"x": left + i * width + 3, "y": top + height - h, "w": width - 6, "h": h, "n": n,
                     "label": f"{low}\u2013{low + 100 // HISTOGRAM_BINS - (0 if i == HISTOGRAM_BINS - 1 else 1)}",
                     "tx": left + i * width + width // 2})
    return {"bars": bars, "width": left + HISTOGRAM_BINS * width + 10, "height": top + height + bottom + 14,
            "axis_y": top + height, "tallest": tallest, "left": left, "top": top}


def pass_rates(rows: list[dict], titles: dict[str, str]) -> list[dict]:
    out = []
    for qid, title in titles.items():
        entries = [r["questions"][qid] for r in rows if qid in r["questions"]]
        if not entries:
            continue
        top = float(entries[0].get("max_score") or 0)
        scores = [float(e["score"]) for e in entries]
        full = sum(float(e["score"]) >= float(e.get("max_score_run", top) or 0) - 1e-9 for e in entries)
        mean = sum(scores) / len(scores)
        out.append({"id": qid, "title": title, "graded": len(entries), "mean": mean, "max": top,
                    "percent": round(100 * mean / top) if top else None,
                    "full": round(100 * full / len(entries))})
    return out


def common_failures(loaded: list[tuple[str, dict | None]]) -> list[dict]:
    groups: dict[str, dict] = {}
    for name, results in loaded:
        for check in (results or {}).get("checks", []):
            if not isinstance(check, dict) or results_doc.status_of(check) not in results_doc.PROBLEMS:
                continue
            key = messages.failure_pattern(str(check.get("message") or ""))
            group = groups.setdefault(key, {"message": key, "count": 0, "submissions": [],
                                            "questions": Counter(), "example": ""})
            group["count"] += 1
            group["questions"][str(check.get("question"))] += 1
            if name not in group["submissions"]:
                group["submissions"].append(name)
            group["example"] = group["example"] or report.clip(check.get("message") or "", 4, 1, 600)
    ranked = sorted(groups.values(), key=lambda g: (-len(g["submissions"]), -g["count"], g["message"]))
    for g in ranked:
        g["questions"] = ", ".join(q for q, _ in g["questions"].most_common())
    return ranked[:TOP_FAILURES]


def similarity_summary(batch_dir) -> dict | None:
    """The ranked pairs `hw5grade similarity` left in batch_dir/similarity/pairs.json (written by
    graders.staff.similarity, which the student handout does not ship), else None; the pair names are
    checked against the pages it wrote, so a stray file links nowhere else."""
    try:
        data = json.loads((Path(batch_dir) / SIMILARITY_FOLDER / SIMILARITY_PAIRS).read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(data, dict) and isinstance(data.get("pairs"), list)
            and isinstance(data.get("threshold"), (int, float))):
        return None
    pairs = [p for p in data["pairs"] if isinstance(p, dict) and isinstance(p.get("score"), (int, float))
             and str(p.get("href")) == f"{SIMILARITY_FOLDER}/{Path(str(p.get('href'))).name}"
             and (Path(batch_dir) / str(p["href"])).is_file()]
    return {"threshold": data["threshold"], "pairs": pairs,
            "not_compared": [str(n) for n in data.get("not_compared") or ()]}


def write_batch(batch_dir, names=None) -> dict[str, Path]:
    """batch_dir/index.html and batch_dir/grades.csv from batch_dir/submissions/<name>/grade.json."""
    from graders.outputs import gradebook
    from graders.outputs import item_analysis
    batch_dir = Path(batch_dir)
    documents = results_doc.load_batch(batch_dir, names)
    loaded = [(name, results) for name, results, _ in documents]
    rows = [submission_row(name, results, problem, (batch_dir / results_doc.SUBMISSIONS / name / "report.html").is_file())
            for name, results, problem in documents]
    titles: dict[str, str] = {}
    for _, results in loaded:
        for qid, entry in (results or {}).get("questions", {}).items():
            if isinstance(entry, dict) and entry.get("kind") == "auto" and qid not in titles:
                titles[qid] = str(entry.get("title", ""))
    columns = [qid for qid in titles if any(qid in r["questions"] for r in rows)]
    graded = [r for r in rows if r["percent"] is not None and r["css"] != "bad"]
    page = report.environment().get_template("index.html.j2").render(
        batch=batch_dir.name, rows=rows, columns=columns, titles=titles,
        editions=sorted({str(r.get("edition")) for _, r in loaded if r and r.get("edition")}),
        histogram=histogram([r["percent"] for r in graded]),
        graded=len(graded), total=len(rows),
        mean=sum(r["percent"] for r in graded) / len(graded) if graded else None,
        rates=pass_rates(rows, {q: titles[q] for q in columns}),
        failures=common_failures(loaded), items=item_analysis.analyse(loaded),
        min_items=item_analysis.MIN_SUBMISSIONS, similarity=similarity_summary(batch_dir))
    written = {"index": batch_dir / "index.html"}
    written["index"].write_text(page, encoding="utf-8")
    written["csv"] = gradebook.write_csv(gradebook.rows(batch_dir, loaded=documents), batch_dir / "grades.csv")
    return written
