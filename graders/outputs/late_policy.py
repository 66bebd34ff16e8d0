"""The late policy and the submission limit of the Gradescope run, from submission_metadata.json.

Gradescope writes /autograder/submission_metadata.json beside each submission
(https://gradescope-autograders.readthedocs.io/en/latest/submission_metadata/): `created_at`,
the submission's time; `assignment.due_date` and `assignment.late_due_date`; `users`, each of
whom may carry their own `assignment` dates (an extension); and `previous_submissions`, each
with its `submission_time` and `score`. These are the platform's records, not the student's.

The rubric's [late] section sets the policy (all optional; the defaults change nothing):
  per = "hour" | "day"     the unit of lateness; every unit started counts whole
  penalty_percent = 10     of the auto-graded score, per unit late past the due date
  cap_percent = 50         the most the penalty takes
  grace_minutes = 5        lateness forgiven (an upload that finished a moment late)
  max_submissions = 5      submissions per window (0: no limit), this one included
  window_hours = 24        the rolling window of the limit
A submission over the limit is not graded: it keeps the score of the latest earlier one, and
says when the next will be graded. Both outcomes, with their times, are in results.json and
in grade.json's `late`.
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path

from graders.checks.numerics import finite_number
from graders.checks.rubric import RUBRICS

METADATA = "submission_metadata.json"
UNITS = {"hour": 3600.0, "day": 86400.0}


class LatePolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Policy:
    per: str = "day"
    penalty_percent: float = 0.0
    cap_percent: float = 100.0
    grace_minutes: float = 0.0
    max_submissions: int = 0
    window_hours: float = 24.0

    @property
    def active(self) -> bool:
        return self.penalty_percent > 0 or self.max_submissions > 0


def from_table(table: dict, where: str = "[late]") -> Policy:
    """A Policy from the rubric's [late] table, or LatePolicyError naming the bad entry."""
    known = {f.name for f in fields(Policy)}
    for key, value in table.items():
        if key not in known:
            raise LatePolicyError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        if key == "per":
            if value not in UNITS:
                raise LatePolicyError(f"{where}: per = {value!r}; it is \"hour\" or \"day\"")
            continue
        number = finite_number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if number is None or number < 0 or (key.endswith("_percent") and number > 100):
            raise LatePolicyError(f"{where}: {key} = {value!r}; a number from 0"
                                  + (" to 100" if key.endswith("_percent") else " up"))
        if key == "max_submissions" and number != int(number):
            raise LatePolicyError(f"{where}: max_submissions = {value!r}; a whole number")
        if key == "window_hours" and number == 0:
            raise LatePolicyError(f"{where}: window_hours must be above 0")
    values = dict(table)
    if "max_submissions" in values:
        values["max_submissions"] = int(values["max_submissions"])
    return Policy(**values)


def load(edition: str = "2022", path: Path | None = None) -> Policy:
    """The [late] policy of an edition's rubric (no section: a policy that changes nothing)."""
    path = Path(path) if path else RUBRICS / f"{edition}.toml"
    return from_table(tomllib.loads(path.read_text()).get("late", {}), f"{path.name} [late]")


def parse_time(text) -> datetime:
    """An ISO 8601 time with its UTC offset, as Gradescope writes them."""
    if not isinstance(text, str):
        raise LatePolicyError(f"not a time: {text!r}")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise LatePolicyError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise LatePolicyError(f"a time without its UTC offset: {text!r}")
    return moment


def _dates(metadata: dict, key: str) -> datetime | None:
    """The assignment's date `key`, or the latest of the users' own (an extension) when they have one."""
    own = [u["assignment"].get(key) for u in metadata.get("users") or ()
           if isinstance(u, dict) and isinstance(u.get("assignment"), dict) and u["assignment"].get(key)]
    if own:
        return max(parse_time(t) for t in own)
    value = (metadata.get("assignment") or {}).get(key)
    return parse_time(value) if value else None


