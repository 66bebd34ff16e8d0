"""The rubric of an edition (graders/rubrics/<edition>.toml) and the scoring it implies.

The rubric file is the only place a point value is written. A question's points are split
among its checks by the weights of their markers; a check earns its share when it passes.
`Rubric.score` turns the checks' outcomes into per-question scores; the plugin and the grade
command both use it, so a results document is scored the same way wherever it is made.
"""
from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from graders.results.document import PASSED

RUBRICS = Path(__file__).resolve().parents[1] / "rubrics"
KINDS = {"auto", "hand", "advisory"}
VISIBILITIES = {"public", "hidden"}
TIERS = {"quick", "training"}

# A check that did not run because of the run's options carries not_run besides its status
# (graders.results.document.STATUSES) ("hidden": status hidden-not-run under --visibility public; "quick":
# skipped by --quick; "deselected": left out by -k or -m); it keeps its share of the question's
# points but does not count toward the run's max_score.
NOT_RUN = {"hidden": "hidden checks exist and were not run (--visibility public)",
           "quick": "training tier skipped (--quick)",
           "deselected": "its checks were deselected (-k / -m)"}
NOT_RUN_COUNTED = {"hidden": "hidden check(s) exist and were not run",
                   "quick": "training check(s) skipped (--quick)",
                   "deselected": "check(s) deselected"}

# [repairs]: a policy per repair kind (graders/sandbox/shipped/repairs.py KINDS). "free": repaired and shown at
# no cost; a number N: repaired and shown, N points deducted once from the score if it fired;
# "refused": not installed, so the code fails as it would. A kind the rubric leaves out is free.
FREE, REFUSED = "free", "refused"
REPAIRS_QUESTION = "Static"      # where the advisory check of the repairs counts (no points)


class RubricError(ValueError):
    pass


@dataclass(frozen=True)
class Question:
    id: str
    title: str
    points: float
    kind: str
    visibility: str
    tier: str
    call_seconds: float
    script_seconds: float
    extra_credit: bool = False
    thresholds: dict = field(default_factory=dict)

    def threshold(self, name: str) -> float:
        try:
            return self.thresholds[name]
        except KeyError:
            raise RubricError(f"{self.id} has no threshold {name!r} in the rubric") from None


