"""`hw5grade batch SUBMISSIONS --out DIR`: grade a folder of submissions, one job each.

Each submission found by graders.pipeline.ingest.discover is one job: prepare it (graders.pipeline.ingest.prepare
into a private temporary folder), grade it with graders.pipeline.grade.run into DIR/submissions/<name>/,
then render its report.html and results.json (graders.outputs.publish.write_outputs). Jobs run on a local
pool of processes (-j N), or on a Dask cluster (--scheduler ADDRESS): the same job function
either way. At the end graders.outputs.overview.write_batch writes DIR/index.html and DIR/grades.csv
(the class's files: no submission's folder can take their names).

Decisions worth knowing:
- Every submission ends with a grade.json that says what happened: a file that cannot be read
  (IngestError) gets score 0 and the reason; a job that raises, or whose process dies, or whose
  grader failed on a check (graders.results.document.mark_grader_failures), is a "grader-error": not a
  grade, shown in red, never remembered by resume, and the batch exits non-zero.
- A job has a wall-clock limit (--job-seconds; by default the rubric's script budgets added up,
  plus slack): past it, its process and everything it started are killed and the submission
  is recorded as "timed-out"; the jobs that shared the pool are graded again. On Dask, where a
  worker's process is not the batch's to kill, each job grades in a child process it kills itself.
- Resume: DIR/submissions/<name>/hash.json holds the hash of the prepared submission and the hash of the
  grading (the graders/, fixtures/ and reference/python/ sources, the rubric among them, the
  options and the library versions); a submission whose two hashes match is not graded again
  (--force grades all). Only a clean grade is remembered, so failures are retried. --data-dir is
  hashed by its path, not its contents.
- Cores: -j N jobs side by side, each spreading its checks over max(1, cores // N) pytest-xdist
  workers (in-process when that is 1). On Dask each job grades in-process unless -n says
  otherwise (a Dask worker thread is usually a core already).
- A worker process that dies breaks a local pool: the pool is recreated, and when several jobs
  were running, each is run again alone, so only the one that kills its worker fails.
- Ctrl-C or an error of the batch itself still writes the overview of what was done.
- Like the design says, batch grading refuses to run without bubblewrap unless
  --allow-unisolated is given.

Why one file this long: one job's whole life (prepare, grade, publish, and each way it can end:
unreadable, raised, died, timed out, grader failure) must read as one story, so that no end of it
is forgotten on the pool or on Dask.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import gc
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from graders.results import document as results_doc
from graders.results import messages

HERE = Path(__file__).resolve().parents[1]       # graders/
REPO = HERE.parent
# What decides a grade besides the submission: the harness, its data generators, and the
# reference (hidden checks and the handout's given files come from it).
GRADING_SOURCES = (HERE, REPO / "fixtures", REPO / "reference" / "python")
# What only renders a grade.json (graders/outputs/; report_templates/ sits outside the graded
# sources): a change there re-renders reports (every job does, unchanged ones too) instead of
# regrading everything.
RENDERING = HERE / "outputs"
HASH_FILE = "hash.json"
PID_FILE = ".job.pid"
# a job's status in the summary: graded, unchanged (resume), ingest-error (the student's file
# cannot be read), and two that are not grades: the grader failed, or the job ran out of time
GRADER_ERROR, TIMED_OUT = "grader-error", "timed-out"
NOT_GRADES = (GRADER_ERROR, TIMED_OUT)
PROBLEMS = (*NOT_GRADES, "ingest-error")


def submission_out(out_root, name: str) -> Path:
    """A submission's own folder of the batch: under DIR/submissions/, apart from the class files."""
    return Path(out_root) / results_doc.SUBMISSIONS / name
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
IGNORED_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints"}


class BatchError(RuntimeError):
    """The batch cannot start (no dask, no bubblewrap, unreadable folder): a message, no trace."""


