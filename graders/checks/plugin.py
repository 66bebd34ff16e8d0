"""The grading plugin: options, the `rubric` marker, and one results document per session.

Registered for every pytest run of the environment (entry point `pytest11`), so it does nothing
unless --submission is given. A check is an ordinary test function with a marker::

    @pytest.mark.rubric("Q2.3.1", weight=2)            # visibility/tier default to the question's
    def test_grad_w_matches_numerical(nn, rng):
        '''backwards stores grad_W equal to the numerical gradient'''   # the line the student reads

Outcomes are turned into plain records in pytest_runtest_makereport and travel inside
`report.user_properties`, so with pytest-xdist they reach the controller with the reports; the
controller scores them with the rubric and writes the results JSON at session finish. Checks
deselected by --visibility public or --quick travel through `workeroutput` instead.

Why one file this long: a pytest plugin is one module of hooks, and the hooks share the records
that travel from xdist's workers to the controller.
"""
from __future__ import annotations

import collections
import functools
import platform
import time
from importlib import metadata
from pathlib import Path

import pytest

from graders.results import messages
from graders.results import document as results_doc
from graders.checks import rubric as rubric_mod

RECORD = "hw5grade"              # user_properties key of a check's outcome record
NOTE = "hw5grade_note"           # user_properties key of a note for the whole submission
# progress(question, checks passed, checks run) as each question's last check reports, set by
# graders.pipeline.grade.main for a terminal (with xdist, in the controller, which replays the reports)
PROGRESS = None
IN_QUESTION = "checks_in_question"   # a phase record's count of its question's checks (not kept)
ISOLATION = "hw5grade_isolation"
ENFORCEMENT = "hw5grade_enforcement"   # how the sandbox enforced its limits
DEVICE = "hw5grade_device"             # where a PyTorch script ran: "cpu" or "GPU N (model)" (graders.sandbox.gpus)
CATALOG = "hw5grade_catalog"     # workeroutput key: checks this worker deselected
PLANNED = "hw5grade_planned"     # workeroutput key: checks this worker's session was to run
STUDENT_SECONDS = "hw5grade_student_seconds"   # workeroutput key: this worker's time in the sandbox
STATE = pytest.StashKey["Collector"]()
RESULTS = pytest.StashKey[dict]()       # the results document, for callers in the same process
ORDER = pytest.StashKey[int]()          # a check's position in the suites, for listing
LIBRARIES = ("numpy", "scipy", "scikit-image", "matplotlib", "pytest", "pytest-xdist", "torch",
             "torchvision")


def pytest_addoption(parser):
    group = parser.getgroup("hw5grade", "grading a homework submission")
    group.addoption("--submission", metavar="DIR", default=None,
                    help="the submission: a folder holding python/, or the python/ folder itself")
    group.addoption("--data-dir", metavar="DIR", default=None,
                    help="course data: a folder with data/ and images/, or the data folder itself "
                         "(default: the embedded synthetic data)")
    group.addoption("--edition", default="2022", help="handout edition whose rubric applies")
    group.addoption("--pytorch-map", dest="pytorch_map", metavar="FILE", default=None,
                    help="a TA's map of PyTorch questions to files (graders.pipeline.discovery.load_map)")
    group.addoption("--visibility", choices=("public", "all"), default="all",
                    help="public: only the checks students receive (hidden ones are not run)")
    group.addoption("--quick", action="store_true", default=False,
                    help="skip the training tier (everything else runs in seconds)")
    group.addoption("--results", metavar="FILE", default=None, help="write the results JSON here")
    group.addoption("--grade-seed", type=int, default=None,
                    help="seed of the checks' random inputs (default: derived from the submission)")
    group.addoption("--strict-repairs", dest="strict_repairs", action="store_true", default=False,
                    help="refuse every repair (graders/sandbox/shipped/repairs.py): code written for older "
                         "libraries or another machine fails as it would")
    group.addoption("--staff", action="store_true", default=False,
                    help="staff grading: photos, held-out data and seeds from the course key "
                         "(graders.checks.secret; graders.pipeline.grade.run sets it for --visibility all)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "rubric(question, weight=1, visibility=None, tier=None): ties a check to a "
                   "rubric question; its docstring is the sentence the student reads")
    config.addinivalue_line(
        "markers", "public_answers: the check's inputs have answers the student holds (the course photos "
                   "beside a course key's staff pages): graded and shown, worth no points")
    if config.getoption("submission", None):
        state = config.stash[STATE] = Collector(config)
        _SANDBOX_REPAIRS.update(state.rubric.sandbox_repairs(bool(config.getoption("strict_repairs"))))
        config.pluginmanager.register(Reports(state), "hw5grade-reports")