@dataclass(frozen=True)
class Rubric:
    edition: str
    title: str
    questions: dict[str, Question]
    # [checks]: a check's marker names the question of the edition it was written for; here it
    # counts toward this edition's question of the same task ("Q2.4" -> "Q2.4.1")
    aliases: dict = field(default_factory=dict)
    # [data]: where the scripts read NIST36 under ../data, "nist36" (and "second_set")
    data: dict = field(default_factory=dict)
    # [files]: the edition's deliverables ("numpy", "pytorch")
    files: dict = field(default_factory=dict)
    # [repairs]: kind -> "free", "refused" or points deducted (see FREE, REFUSED)
    repairs: dict = field(default_factory=dict)
    # [gpu] tolerance: how far the PyTorch questions' thresholds widen for a script that ran on a
    # GPU, whose kernels are not deterministic (graders.sandbox.gpus); 0 where the rubric sets none
    gpu_tolerance: float = 0.0

    def repair_policy(self, strict: bool = False) -> dict:
        """kind -> its policy for every repair kind (--strict: all refused)."""
        from graders.sandbox.shipped.repairs import KINDS
        return {kind: REFUSED if strict else self.repairs.get(kind, FREE) for kind in KINDS}

    def sandbox_repairs(self, strict: bool = False) -> dict:
        """The worker's repair settings: the kinds to install and the data file names the
        edition's scripts also use (graders.sandbox.sandbox.Sandbox(repairs=...))."""
        policy = self.repair_policy(strict)
        return {"allowed": sorted(k for k, p in policy.items() if p != REFUSED), "aliases": self.data_aliases()}

    def data_aliases(self) -> dict:
        """{file name: path under data/}: the other names ([data] nist36_also) under which the
        edition's scripts read the first NIST36 set."""
        first = self.data.get("nist36", "nist36_{split}.mat")
        return {pattern.format(split=split).rsplit("/", 1)[-1]: first.format(split=split)
                for pattern in self.data.get("nist36_also", ()) for split in ("train", "valid", "test")}

    def __getitem__(self, qid: str) -> Question:
        try:
            return self.questions[self.aliases.get(qid, qid)]
        except KeyError:
            raise RubricError(f"question {qid!r} is not in the {self.edition} rubric") from None

    def resolve(self, qid: str) -> str | None:
        """This edition's question for a marker's id, or None when its task is not in the edition."""
        qid = self.aliases.get(qid, qid)
        return qid if qid in self.questions else None

    def data_hint(self, message: str) -> str:
        """A hint for a script that could not open its data (`message`, its error): where this
        edition keeps NIST36 and, when the path it tried is another edition's, which one."""
        want = "../data/" + self.data.get("nist36", "nist36_{split}.mat").format(split="train")
        for other in editions():
            if other == self.edition:
                continue
            for pattern in load(other).nist36_layout():
                for split in ("train", "valid", "test"):
                    tried = pattern.format(split=split)
                    if tried.rsplit("/", 1)[-1] in message and tried not in self.nist36_layout():
                        return (f"this submission is graded as the {self.edition} edition, whose scripts read "
                                f"'{want}'; '{tried}' is where the {other} edition keeps its data: was it "
                                f"graded as the right edition (--edition {other})?")
        return (f"read the data as the handout does, '{want}': the scripts run from python/ with the "
                "course data in ../data, on any machine")

    def nist36_layout(self) -> dict[str, str]:
        """{file name pattern under data/: synthetic set}: set1 at "nist36", set2 at "second_set"."""
        layout = {self.data.get("nist36", "nist36_{split}.mat"): "set1"}
        layout.update({pattern: "set1" for pattern in self.data.get("nist36_also", ())})
        if "second_set" in self.data:
            layout[self.data["second_set"]] = "set2"
        return layout

    def score(self, checks: list[dict], scanned: list[dict] = ()) -> dict:
        """Scores per question and in total from check records.

        A record needs `question`, `status`, `weight` and may carry `not_run` ("hidden" or
        "quick"). Fills in each record's `points` and `max_points` and returns the
        `questions`, `score`, `max_score` and `rubric_points` parts of a results document.
        `scanned`: the removed names the grader's own scan of the files found (repairs_of).
        """
        by_question: dict[str, list[dict]] = {}
        for check in checks:
            if check.get("question") in self.questions:
                by_question.setdefault(check["question"], []).append(check)
        questions, score, max_score = {}, 0.0, 0.0
        for qid, q in self.questions.items():
            entry = {"title": q.title, "kind": q.kind, "max_score": q.points, "score": None}
            if q.extra_credit:
                entry["extra_credit"] = True
            own = by_question.get(qid, [])
            total_weight = sum(c["weight"] for c in own)
            for c in own:
                c["max_points"] = round(q.points * c["weight"] / total_weight, 4) if total_weight else 0.0
                c["points"] = c["max_points"] if c["status"] == PASSED else 0.0
            ran = [c for c in own if not c.get("not_run")]
            left_out = {}
            for c in own:
                if c.get("not_run"):
                    left_out[c["not_run"]] = left_out.get(c["not_run"], 0) + 1
            if q.kind == "hand":
                entry["status"] = "graded by hand"
            elif not own:
                entry["status"] = "not graded by this version"
            elif not ran:
                entry["status"] = "not run: " + "; ".join(NOT_RUN[r] for r in sorted(left_out))
            else:
                # from weights, so rounding each check's share never shows 5.0001 of 5
                ran_weight = sum(c["weight"] for c in ran)
                passed_weight = sum(c["weight"] for c in ran if c["status"] == PASSED)
                entry["score"] = round(q.points * passed_weight / total_weight, 4) if total_weight else 0.0
                entry["max_score_run"] = round(q.points * ran_weight / total_weight, 4) if total_weight else 0.0
                entry["checks_passed"] = sum(c["status"] == PASSED for c in ran)
                entry["checks_run"] = len(ran)
                entry["status"] = "graded"
                if left_out:
                    entry["status"] = "partly graded: " + "; ".join(
                        f"{n} {NOT_RUN_COUNTED[r]}" for r, n in sorted(left_out.items()))
                score += entry["score"]
                if not q.extra_credit:
                    max_score += entry["max_score_run"]
            questions[qid] = entry
        repairs = self.repairs_of(checks, scanned)
        score = max(0.0, score - sum(repairs["deductions"].values()))
        return {
            "score": round(score, 4),
            "max_score": round(max_score, 4),
            "repairs": repairs,
            "questions": questions,
            "rubric_points": self.totals(),
            "not_graded_by_this_version": [qid for qid, e in questions.items()
                                           if e["status"] == "not graded by this version"],
        }

    def repairs_of(self, checks: list[dict], scanned: list[dict] = ()) -> dict:
        """The repairs the checks' runs needed, each once ({kind, file, line, old, new, checks}),
        the data files the scripts read, and the points the rubric deducts for them.

        The runs' log comes from the student's own process, which can silence it; `scanned`
        ({kind, file, line, text}, the grader's own reading of the files) keeps a kind's deduction
        when the scan finds its removed names and the log says none fired ("unreported")."""
        from graders.sandbox.shipped.repairs import DATA_READ
        fired, read = {}, {}
        for check in checks:
            for r in check.get("repairs") or ():
                key = (r.get("kind"), r.get("file"), r.get("line"), r.get("old"), r.get("new"))
                table = read if r.get("kind") == DATA_READ else fired
                entry = table.setdefault(key, {**r, "checks": []})
                if check.get("name") and check["name"] not in entry["checks"]:
                    entry["checks"].append(check["name"])
        policy = self.repair_policy()
        deductions = {}
        reported = {entry["kind"] for entry in fired.values()}
        unreported = [dict(s) for s in scanned if s.get("kind") and s["kind"] not in reported]
        for kind in reported | {s["kind"] for s in unreported}:
            cost = policy.get(kind, FREE)
            if not isinstance(cost, str):
                deductions[kind] = float(cost)
        return {"fired": list(fired.values()), "data_read": sorted({r["new"] for r in read.values()}),
                "deductions": deductions, "unreported": unreported}

    def totals(self) -> dict:
        def total(pred):
            return sum(q.points for q in self.questions.values() if pred(q))
        return {
            "auto": total(lambda q: q.kind == "auto" and not q.extra_credit),
            "hand": total(lambda q: q.kind == "hand" and not q.extra_credit),
            "extra_credit": total(lambda q: q.extra_credit),
        }