@dataclasses.dataclass(frozen=True)
class Options:
    """How every submission of the batch is graded (what grade.run takes, besides paths)."""
    visibility: str = "all"
    quick: bool = False
    data_dir: str | None = None
    edition: str = "2022"
    select: str | None = None
    strict: bool = False                 # refuse every repair (graders.sandbox.shipped.repairs)
    grade_jobs: int = 0
    allow_unisolated: bool = False
    job_seconds: float | None = None     # None: job_limit() from the rubric
    job_in_child: bool = False           # grade in a child process under the limit (Dask's jobs)

    def settings(self) -> dict:
        """The options that can change a grade (how many cores it used, or the backstop on its
        time, cannot)."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in ("grade_jobs", "job_seconds", "job_in_child")}


JOB_SLACK_SECONDS = 300      # ingest, imports, the checks' own calls, a loaded machine


def job_limit(options: Options) -> float:
    """Seconds one job may take: the rubric's script budgets of what this run grades, added up,
    plus slack (each script is already stopped at its own budget; this is the backstop for
    the harness's own work and anything that escapes those limits)."""
    if options.job_seconds:
        return float(options.job_seconds)
    from graders.checks import rubric as rubric_mod
    questions = [q for q in rubric_mod.load(options.edition).questions.values()
                 if q.kind == "auto" and not (options.quick and q.tier == "training")]
    return sum(q.script_seconds for q in questions) + JOB_SLACK_SECONDS


# ----------------------------------------------------------------------------------------------
# The one hash behind resume: of a prepared submission, and of the grading side.

def tree_files(root: Path, prefix: str = "") -> dict[str, Path]:
    """Files under root by relative path; symlinks are entries themselves, never followed."""
    root, files = Path(root), {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in IGNORED_DIRS]
        for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = Path(folder) / name
            if path.suffix != ".pyc" and (path.is_symlink() or path.is_file()):
                files[prefix + path.relative_to(root).as_posix()] = path
    return files


def content_hash(files: dict[str, Path], settings: dict | None = None) -> str:
    """sha256 of the files' bytes in order of relative path (and of settings, if any)."""
    digest = hashlib.sha256(json.dumps(settings or {}, sort_keys=True, default=str).encode())
    for rel in sorted(files):
        path = files[rel]
        digest.update(b"\0" + rel.encode("utf-8", "surrogateescape") + b"\0")
        if path.is_symlink():
            digest.update(b"symlink\0" + os.fsencode(os.readlink(path)))
            continue
        digest.update(b"%d\0" % path.stat().st_size)
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def grading_hash(options: Options) -> str:
    from graders.checks.plugin import library_versions
    files = {}
    for root in GRADING_SOURCES:
        if root.is_dir():
            files.update(tree_files(root, prefix=f"{root.relative_to(REPO)}/"))
    files = {rel: path for rel, path in files.items()
             if not path.is_relative_to(RENDERING)}
    return content_hash(files, {**options.settings(), "libraries": library_versions(),
                                "course_key": staff_fingerprint(options)})


def staff_fingerprint(options: Options) -> str | None:
    """Which course key a staff batch grades under (its fingerprint, not the key): another key
    means other photos, splits and seeds, so every submission is graded again."""
    if options.visibility != "all":
        return None
    from graders.checks import secret
    return secret.fingerprint(secret.staff_key(create=True))


def prepare_data(options: Options) -> None:
    """Build the data every job reads once, before the jobs start: otherwise the first jobs of a
    pool build it side by side, on their own time limit (the staff profile takes 40-90 s)."""
    if options.data_dir:
        return
    from fixtures import cache
    from graders.checks import rubric as rubric_mod
    from graders.checks import secret
    key = secret.staff_key(create=True) if options.visibility == "all" else None
    cache.grading(key, log=lambda *a: None, files=rubric_mod.load(options.edition).nist36_layout())


def stored_hashes(out: Path) -> dict | None:
    try:
        return json.loads((out / HASH_FILE).read_text())
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------------------------
# One job: runs in a pool process or on a Dask worker; returns a small summary.

def limit_threads() -> None:
    """One BLAS thread per process: jobs and xdist workers already fill the cores."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"


def _pool_worker_init() -> None:
    limit_threads()
    # Ctrl-C is the batch's to handle: it stops the pool's processes itself, after writing results.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def require_isolation(options: Options) -> None:
    if not options.allow_unisolated:
        from graders.sandbox.sandbox import bwrap_problem
        if problem := bwrap_problem():
            raise BatchError(f"batch grading needs bubblewrap ({problem}); "
                             "--allow-unisolated grades without isolation")


def grade_job(sub, out_root: str, options: Options, grading: str, force: bool = False) -> dict:
    """Prepare, grade and report one submission into out_root/<name>/; never raises for a bad
    submission (only for a failure of the harness, which the caller records). The summary's
    "seconds" is the job's wall time in the process that ran it."""
    start = time.perf_counter()
    limit_threads()
    if options.grade_jobs <= 1:
        # this process grades submission after submission: each finds its sandbox's worker started
        from graders.sandbox.sandbox import keep_spares
        keep_spares()
    summary = _grade_job(sub, out_root, options, grading, force)
    summary["seconds"] = round(time.perf_counter() - start, 3)
    if not gc.get_freeze_count():
        # What the first job imported and cached lives as long as the process: frozen out of the
        # collector's sight, a full collection (50 ms, every other job) scans only what is new.
        gc.collect()
        gc.freeze()
    return summary


def _grade_job(sub, out_root: str, options: Options, grading: str, force: bool) -> dict:
    from graders.pipeline import grade
    from graders.pipeline import ingest

    out = submission_out(out_root, sub.name)
    out.mkdir(parents=True, exist_ok=True)
    # the batch reads which process grades this job when the job runs past its limit
    (out / PID_FILE).write_text(str(os.getpid()))
    require_isolation(options)   # on a Dask worker too: isolation is the worker's machine's
    with tempfile.TemporaryDirectory(prefix="hw5batch-") as work:
        try:
            prepared = ingest.prepare(sub, Path(work))
        except ingest.IngestError as err:
            return finish(out, failed_results(sub, options, str(err), cause=results_doc.SUBMISSION),
                          "ingest-error")
        hashes = {"submission": content_hash(tree_files(prepared.folder)), "grading": grading}
        if not force and stored_hashes(out) == hashes:
            try:
                return finish(out, results_doc.load(out), "unchanged", rewrite=False)
            except results_doc.ResultsError:
                pass     # its grade.json is gone or damaged since: graded again, not a grader error
        # a stale hash must not vouch for whatever this run leaves behind if it is stopped
        (out / HASH_FILE).unlink(missing_ok=True)
        how = dict(visibility=options.visibility, quick=options.quick, data_dir=options.data_dir,
                   edition=options.edition, jobs=options.grade_jobs, select=options.select,
                   strict=options.strict, notes=prepared.notes, fields=stamp(sub), reports=False, ingested=True)
        if options.job_in_child:
            # on Dask the batch cannot kill the worker's process: the job keeps its own limit
            limit = job_limit(options)
            results = run_within(limit, submission=prepared.folder, out_dir=out, **how)
            if results is None:
                return finish(out, failed_results(sub, options, timed_out_message(limit), cause=results_doc.TIMEOUT),
                              TIMED_OUT)
        else:
            results = grade.run(prepared.folder, out, **how)
    summary = finish(out, results, GRADER_ERROR if results.get("error") else "graded", rewrite=False)
    if summary["status"] == "graded":
        results_doc.write(out / HASH_FILE, hashes)
    return summary


def timed_out_message(limit: float) -> str:
    return f"grading this submission took longer than the {limit:.0f} s a job may take, so it was stopped"


def stamp(sub) -> dict:
    """grade.json's fields naming what the student handed in (grade.run saw a temporary copy)."""
    batch = {"name": sub.name, "kind": getattr(sub, "kind", None)}
    if getattr(sub, "canvas", None):
        batch["canvas"] = dict(sub.canvas)      # the roster's ID, and whether Canvas said late
    return {"submission": str(sub.path), "batch": batch}


def failed_results(sub, options: Options, reason: str, cause: str = "grader") -> dict:
    """A document for a submission that was not graded, saying why (nothing is awarded)."""
    from graders.pipeline import grade
    results = grade.crashed_results(options.edition, reason, sub.path, options.visibility, options.quick,
                                    cause=cause)
    results.update(stamp(sub))
    return results


def finish(out: Path, results: dict, status: str, rewrite: bool = True) -> dict:
    """Write grade.json (unless it is written already), then the reports; a report that fails
    never costs the grade."""
    from graders.pipeline import grade
    if rewrite:
        results_doc.write(out / results_doc.FILE, results)
    summary = summarize(out.name, results, status)
    problem = grade.write_reports(out)
    if problem:
        summary["report_error"] = problem
    return summary


def summarize(name: str, results: dict, status: str) -> dict:
    return {"name": name, "status": status, "score": results.get("score"),
            "max_score": results.get("max_score"), "error": results.get("error")}


# ----------------------------------------------------------------------------------------------
# Executors.

def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def grade_jobs_for(jobs: int) -> int:
    """xdist workers per submission when `jobs` submissions share this machine's cores."""
    per_job = max(1, cores() // jobs)
    return 0 if per_job == 1 else per_job


class LocalPool:
    """A process pool that can be replaced when one of its processes dies."""

    def __init__(self, jobs: int):
        self.slots = jobs
        self.executor = self._new()

    def _new(self):
        # spawn: fresh processes that read the one-thread BLAS settings before numpy loads, and
        # no copy of this process's threads (tqdm's monitor) in a fork
        return ProcessPoolExecutor(self.slots, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_pool_worker_init)

    def renew(self):
        self.stop()
        self.executor = self._new()

    def stop(self, wait_for_jobs: bool = False):
        processes = list((getattr(self.executor, "_processes", None) or {}).values())
        self.executor.shutdown(wait=wait_for_jobs, cancel_futures=True)
        if not wait_for_jobs:
            for process in processes:
                process.terminate()


class DaskCluster:
    """The same jobs on a Dask cluster, through its concurrent.futures executor."""

    def __init__(self, address: str):
        try:
            from dask.distributed import Client
        except ImportError:
            raise BatchError("--scheduler needs Dask: pip install 'dask[distributed]' "
                             "(or hw5grade[cluster])") from None
        try:
            self.client = Client(address, timeout="20s")
        except OSError as err:
            raise BatchError(f"cannot reach the Dask scheduler at {address}: {err}") from None
        self.executor = self.client.get_executor(pure=False)
        # Dask queues the jobs itself and reschedules those of a lost worker (KilledWorker after
        # several losses), so every job is submitted at once.
        self.slots = float("inf")

    def renew(self):
        raise AssertionError("a Dask executor does not break like a local pool")

    def stop(self, wait_for_jobs: bool = False):
        self.executor.shutdown(wait=wait_for_jobs)
        self.client.close()


# ----------------------------------------------------------------------------------------------
# The batch.

@dataclasses.dataclass
class Batch:
    out: Path
    options: Options
    force: bool = False
    progress: bool = True
    job = staticmethod(grade_job)   # tests replace it to make jobs fail
    summaries: dict = dataclasses.field(default_factory=dict)

    def run(self, submissions_dir, jobs: int | None = None, scheduler: str | None = None) -> dict:
        from graders.pipeline import ingest
        from tqdm import tqdm

        start = time.monotonic()
        subs = ingest.discover(Path(submissions_dir), skip=[self.out])   # --out may lie among them
        check_names(subs)
        self.out.mkdir(parents=True, exist_ok=True)
        grading = grading_hash(self.options)
        before = previous_grades(self.out)
        # gradebook, report and diff read these, not folders left by an earlier download
        results_doc.write_current(self.out, [s.name for s in subs])
        prepare_data(self.options)
        if scheduler:
            executor = DaskCluster(scheduler)
            self.options = dataclasses.replace(self.options, job_in_child=True)
        else:
            require_isolation(self.options)   # once here rather than in every job's failure
            executor = LocalPool(jobs or cores())
        bar = tqdm(total=len(subs), file=sys.stderr, unit="sub", desc="grading", dynamic_ncols=True,
                   disable=not self.progress)
        interrupted = None
        try:
            self._schedule(subs, executor, grading, bar)
            executor.stop(wait_for_jobs=True)
        except BaseException as err:   # Ctrl-C or a failure of the batch: keep what is done
            interrupted = err
            executor.stop()
        finally:
            bar.close()
        names = [s.name for s in subs if s.name in self.summaries]
        if self.options.visibility == "all":
            refresh_similarity(self.out)
        overview = write_overview(self.out, names)
        report = {"submissions": len(subs), "summaries": [self.summaries[n] for n in names],
                  "stale": results_doc.stale_names(self.out),
                  "late": [s.name for s in subs if (s.canvas or {}).get("late")],
                  "late_policy": late_policy_active(self.options),
                  "overview": overview, "seconds": time.monotonic() - start,
                  "interrupted": interrupted,
                  "regrade": regrade_summary(self.out, before, [n for n in names
                                                                if self.summaries[n]["status"] != "unchanged"])}
        if interrupted is not None and not isinstance(interrupted, KeyboardInterrupt):
            print(format_summary(report, colour=sys.stderr.isatty()), file=sys.stderr)
            raise interrupted
        return report

    def _schedule(self, subs, executor, grading, bar):
        """Keep at most executor.slots jobs in flight; after a pool breaks, run its suspects alone;
        kill a job that runs past its limit (the others of its pool are graded again)."""
        queue, alone = collections.deque(subs), collections.deque()
        in_flight = {}                          # future -> (submission, ran alone)
        self.deadlines = {}                     # future -> time.monotonic() it must end by
        self.limit = limit = job_limit(self.options)      # the rubric read once, not per job
        while queue or alone or in_flight:
            try:
                if alone and not in_flight:
                    self._submit(executor, alone, grading, in_flight, True)
                while not alone and queue and len(in_flight) < executor.slots:
                    self._submit(executor, queue, grading, in_flight, False)
                soonest = min((self.deadlines[f] for f in in_flight if f in self.deadlines), default=None)
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED,
                               timeout=None if soonest is None else max(0.0, soonest - time.monotonic()) + 0.05)
                overdue = [f for f in in_flight if not f.done() and f in self.deadlines
                           and time.monotonic() >= self.deadlines[f]] if isinstance(executor, LocalPool) else []
                broken = any(isinstance(f.exception(), BrokenProcessPool) for f in done)
            except BrokenProcessPool:           # the pool broke before this submit: not its fault
                broken, overdue = True, []
            if overdue:
                late = {in_flight[f][0].name for f in overdue}
                if not all([self._kill(in_flight[f][0]) for f in overdue]):
                    executor.stop()             # a late job's process is unknown: stop them all
                done, _ = wait(in_flight)       # the pool breaks under every job it held
                for f in list(done):
                    sub, _ = in_flight.pop(f)
                    self.deadlines.pop(f, None)
                    err = f.exception()
                    if err is None:             # it ended just before it was stopped
                        self._record(f.result(), bar)
                    elif sub.name in late:
                        self._record(self._failed(sub, timed_out_message(limit), status=TIMED_OUT), bar)
                    elif isinstance(err, BrokenProcessPool):
                        queue.appendleft(sub)   # stopped with the late one: graded again
                    else:
                        self._record(self._failed(sub, f"the grading job failed: {type(err).__name__}: {err}"), bar)
                executor.renew()
                continue
            if broken:
                done, _ = wait(in_flight)       # every job of a broken pool ends with it
                suspects = [f for f in done if isinstance(f.exception(), BrokenProcessPool)]
                for f in suspects:
                    sub, was_alone = in_flight.pop(f)
                    if was_alone or len(suspects) == 1:
                        self._record(self._failed(sub, "the grading process died while grading "
                                                       f"this submission ({f.exception()})"), bar)
                    else:
                        alone.append(sub)
                executor.renew()
            for f in done:
                if f in in_flight:
                    sub, _ = in_flight.pop(f)
                    self.deadlines.pop(f, None)
                    err = f.exception()
                    self._record(f.result() if err is None else self._failed(
                        sub, f"the grading job failed: {type(err).__name__}: {err}"), bar)

    def _submit(self, executor, waiting, grading, in_flight, alone: bool):
        """Submit the first waiting submission; it leaves `waiting` only once submitted."""
        sub = waiting[0]
        (submission_out(self.out, sub.name) / PID_FILE).unlink(missing_ok=True)
        try:
            future = executor.executor.submit(self.job, sub, str(self.out), self.options, grading, self.force)
        except OSError as err:
            # a pool whose process has just died can fail a submit ("handle is closed": CPython's
            # executor closes its queue's pipe before it marks itself broken): the same as broken
            raise BrokenProcessPool(f"the pool broke as a job was submitted ({err})") from err
        in_flight[future] = (waiting.popleft(), alone)
        if isinstance(executor, LocalPool):
            # no more jobs than processes are submitted, so a job starts when it is submitted
            self.deadlines[future] = time.monotonic() + self.limit

    def _kill(self, sub) -> bool:
        """Stop the process grading sub and everything it started (its sandboxes included);
        False when which process that is is unknown (it has not written its pid)."""
        try:
            pid = int((submission_out(self.out, sub.name) / PID_FILE).read_text())
        except (OSError, ValueError):
            return False
        kill_tree(pid)
        return True

    def _failed(self, sub, reason: str, status: str = GRADER_ERROR) -> dict:
        out = submission_out(self.out, sub.name)
        out.mkdir(parents=True, exist_ok=True)
        (out / HASH_FILE).unlink(missing_ok=True)
        return finish(out, failed_results(sub, self.options, reason,
                                          cause=results_doc.TIMEOUT if status == TIMED_OUT else results_doc.GRADER), status)

    def _record(self, summary: dict, bar) -> None:
        from graders.results.messages import printable
        self.summaries[summary["name"]] = summary
        (submission_out(self.out, summary["name"]) / PID_FILE).unlink(missing_ok=True)
        if summary["status"] in PROBLEMS:
            bar.write(printable(f"{summary['name']}: {summary['status']}: {summary.get('error')}", newlines=False),
                      file=sys.stderr)
        bar.set_postfix(problems=sum(s["status"] in PROBLEMS for s in self.summaries.values()), refresh=False)
        bar.update(1)


def kill_tree(pid: int) -> None:
    """SIGKILL pid and all its descendants, stopped first so that nothing forks meanwhile."""
    from graders.sandbox.sandbox import process_tree, signal_tree
    tree = process_tree(pid)
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        signal_tree(tree, pid, sig)


def _grade_in_child(request: str) -> None:
    limit_threads()
    from graders.pipeline import grade
    grade.run(**json.loads(Path(request).read_text()))


def run_within(seconds: float, **kwargs) -> dict | None:
    """graders.pipeline.grade.run(**kwargs) in a fresh interpreter, killed with everything it started after
    `seconds`; its grade.json, or None when it ran out of time (Gradescope's run, a Dask job).
    A subprocess, not multiprocessing: a Dask worker is a daemonic process, which may not have
    multiprocessing children."""
    import subprocess
    out = Path(kwargs["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "grade.json").unlink(missing_ok=True)
    request = out / ".job.request.json"
    request.write_text(json.dumps(kwargs, default=str))
    env = {**os.environ, **{name: "1" for name in THREAD_VARIABLES}}
    process = subprocess.Popen([sys.executable, "-c", "import sys; from graders.staff import batch; "
                                "batch._grade_in_child(sys.argv[1])", str(request)], env=env)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        process.wait()
        return None
    finally:
        request.unlink(missing_ok=True)
    from graders.pipeline import grade
    try:
        return results_doc.load(out)
    except results_doc.ResultsError as err:
        results = grade.crashed_results(kwargs.get("edition", "2022"), f"the grading process ended with exit "
                                        f"code {process.returncode} without a readable grade.json ({err})",
                                        kwargs.get("submission"), kwargs.get("visibility", "all"),
                                        kwargs.get("quick", False))
        # its callers take grade.json as written (finish(rewrite=False)): this document is it,
        # with their notes and fields (the batch's stamp, Gradescope's late policy) as grade.run adds them
        return grade._record(out, results, kwargs.get("notes", ()), kwargs.get("fields"), reports=False)


def refresh_similarity(out: Path) -> None:
    """A staff batch ends with the similarity of its submissions in the overview (never in a
    student's files); without copydetect it has no similarity section."""
    from graders.staff import similarity
    try:
        similarity.refresh(out)
    except similarity.SimilarityUnavailable:
        (out / similarity.FOLDER / similarity.PAIRS).unlink(missing_ok=True)   # no stale pairs shown
    except Exception as err:  # noqa: BLE001 -- the grades, the overview and the gradebook come first
        (out / similarity.FOLDER / similarity.PAIRS).unlink(missing_ok=True)
        print(f"hw5grade batch: the similarity of the submissions was not computed ({type(err).__name__}: "
              f"{messages.printable(str(err))[:300]}); every grade is written", file=sys.stderr)


def check_names(subs) -> None:
    """Each name becomes a folder of DIR: it must be one plain, unique path component."""
    seen = set()
    for sub in subs:
        if not sub.name or sub.name in (".", "..") or Path(sub.name).name != sub.name:
            raise BatchError(f"submission {sub.path} has a name unusable as a folder: {sub.name!r}")
        if sub.name in seen:
            raise BatchError(f"two submissions are named {sub.name!r}")
        seen.add(sub.name)


def previous_grades(out: Path) -> dict:
    """The grade.json documents a batch folder holds before this run (for the regrade summary)."""
    try:
        from graders.outputs import regrade_diff
        return regrade_diff.snapshot(out)
    except Exception:  # noqa: BLE001 -- only the summary is lost
        return {}


def regrade_summary(out: Path, before: dict, regraded: list[str]) -> str:
    """Who moved among the submissions graded again (graders.outputs.regrade_diff); never raises."""
    try:
        from graders.outputs import regrade_diff
        return regrade_diff.after_regrade(out, before, regraded)
    except Exception as err:  # noqa: BLE001 -- the grades are written already
        return f"regrade summary not made: {type(err).__name__}: {err}"


def late_policy_active(options: Options) -> bool:
    """Whether the rubric's [late] policy is switched on (a batch records lateness, never applies it)."""
    try:
        from graders.outputs import late_policy
        return late_policy.load(options.edition or "2022").active
    except Exception:  # noqa: BLE001 -- only a line of the summary depends on it
        return False


def write_overview(out: Path, names: list[str]) -> dict:
    """index.html and grades.csv of the batch; a failure is reported, never raised."""
    try:
        from graders.outputs import overview
        paths = overview.write_batch(out, names)
        return {"paths": {k: str(v) for k, v in (paths or {}).items()}}
    except Exception as err:  # noqa: BLE001 -- the grades are written already
        return {"paths": {}, "error": f"{type(err).__name__}: {err}"}


RED, RESET = "\x1b[31m", "\x1b[0m"


def format_summary(report: dict, colour: bool = False) -> str:
    """The batch's closing lines; what is not a grade (grader error, timed out) in red on a terminal."""
    from graders.results.messages import printable
    red = (lambda text: f"{RED}{text}{RESET}") if colour else (lambda text: text)
    counts = collections.Counter(s["status"] for s in report["summaries"])
    scored = [s for s in report["summaries"] if s["status"] in ("graded", "unchanged")
              and s["score"] is not None]
    minutes, seconds = divmod(report["seconds"], 60)
    lines = [f"hw5grade batch: {len(report['summaries'])} of {report['submissions']} submissions done "
             f"in {int(minutes)} min {seconds:.0f} s",
             f"  graded {counts['graded']}, unchanged (skipped) {counts['unchanged']}, "
             f"ingest errors {counts['ingest-error']}, "
             + red(f"grader errors {counts[GRADER_ERROR]}, timed out {counts[TIMED_OUT]}")
             + (" (not grades: fix the cause and run the batch again; they are regraded)"
                if counts[GRADER_ERROR] or counts[TIMED_OUT] else "")]
    if scored:
        mean = sum(s["score"] for s in scored) / len(scored)
        lines.append(f"  mean score {mean:.2f}/{scored[0]['max_score']:g} over {len(scored)} submissions")
    for s in report["summaries"]:
        if s["status"] in PROBLEMS:
            text = printable(f"  {s['status']}: {s['name']}: {s['error']}", newlines=False)
            lines.append(red(text) if s["status"] in NOT_GRADES else text)
    if report.get("late"):
        lines.append(printable(f"  Canvas marked {len(report['late'])} late: {', '.join(report['late'][:10])}"
                               f"{' ...' if len(report['late']) > 10 else ''}"
                               + (" (the rubric's [late] policy is applied by the Gradescope runner, which reads "
                                  "each submission's time, not by a batch: apply it to these by hand)"
                                  if report.get("late_policy") else ""), newlines=False))
    if report.get("stale"):
        lines.append(printable(f"  {len(report['stale'])} folder(s) of submissions/ from an earlier run are no longer "
                               f"in the downloads, so not in grades.csv: {', '.join(report['stale'][:10])}"
                               f"{' ...' if len(report['stale']) > 10 else ''} (delete them, or keep them as history)",
                               newlines=False))
    reports = [s for s in report["summaries"] if s.get("report_error")]
    if reports:
        lines.append(printable(f"  report.html not written for {len(reports)}: {reports[0]['report_error']}",
                               newlines=False))
    if report.get("interrupted") is not None:
        left = report["submissions"] - len(report["summaries"])
        lines.append(f"  STOPPED ({type(report['interrupted']).__name__}): {left} not graded; "
                     "run the same command again to finish (done ones are not regraded)")
    if report.get("regrade"):
        lines.append("  regraded: " + report["regrade"].replace("\n", "\n  "))
    overview = report["overview"]
    index = next((p for p in overview["paths"].values() if p.endswith(".html")), None)
    lines.append(f"  overview: {index}" if index else
                 f"  overview not written: {overview.get('error', 'no index.html returned')}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", help="a folder of submissions (folders, zips, notebooks)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="DIR/submissions/<name>/ per submission, DIR/index.html and DIR/grades.csv")
    parser.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                        help="submissions graded side by side (default: the number of cores)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="grade on this Dask scheduler (tcp://host:8786) instead of a local pool")
    parser.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    from graders.pipeline import grade
    grade.add_grading_options(parser)
    parser.add_argument("-n", "--grade-jobs", type=int, default=None, metavar="N",
                        help="pytest-xdist workers per submission (default: cores // jobs, "
                             "0 = in-process when that is 1; 0 on Dask)")
    parser.add_argument("--job-seconds", type=float, default=None, metavar="S",
                        help="wall-clock limit of one submission's job, after which it is killed and "
                             "recorded as timed out (default: the rubric's script budgets added up, plus "
                             f"{JOB_SLACK_SECONDS} s)")
    parser.add_argument("--allow-unisolated", action="store_true",
                        help="grade even where bubblewrap cannot run (student code unconfined)")


def main(args: argparse.Namespace) -> int:
    jobs = args.jobs or cores()
    if jobs < 1:
        print("hw5grade batch: -j must be at least 1", file=sys.stderr)
        return 2
    grade_jobs = args.grade_jobs
    if grade_jobs is None:
        grade_jobs = 0 if args.scheduler else grade_jobs_for(jobs)
    options = Options(visibility=args.visibility, quick=args.quick,
                      data_dir=str(Path(args.data_dir).resolve()) if args.data_dir else None,
                      edition=args.edition, select=args.select, strict=args.strict, grade_jobs=grade_jobs,
                      allow_unisolated=args.allow_unisolated, job_seconds=args.job_seconds)
    if not Path(args.submissions).is_dir():
        what = ("is a file, not a folder: unzip Canvas's bulk download (or any archive of the class) into a "
                "folder and pass the folder" if Path(args.submissions).is_file() else "is no folder")
        print(f"hw5grade batch: {args.submissions} {what}", file=sys.stderr)
        return 2
    batch = Batch(Path(args.out).resolve(), options, force=args.force, progress=True)
    try:
        report = batch.run(args.submissions, jobs=jobs, scheduler=args.scheduler)
    except BatchError as err:
        print(f"hw5grade batch: {err}", file=sys.stderr)
        return 2
    print(format_summary(report, colour=sys.stdout.isatty()))
    if report["interrupted"] is not None:
        return 130
    return 1 if any(s["status"] in NOT_GRADES for s in report["summaries"]) else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="hw5grade batch", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