# The repairs this session's sandboxes install (Rubric.sandbox_repairs): read by the suites'
# fixtures that open sandboxes (graders/suites/conftest.py).
_SANDBOX_REPAIRS: dict = {}
REPAIRS_START = pytest.StashKey[int]()


def sandbox_repairs() -> dict | None:
    return dict(_SANDBOX_REPAIRS) if _SANDBOX_REPAIRS else None


def _repairs_so_far() -> list:
    import sys
    sandbox = sys.modules.get("graders.sandbox.sandbox")   # never imported by the plugin's own loading
    return sandbox.repairs_fired() if sandbox else []


def check_repairs(item) -> list:
    """The repairs the check's runs needed: those fired while it ran (its fixtures' first runs
    included) and those of the script runs it reads (a session fixture run by an earlier check)."""
    found = list(_repairs_so_far()[item.stash.get(REPAIRS_START, 0):])
    for value in getattr(item, "funcargs", {}).values():
        for holder in (value, getattr(value, "outcome", None)):
            fired = getattr(holder, "repairs", None)
            if isinstance(fired, list) and holder.__class__.__name__.endswith("Outcome"):
                found += fired
    unique = []
    for r in found:
        if r not in unique:
            unique.append(r)
    return unique


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[REPAIRS_START] = len(_repairs_so_far())


def _collector(config) -> Collector | None:
    return config.stash.get(STATE, None)


def describe_item(item, rubric) -> dict | None:
    """The static part of a check's record: question, weight, visibility, tier, sentence."""
    marker = item.get_closest_marker("rubric")
    if marker is None:
        return None
    named = marker.args[0] if marker.args else marker.kwargs.get("question")
    qid = rubric.resolve(named)
    if qid is None:
        if named not in rubric_mod.known_marker_ids():
            raise rubric_mod.RubricError(f"{item.nodeid}: question {named!r} is in no edition's rubric")
        return None          # a task of another edition: not a check of this one
    q = rubric[qid]
    visibility, tier = marker.kwargs.get("visibility", q.visibility), marker.kwargs.get("tier", q.tier)
    if visibility not in rubric_mod.VISIBILITIES or tier not in rubric_mod.TIERS:
        raise rubric_mod.RubricError(f"{item.nodeid}: unknown visibility {visibility!r} or tier {tier!r}")
    doc = " ".join((getattr(getattr(item, "function", None), "__doc__", None) or item.name).split())
    return {
        "nodeid": item.nodeid,
        "name": item.name,
        "question": qid,
        "description": doc,
        # a check on inputs whose answers the student has (the course photos beside a course
        # key's staff pages) is shown and worth nothing
        "weight": 0.0 if item.get_closest_marker("public_answers") else float(marker.kwargs.get("weight", 1)),
        "visibility": visibility,
        "tier": tier,
        "order": item.stash.get(ORDER, 0),
    }