def duration(seconds: float) -> str:
    """2 days 3 h 5 min: how a person says a lateness."""
    minutes = int(round(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = ([f"{days} day{'s' if days != 1 else ''}"] if days else []) + ([f"{hours} h"] if hours else []) \
        + ([f"{minutes} min"] if minutes or not (days or hours) else [])
    return " ".join(parts)


def assess(metadata: dict, policy: Policy) -> dict:
    """What the policy does to this submission: {submitted_at, due_date, late_due_date, late_seconds,
    late_units, penalty_percent, limit, refused, previous_score, next_allowed, message}. Raises
    LatePolicyError when the metadata lacks what the policy needs."""
    if not isinstance(metadata, dict):
        raise LatePolicyError(f"{METADATA} is not a JSON object")
    now = parse_time(metadata.get("created_at"))
    due, late_due = _dates(metadata, "due_date"), _dates(metadata, "late_due_date")
    out = {"submitted_at": now.isoformat(), "due_date": due.isoformat() if due else None,
           "late_due_date": late_due.isoformat() if late_due else None, "late_seconds": 0.0,
           "late_units": 0, "penalty_percent": 0.0, "refused": False, "previous_score": None,
           "next_allowed": None, "limit": None, "message": ""}
    lines = []
    if policy.max_submissions:
        window = timedelta(hours=policy.window_hours)
        earlier = []
        for previous in metadata.get("previous_submissions") or ():
            if isinstance(previous, dict):
                earlier.append((parse_time(previous.get("submission_time")), previous.get("score")))
        recent = sorted(t for t, _ in earlier if now - window < t <= now)
        out["limit"] = {"max_submissions": policy.max_submissions, "window_hours": policy.window_hours,
                        "in_window": len(recent) + 1}
        if len(recent) + 1 > policy.max_submissions:
            # graded again once enough of the window's submissions have left it
            next_allowed = recent[len(recent) - policy.max_submissions] + window
            latest = max(earlier, key=lambda e: e[0])
            score = latest[1]
            out.update(refused=True, next_allowed=next_allowed.isoformat(),
                       previous_score=finite_number(score) if isinstance(score, (int, float)) else None)
            lines.append(f"Submission limit reached: this is submission {len(recent) + 1} in the "
                         f"{policy.window_hours:g} h before {now.isoformat()}, and at most "
                         f"{policy.max_submissions} are graded in any {policy.window_hours:g} h. It was not "
                         f"graded; it keeps the score of your submission of {latest[0].isoformat()}"
                         + ("" if out["previous_score"] is not None else
                            " (Gradescope's record of it has no score: the score shown here is not a grade, and "
                            "the staff will restore that submission's)") + ". "
                         f"The next submission is graded from {next_allowed.isoformat()}.")
    if due is not None and policy.penalty_percent > 0:
        late = (now - due).total_seconds()
        if late > policy.grace_minutes * 60:
            units = math.ceil(late / UNITS[policy.per])
            percent = min(policy.cap_percent, units * policy.penalty_percent)
            out.update(late_seconds=late, late_units=units, penalty_percent=percent)
            lines.append(f"Late: submitted {now.isoformat()}, due {due.isoformat()}: {duration(late)} late, "
                         f"{units} {policy.per}(s) started at {policy.penalty_percent:g}% each"
                         + (f", capped at {policy.cap_percent:g}%" if units * policy.penalty_percent > policy.cap_percent else "")
                         + f": {percent:g}% off the auto-graded score."
                         + (f" This is after the late due date, {late_due.isoformat()}." if late_due and now > late_due else ""))
    out["message"] = "\n".join(lines)
    return out


def penalised(score: float, late: dict | None) -> float:
    """The score after the late penalty of `late` (assess's result), to the rubric's 4 places."""
    percent = (late or {}).get("penalty_percent") or 0.0
    return round(score * (1 - percent / 100), 4)


def after_penalty(results: dict, score) -> float | None:
    """`score` after grade.json's late penalty (results["late"]), or None when none applies: no
    policy, not late, or nothing graded (what a failed run scored is not a grade to cut).
    Gradescope's score, its summary and report.html all take the penalty from here."""
    late = results.get("late")
    if results.get("error") or not isinstance(late, dict) or not isinstance(score, (int, float)):
        return None
    percent = late.get("penalty_percent")
    if not isinstance(percent, (int, float)) or not percent > 0:
        return None
    return penalised(float(score), late)


def read(root: Path, edition: str) -> dict | None:
    """The assessment of ROOT/submission_metadata.json under the edition's policy; None when there
    is no policy or no metadata; {"message": ..., "problem": True} when it cannot be applied (a
    problem of the platform or the rubric, so nothing is taken off)."""
    try:
        policy = load(edition)
        if not policy.active:
            return None
        path = Path(root) / METADATA
        if not path.is_file():
            return None
        return assess(json.loads(path.read_text()), policy)
    except (LatePolicyError, OSError, ValueError) as err:
        return {"problem": True, "penalty_percent": 0.0, "refused": False,
                "message": f"The late policy was not applied ({err}); the staff will check the submission time."}