def load(edition: str = "2022", path: Path | None = None) -> Rubric:
    """The rubric of an edition, validated."""
    path = Path(path) if path else RUBRICS / f"{edition}.toml"
    if not path.exists():
        known = ", ".join(editions())
        raise RubricError(f"no rubric for edition {edition!r} (known: {known})")
    data = tomllib.loads(path.read_text())
    defaults = data.get("defaults", {})
    aliases = dict(data.get("checks", {}))
    # `base = "2022"`: a question whose checks were written for the base edition (by [checks], the
    # same id, or `like`) takes that question's budgets and thresholds (one place for each number);
    # its own entries override
    base = load(data["base"]) if data.get("base") else None
    source = {target: named for named, target in aliases.items()}
    questions = {}
    for qid, spec in data.get("questions", {}).items():
        inherited = {}
        like = spec.get("like") or source.get(qid, qid)      # like = "Q6.1.1": the same task in the base
        if base is not None and like in base.questions:
            b = base.questions[like]
            inherited = {"tier": b.tier, "call_seconds": b.call_seconds,
                         "script_seconds": b.script_seconds, "thresholds": b.thresholds}
        merged = {**defaults, **inherited, **spec}
        if inherited and "thresholds" in spec:
            merged["thresholds"] = {**inherited["thresholds"], **spec["thresholds"]}
        try:
            q = Question(id=qid, title=merged["title"], points=float(merged["points"]),
                         kind=merged["kind"], visibility=merged.get("visibility", "public"),
                         tier=merged.get("tier", "quick"),
                         call_seconds=float(merged.get("call_seconds", 10)),
                         script_seconds=float(merged.get("script_seconds", 120)),
                         extra_credit=bool(merged.get("extra_credit", False)),
                         thresholds=dict(merged.get("thresholds", {})))
        except KeyError as err:
            raise RubricError(f"{path.name}: question {qid} lacks {err}") from None
        if q.kind not in KINDS or q.visibility not in VISIBILITIES or q.tier not in TIERS:
            raise RubricError(f"{path.name}: question {qid} has an unknown kind, visibility or tier")
        questions[qid] = q
    if any(target not in questions for target in aliases.values()):
        raise RubricError(f"{path.name}: [checks] names a question the rubric does not have")
    repairs = dict(data.get("repairs", {}))
    from graders.sandbox.shipped.repairs import KINDS as REPAIR_KINDS
    for kind, policy in repairs.items():
        if kind not in REPAIR_KINDS or not (policy in (FREE, REFUSED) or (
                isinstance(policy, (int, float)) and not isinstance(policy, bool) and policy >= 0)):
            raise RubricError(f"{path.name}: [repairs] {kind} = {policy!r}: kinds are {', '.join(REPAIR_KINDS)}; "
                              f"a policy is \"free\", \"refused\" or the points deducted (>= 0)")
    tolerance = data.get("gpu", {}).get("tolerance", base.gpu_tolerance if base is not None else 0.0)
    if not (isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool) and 0 <= tolerance <= 0.2):
        raise RubricError(f"{path.name}: [gpu] tolerance = {tolerance!r}: a fraction from 0 to 0.2")
    return Rubric(edition=str(data.get("edition", edition)), title=data.get("title", ""),
                  questions=questions, aliases=aliases, data=dict(data.get("data", {})),
                  files=dict(data.get("files", {})), repairs=repairs, gpu_tolerance=float(tolerance))


def editions() -> list[str]:
    return sorted(p.stem for p in RUBRICS.glob("*.toml"))


@functools.lru_cache(maxsize=1)
def known_marker_ids() -> frozenset:
    """Every id a marker may name: the questions and [checks] aliases of all editions (a typo
    in a marker must fail loudly, not drop the check from every edition)."""
    ids = set()
    for edition in editions():
        r = load(edition)
        ids |= set(r.questions) | set(r.aliases)
    return frozenset(ids)