class Collector:
    """Per-session state: the catalog of checks and their outcome records (controller side)."""

    def __init__(self, config):
        self.config = config
        self.rubric = rubric_mod.load(config.getoption("edition"))
        self.records: dict[str, dict] = {}      # nodeid -> record, in report order
        self.deselected: dict[str, dict] = {}   # nodeid -> record of a check this run left out
        self.planned: dict[str, dict] = {}      # nodeid -> static record of a check to be run
        self.in_question: collections.Counter = collections.Counter()   # question -> checks to be run
        self.finished: dict[str, set] = {}      # question -> nodeids whose checks have reported
        self.notes: list[str] = []
        self.isolation: str | None = None
        self.enforcement: str | None = None
        self.devices: dict[str, str] = {}     # script -> where it ran, on a machine with GPUs
        self.started = time.time()
        self.student_seconds = 0.0               # xdist workers' time in student code, added up
        self._sandbox_clock = _sandbox_seconds()  # this process's total so far (grade.run may repeat)

    # -- collection ------------------------------------------------------------------------
    def select(self, items) -> list:
        public_only = self.config.getoption("visibility") == "public"
        quick = self.config.getoption("quick")
        keep, drop = [], []
        for item in items:
            info = describe_item(item, self.rubric)
            if info is None and item.get_closest_marker("rubric") is not None:
                drop.append(item)    # another edition's task: not listed, not scored
                continue
            reason = None
            if info and public_only and info["visibility"] == "hidden":
                reason = "hidden"
                info.update(status="hidden-not-run",
                            message="hidden check: it exists and was not run (--visibility public)")
            elif info and quick and info["tier"] == "training":
                reason = "quick"
                info.update(status="skipped", message="not run: training tier skipped (--quick)")
            if reason:
                info["not_run"] = reason
                self.deselected[item.nodeid] = info
                drop.append(item)
            else:
                keep.append(item)
                if info:
                    self.planned[item.nodeid] = info
        self.in_question = collections.Counter(info["question"] for info in self.planned.values())
        return keep, drop

    # -- outcomes ----------------------------------------------------------------------------
    def add_report(self, report):
        for key, value in report.user_properties:
            if key == NOTE and value not in self.notes:
                self.notes.append(value)
            elif key == ISOLATION:
                self.isolation = value
            elif key == ENFORCEMENT:
                self.enforcement = value
            elif key == DEVICE and isinstance(value, (list, tuple)) and len(value) == 2:
                self.devices[str(value[0])] = str(value[1])
        phase = next((v for k, v in report.user_properties if k == RECORD), None)
        if phase is None:
            return
        record = self.records.setdefault(report.nodeid, {"duration": 0.0})
        record["duration"] = round(record["duration"] + report.duration, 4)
        outcome = {k: v for k, v in phase.items() if k not in ("when", IN_QUESTION)}
        # setup and call decide in turn; a teardown failure spoils only a check that passed
        if phase["when"] != "teardown" or (phase["status"] != "passed"
                                           and record.get("status") == "passed"):
            record.update(outcome)
        if PROGRESS is not None and phase["when"] == "teardown":
            self._progress(report.nodeid, phase["question"], phase.get(IN_QUESTION))

    def _progress(self, nodeid: str, question: str, total) -> None:
        """Tell PROGRESS a question's result once its last planned check has reported. How many
        checks it has comes with each report: under xdist this process collected nothing."""
        finished = self.finished.setdefault(question, set())
        finished.add(nodeid)
        if isinstance(total, int) and len(finished) == total:
            PROGRESS(question, sum(self.records[k].get("status") == "passed" for k in finished), total)

    def results(self, exitstatus) -> dict:
        checks = []
        for nodeid, info in self.deselected.items():
            if nodeid not in self.records:
                checks.append(dict(info))
        for nodeid, info in self.planned.items():
            if nodeid not in self.records:
                # a crashed xdist worker or an early stop (-x, Ctrl-C): never a silent zero
                checks.append({**info, "status": "error",
                               "message": "this check did not report a result (the grading worker "
                                          "crashed or the run stopped early); it is not your fault"})
        for record in self.records.values():
            record.setdefault("status", "error")
            checks.append(record)
        advisory = self.repairs_check(checks)
        if advisory:
            checks.append(advisory)
        scored = self.rubric.score(checks, self.scanned_removed_names())
        hidden = sum(c.get("not_run") == "hidden" for c in checks)
        notes = list(self.notes)
        if self.devices:     # a machine with GPUs (graders.sandbox.gpus): the staff's to know, the student's too
            notes.append("where the PyTorch scripts ran: "
                         + "; ".join(f"{script} on {where}" for script, where in sorted(self.devices.items())))
        if not self.config.getoption("staff"):
            from graders.checks import secret
            notes.append(secret.PUBLIC_NOTE)
        if hidden:
            notes.append(f"{hidden} hidden check(s) exist and were not run (--visibility public); "
                         "they are graded when the staff grade the submission")
        notes += repair_notes(scored["repairs"])
        if scored["not_graded_by_this_version"]:
            notes.append("not graded by this version of the harness (no checks yet): "
                         + ", ".join(scored["not_graded_by_this_version"]))
        return {
            "edition": self.rubric.edition,
            "submission": str(self.config.getoption("submission")),
            "visibility": self.config.getoption("visibility"),
            "quick": bool(self.config.getoption("quick")),
            "staff": bool(self.config.getoption("staff")),
            "isolation": self.isolation or "not used (no check ran student code)",
            "enforcement": self.enforcement or "not used (no check ran student code)",
            **({"devices": dict(sorted(self.devices.items()))} if self.devices else {}),
            "repair_policy": self.rubric.repair_policy(bool(self.config.getoption("strict_repairs"))),
            **scored,
            "checks": sorted(checks, key=lambda c: (list(self.rubric.questions).index(c["question"])
                                                    if c.get("question") in self.rubric.questions
                                                    else 10**6, c.get("order", 0))),
            "notes": notes,
            "pytest_exitstatus": int(exitstatus),
            "libraries": library_versions(),
            "timings": {"checks_seconds": round(sum(c.get("duration", 0.0) for c in checks), 3),
                        "session_seconds": round(time.time() - self.started, 3),
                        "student_seconds": round(self.own_student_seconds() + self.student_seconds, 3)},
        }

    def repairs_check(self, checks) -> dict | None:
        """The advisory check of the repairs (no points): failed when the code ran only after
        repairs, naming each with its file and line."""
        from graders.sandbox.shipped.repairs import DATA_READ
        if rubric_mod.REPAIRS_QUESTION not in self.rubric.questions or self.isolation is None:
            return None         # no check ran student code
        fired = self.rubric.repairs_of(checks)["fired"]
        strict = bool(self.config.getoption("strict_repairs"))
        # its node id is a fixed name (the file it once lived in): regrade diffs match checks by it
        record = {"nodeid": "graders/repairs.py::test_ran_without_repairs", "name": "test_ran_without_repairs",
                  "question": rubric_mod.REPAIRS_QUESTION, "weight": 1.0, "visibility": "public",
                  "tier": "quick", "order": 10**6, "duration": 0.0, "status": "passed", "message": "",
                  "description": "the code runs on today's libraries and from the course's folders, "
                                 "without repairs" + (" (--strict: none were made)" if strict else "")}
        if fired:
            policy = self.rubric.repair_policy()
            said = [f"{r['file'] or 'library code'}, line {r['line']}: {r['old']} -> {r['new']}"
                    + ("" if policy.get(r["kind"]) == rubric_mod.FREE else f" ({policy.get(r['kind'])} points)")
                    for r in fired if r["kind"] != DATA_READ]
            record.update(status="failed",
                          message="your code ran only after these repairs; fix them: " + "; ".join(said),
                          hint="old library names and paths of your own machine: the grader repaired the "
                               "spelling and graded the results; the course's rubric says what a repair costs")
        return record

    def scanned_removed_names(self) -> list[dict]:
        """The removed names the grader's own reading of the submission's files finds, once some
        check ran its code: what the repairs' log of the student's process is checked against."""
        option = self.config.getoption("submission")
        if not option or not self.isolation:
            return []
        from graders.checks import static
        return [{"kind": f.kind, "file": f.file, "line": f.line, "text": f.text}
                for f in static.removed_names_in(static.python_folder(Path(option)), static.student_files(self.rubric))
                if f.kind]

    def own_student_seconds(self) -> float:
        """Seconds this process's sandboxes ran student code during this session."""
        return _sandbox_seconds() - self._sandbox_clock


def repair_notes(repairs: dict) -> list[str]:
    """The results' notes on repairs (the terminal table and the report show notes)."""
    notes = []
    fired = repairs.get("fired") or []
    if fired:
        kinds = sorted({r["kind"] for r in fired})
        cost = sum(repairs.get("deductions", {}).values())
        notes.append(f"{len(fired)} repair(s) let the code run ({', '.join(kinds)}): "
                     + "; ".join(f"{r['file'] or '?'}:{r['line']} {r['old']} -> {r['new']}" for r in fired[:8])
                     + ("; ..." if len(fired) > 8 else "")
                     + (f"; the rubric deducts {cost:g} point(s) for them" if cost else "; free under the rubric"))
    # only where it costs points: an honest file's old name in code that never ran is no news
    unreported = [r for r in repairs.get("unreported") or () if r.get("kind") in (repairs.get("deductions") or {})]
    if unreported:
        notes.append("the grader's own reading of the files found removed names whose repairs the run did not "
                     "report (counted as repairs): " + "; ".join(f"{r['file']}:{r['line']} {r['text']}"
                                                                for r in unreported[:8])
                     + ("; ..." if len(unreported) > 8 else "")
                     + f"; the rubric deducts {sum(repairs['deductions'].values()):g} point(s) for repairs")
    if repairs.get("data_read"):
        notes.append("course data files the scripts read: " + ", ".join(repairs["data_read"]))
    return notes


def _sandbox_seconds() -> float:
    from graders.sandbox import sandbox   # imported only when grading: the plugin loads in every pytest
    return sandbox.student_seconds()


def library_versions() -> dict:
    return dict(_library_versions())


@functools.lru_cache(maxsize=1)
def _library_versions() -> dict:
    # each lookup searches every folder of sys.path; a batch's pool process asks once
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def phase_record(item, call, report) -> dict | None:
    """The outcome of one phase of a check, as plain data (it crosses xdist's channel)."""
    state = _collector(item.config)
    info = describe_item(item, state.rubric) if state else None
    if info is None:
        return None
    info[IN_QUESTION] = state.in_question.get(info["question"])
    if report.when != "call" and report.passed:
        return {**info, "when": report.when, "status": "passed", "message": ""}
    record = {**info, "when": report.when, "message": ""}
    # what a check attached with record_property (figures, a confusion matrix, ...) for the report
    data = {k: v for k, v in item.user_properties if k not in (RECORD, NOTE, ISOLATION, ENFORCEMENT, DEVICE)}
    if data:
        record["data"] = data
    repairs = check_repairs(item)
    if repairs:
        record["repairs"] = repairs
    excinfo = call.excinfo
    if excinfo is None:
        record["status"] = "passed"
    elif report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        record.update(status="skipped", message=reason.removeprefix("Skipped: "))
    elif isinstance(excinfo.value, messages.CheckFailure):
        record.update(status=excinfo.value.status, **excinfo.value.render())
    elif isinstance(excinfo.value, AssertionError):
        record.update(status="failed", message=str(excinfo.value).split("\nassert")[0] or "check failed")
    else:
        # A check that raises anything else is a bug of the harness, never the student's fault.
        record.update(status="error",
                      message=f"the grader itself failed ({excinfo.typename}: {excinfo.value}); "
                              "this is not your fault, please tell the course staff",
                      traceback=str(report.longrepr)[-4000:])
    return record


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    state = _collector(config)
    if state is None:
        return
    for i, item in enumerate(items):
        item.stash[ORDER] = i
    keep, drop = state.select(items)
    # quick checks first (stable): a student's first results come while the training runs wait
    keep.sort(key=lambda item: state.planned.get(item.nodeid, {}).get("tier") == "training")
    if drop or keep != items:
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
    if hasattr(config, "workerinput"):
        config.workeroutput[CATALOG] = list(state.deselected.values())
        config.workeroutput[PLANNED] = list(state.planned.values())


@pytest.hookimpl(tryfirst=True, specname="pytest_runtest_makereport")
def pytest_runtest_makereport_of_check_failures(item, call):
    """The report of a check that failed the student's work (a CheckFailure) carries its message
    where pytest would format a traceback of the check's own code: nobody reads that (the grade
    and the report take the message; pytest.log now shows it too), and it cost 30 ms a failure,
    a third of a second for a submission failing on ten photos. Other outcomes: pytest's own."""
    excinfo = call.excinfo
    if excinfo is None or not isinstance(excinfo.value, messages.CheckFailure) or _collector(item.config) is None:
        return None
    path, line, _ = item.location
    text = f"{path}:{(line or 0) + 1}: {type(excinfo.value).__name__}: {messages.render_text(excinfo.value.render())}"
    sections = [(f"Captured {key} {when}", content) for when, key, content in item._report_sections]
    return pytest.TestReport(item.nodeid, item.location, dict.fromkeys(item.keywords, 1), "failed", text,
                             call.when, sections, call.duration, call.start, call.stop,
                             user_properties=item.user_properties)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if _collector(item.config) is not None:
        record = phase_record(item, call, report)
        if record is not None:
            report.user_properties.append((RECORD, record))
    return report


class Reports:
    """Receives every report; xdist replays the workers' reports in the controller."""

    def __init__(self, state: Collector):
        self.state = state

    def pytest_runtest_logreport(self, report):
        self.state.add_report(report)

    def pytest_deselected(self, items):
        # -k / -m deselect before our own selection; those checks keep their weight
        for item in items:
            info = describe_item(item, self.state.rubric)
            if info and item.nodeid not in self.state.deselected:
                info.update(status="skipped", not_run="deselected", message="not run: deselected")
                self.state.deselected[item.nodeid] = info

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):
        output = getattr(node, "workeroutput", {})
        for info in output.get(CATALOG, []):
            self.state.deselected.setdefault(info["nodeid"], info)
        for info in output.get(PLANNED, []):
            self.state.planned.setdefault(info["nodeid"], info)
        self.state.student_seconds += output.get(STUDENT_SECONDS, 0.0)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        config = session.config
        if hasattr(config, "workerinput"):
            config.workeroutput[STUDENT_SECONDS] = self.state.own_student_seconds()
            return
        results = self.state.results(exitstatus)
        config.stash[RESULTS] = results
        path = config.getoption("results")
        if path:
            results_doc.write(path, results, compact=True)     # read back once, by grade.run

    def pytest_terminal_summary(self, terminalreporter):
        results = terminalreporter.config.stash.get(RESULTS, None)
        if results is not None:
            from graders.outputs.terminal import format_table
            terminalreporter.write_sep("=", "hw5grade")
            terminalreporter.write_line(format_table(results))

