"""Run untrusted student code in a sandboxed worker process (the trusted side).

Student code never runs in this process.  A worker (graders/sandbox/shipped/worker.py, copied alone into the
sandbox) imports the submission and answers requests over dedicated pipes with plain data
(graders/sandbox/shipped/protocol.py: JSON + NumPy arrays, nothing is ever unpickled here).  On Linux the worker
runs under bubblewrap: no network, a read-only allowlisted view of the system, a private
writable copy of the submission, data and images read-only, and nothing of the repository, the
home folder or the fixture cache.  Limits are enforced partly inside (rlimits set by the worker)
and partly from here (wall clock, resident memory of the process tree, process count, output and
disk usage), and every kill is a SIGKILL of the whole tree.

Nothing the worker does may outlive it or cost the trusted side unbounded work: every exchange
kills the worker's whole tree on any error; its CPU time has a hard limit it cannot raise (set
before it starts, and by the worker before any student code); CPU spent in the background
between requests stops it; memory held in memfd files and the sandbox's tmpfs counts; a cgroup
v2 of its own (memory.max counting shared memory, pids.max, cgroup.kill) holds each worker where
the machine lets us make one (`enforcement`: "cgroup v2" or "watcher"); frames, figures and
files taken from it are bounded before they are read.

Its parts, one module each beside it: outcomes (the records a call returns, the limits),
accounting (/proc seen from outside), bwrap (bubblewrap's arguments), cgroups, streams (the
worker's output), worker_process (one worker's life). This module is the layer's one entry: the
Sandbox class, its spare pool, and the names the rest of graders uses (re-exported here).

Why one file this long (about 600 lines): the Sandbox class is one object's life (build the
private tree, start workers, calls, scripts and their follow-ups, close), and its spare pool
starts and hands over Sandbox objects; cut apart, each half would reach into the other's state.
"""
from __future__ import annotations

import concurrent.futures
import os
import shutil
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import replace
from pathlib import Path

from graders.sandbox import gpus as gpus_mod
from graders.sandbox.accounting import tree_size, held_files, process_tree, signal_tree
from graders.sandbox.bwrap import (bwrap_base, bwrap_path, bwrap_problem, hidden_masks, hidden_paths, nobody,
                                   python_roots, system_binds, system_dirs, unprivileged_problem)
from graders.sandbox.cgroups import cgroup_problem
from graders.sandbox.outcomes import (Limits, Outcome, SandboxError, SandboxUnavailable, ScriptOutcome, arrays_request,
                                      counted, note_repairs, repair_records, repairs_fired, student_seconds)
from graders.sandbox.shipped.protocol import Ref
from graders.sandbox.streams import stream_text
from graders.sandbox.worker_process import CGROUP, WATCHER, Failure, Worker

__all__ = ["Sandbox", "keep_spares", "Limits", "Ref", "Outcome", "ScriptOutcome", "SandboxUnavailable", "SandboxError",
           "NOT_ISOLATED", "CGROUP", "WATCHER", "MAX_FIGURES", "MAX_FIGURE_BYTES", "arrays_request", "student_seconds",
           "repairs_fired", "bwrap_problem", "bwrap_path", "cgroup_problem", "unprivileged_problem", "hidden_paths",
           "python_roots", "process_tree", "signal_tree", "held_files"]

# Fixed paths inside the sandbox: the scripts' ../data and ../images resolve as in a student's copy.
BOX_WORK = "/sandbox/work"
BOX_LIB = "/sandbox/lib"
BOX_MPL = "/sandbox/mplconfig"
BOX_TORCH = "/sandbox/torch_home"
# What runs beside the student's code is the folder shipped/, every module of it: the worker under
# its own name, the others as hw5sandbox_<name> (no student file is called that, so none shadows
# them). offline_torch is imported only by a torch sandbox's worker.
SHIPPED = Path(__file__).resolve().parent / "shipped"
WORKER = "worker.py"
SHIPPED_PREFIX = "hw5sandbox_"
SHIPPED_FILES = {src.name if src.name == WORKER else SHIPPED_PREFIX + src.name: src     # name in the box: source
                 for src in sorted(SHIPPED.glob("*.py")) if src.name != "__init__.py"}
NOT_ISOLATED = "none (local feedback)"
# CPU time: a call worker serves many calls, each with its own limit; its life's hard limit is
# this many calls' worth (then a fresh worker takes over), and a script worker's is its script's
# and follow-ups' (worker_process.STARTUP_CPU and IDLE_CPU say the rest).
CALL_CPU_CALLS = 4
# A forking measuring worker's hard limit is this many requests' worth: each forked process
# lowers its own to its measure()'s requests, and the worker runs no student code itself.
MEASURE_AHEAD = 8
# What the trusted side takes of a script's figures, whatever the worker sent.
MAX_FIGURES = 50
MAX_FIGURE_BYTES = 64 << 20
# errors a worker may report itself; "refused": a follow-up the script's results cannot answer
WORKER_ERRORS = ("exception", "crashed", "import", "protocol", "refused")


# ----------------------------------------------------------------------------------------------

class Sandbox:
    """A private copy of one submission and the workers that run its code.

    Sandbox(None, ...) is an empty one, filled later (fill): a spare (see keep_spares)."""

    def __init__(self, python_dir, data_dir=None, images_dir=None, *, isolation="auto",
                 limits=Limits(), given_files: dict[str, Path] | None = None, blas_threads=1,
                 torch_home=None, repairs: dict | None = None, gpus: bool = False, gpu_wait: float = 120.0):
        if isolation not in ("auto", "bubblewrap", "none"):
            raise ValueError(f"isolation must be 'auto', 'bubblewrap' or 'none', not {isolation!r}")
        for folder in (python_dir, data_dir, images_dir, torch_home):
            if folder is not None and not Path(folder).is_dir():
                raise FileNotFoundError(f"no such folder: {folder}")
        problem = bwrap_problem() if isolation != "none" else "isolation='none' was requested"
        if problem and isolation == "bubblewrap":
            raise SandboxUnavailable(f"isolation='bubblewrap' was required but {problem}")
        self.isolation = NOT_ISOLATED if problem else "bubblewrap"
        # Without bubblewrap a root grader runs student code as nobody where this Python lets it.
        self.run_as = (nobody() if self.isolation != "bubblewrap" and os.geteuid() == 0
                       and unprivileged_problem() is None else None)
        # A cgroup of each worker's own where one can be made, else the watcher's counts alone.
        self.enforcement = CGROUP if cgroup_problem() is None else WATCHER
        # measure() forks its fresh processes from a kept worker only where bubblewrap's PID
        # namespace holds everything they start (so all of it can be found and ended)
        self.measure_forks = self.isolation == "bubblewrap"
        self.limits = limits
        self.blas_threads = blas_threads
        self.data_dir = Path(data_dir).resolve() if data_dir else None
        self.images_dir = Path(images_dir).resolve() if images_dir else None
        # A torch sandbox (Q6): TORCH_HOME read-only (pretrained weights without a network) and
        # torchvision's datasets kept offline (graders/sandbox/shipped/offline_torch.py).
        self.torch_home = Path(torch_home).resolve() if torch_home else None
        # gpus: its scripts may run on the machine's NVIDIA GPUs, one script per GPU at a time
        # (graders.sandbox.gpus); none found, nothing changes
        self.gpus = gpus_mod.available() if gpus else []
        self.gpu_wait = gpu_wait
        # repairs: {"allowed": [kinds], "aliases": {file name: path under data/}} (None: every kind)
        from graders.sandbox.shipped import repairs as repairs_mod
        self.repairs = repairs if repairs is not None else {"allowed": sorted(repairs_mod.KINDS)}
        self.root = tempfile.mkdtemp(prefix="hw5sandbox-")
        # The private copy goes at close(), or when the sandbox is dropped, or at exit.
        self._remove_root = weakref.finalize(self, shutil.rmtree, self.root, ignore_errors=True)
        self._lock = threading.Lock()
        self._worker: Worker | None = None
        self._measurer = None           # (settings, Future of a started measuring Worker): prepare_measure
        self._live: set[Worker] = set()      # every worker started and not yet closed
        self._next_id = 0
        self.replaced: list[str] = []
        self.additions: dict[str, list[str]] = {}     # given file -> names the submission's copy added
        self.filled = False
        try:
            self._build()
            if python_dir is not None:
                self.fill(python_dir, given_files or {})
        except BaseException:
            self._remove_root()
            raise

    @classmethod
    def open(cls, python_dir, data_dir=None, images_dir=None, *, given_files=None, **options) -> "Sandbox":
        """Sandbox(python_dir, ...), taking this process's spare (an empty sandbox of the same
        settings whose call worker has started) when it keeps one: see keep_spares."""
        box = _spares.take(data_dir, images_dir, options)
        if box is None:
            return cls(python_dir, data_dir, images_dir, given_files=given_files, **options)
        try:
            box.fill(python_dir, given_files or {})
        except BaseException:
            box.close()
            raise
        return box

    def start(self) -> "Sandbox":
        """Start the call worker now rather than at the first call."""
        with self._lock:
            self._call_worker()
        return self

    # -- the private tree ------------------------------------------------------------------
    def fill(self, python_dir, given_files: dict):
        """Copy the submission into the private tree, then the handout's given files over it.
        A worker started before (a spare's) has run nothing but its own start-up: it sees the
        files through its bind mount, and imports them at its first request."""
        if self.filled:
            raise RuntimeError("this sandbox holds a submission already")
        if not Path(python_dir).is_dir():
            raise FileNotFoundError(f"no such folder: {python_dir}")
        self.filled = True
        work = Path(self.root) / "work" / "python"
        # the watcher must not read the copy as the student's writing while it grows
        self.disk_at_start = 1 << 62
        # symlinks=True: a student's symlink is copied as a link, never followed on this side.
        shutil.copytree(python_dir, work, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name, source in given_files.items():
            target = work / name
            given = Path(source).read_text()
            own = target.read_text(errors="replace") if target.is_file() and not target.is_symlink() else None
            if target.is_symlink() or (target.exists() and own != given):
                self.replaced.append(name)
            if target.is_symlink() or target.exists():
                target.unlink()
            text, kept = with_own_additions(given, own) if own is not None else (given, [])
            target.write_text(text)
            self.additions[name] = kept
        if self.run_as:
            self._give(work)
        self.disk_at_start = self.disk_used()

    def _build(self):
        """The private tree without the submission: the worker's library, its writable folders."""
        root = Path(self.root)
        (root / "work" / "python").mkdir(parents=True)
        lib = root / "lib"
        lib.mkdir()
        for name, src in SHIPPED_FILES.items():
            shutil.copyfile(src, lib / name)
        for sub in ("tmp", "home", "mplconfig"):
            (root / sub).mkdir()
        self._seed_font_cache(root / "mplconfig")
        if self.run_as:
            os.chmod(root, 0o755)       # mkdtemp's 0700 would keep nobody out of its own tree
            for sub in ("tmp", "home", "mplconfig", "work/python"):
                self._give(root / sub)
        self.disk_at_start = self.disk_used()
        if self.isolation != "bubblewrap":
            for name, target in (("data", self.data_dir), ("images", self.images_dir)):
                if target:
                    (root / "work" / name).symlink_to(target)

    def _give(self, folder: Path) -> None:
        """folder and all below it to the worker's user (the student's scripts write there)."""
        uid, gid = self.run_as
        for top, dirs, files in os.walk(folder):       # links are changed, never followed
            for name in [".", *dirs, *files]:
                os.lchown(os.path.join(top, name), uid, gid)

    @property
    def worker_user(self) -> str:
        """Whose rights the student's code has, in words."""
        if self.isolation == "bubblewrap":
            return "a user namespace of its own (bubblewrap)"
        if self.run_as:
            return f"the user nobody (uid {self.run_as[0]})"
        return "root, the grader's own user" if os.geteuid() == 0 else "the grader's own user"

    @staticmethod
    def _seed_font_cache(target: Path):
        # Building matplotlib's font list takes about a second in every fresh worker; the host's
        # list (plain JSON naming font files the sandbox can see) spares that.
        try:
            import matplotlib
            cache = Path(matplotlib.get_cachedir())
        except Exception:   # matplotlib missing or misconfigured: the worker builds its own
            return
        for fontlist in cache.glob("fontlist-*.json"):
            shutil.copyfile(fontlist, target / fontlist.name)

    def disk_used(self) -> int:
        """Bytes in the folders the worker may write (the private copy and its /tmp)."""
        return sum(tree_size(Path(self.root) / d) for d in ("work/python", "tmp"))

    def box_path(self, rel: str) -> str:
        """Where rel (relative to the private root) appears to the worker."""
        if self.isolation == "bubblewrap":
            return {"work/python": f"{BOX_WORK}/python", "work/data": f"{BOX_WORK}/data", "lib": BOX_LIB}[rel]
        return os.path.join(self.root, rel)

    # -- worker command line and environment ------------------------------------------------
    def env(self, gpu=None) -> dict:
        boxed = self.isolation == "bubblewrap"
        threads = str(self.blas_threads)
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp" if boxed else os.path.join(self.root, "home"),
            "TMPDIR": "/tmp" if boxed else os.path.join(self.root, "tmp"),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "PYTHONHASHSEED": "0",            # set/dict-of-str order is repeatable across runs
            "PYTHONUNBUFFERED": "1",          # prints before a timeout still reach the report
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "module://hw5sandbox_capture_backend",
            "MPLCONFIGDIR": BOX_MPL if boxed else os.path.join(self.root, "mplconfig"),
            "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads, "NUMEXPR_NUM_THREADS": threads,
            "VECLIB_MAXIMUM_THREADS": threads,
            **({"TORCH_HOME": BOX_TORCH if boxed else str(self.torch_home)} if self.torch_home else {}),
            **(gpus_mod.environment(gpu) if self.gpus else {}),
        }

    def command(self, config: dict, limits: Limits, gpu=None) -> list[str]:
        import json
        lib = self.box_path("lib")
        # Not realpath: a venv's python is a symlink whose location tells it the venv.
        python = [sys.executable, "-s", "-B", f"{lib}/worker.py", json.dumps(config)]
        if self.isolation != "bubblewrap":
            return python
        root = self.root
        # /tmp first: a Python installation living under /tmp (a CI venv) is bound on top of it.
        args = [*bwrap_base(limits.memory_mb << 20), "--bind", f"{root}/tmp", "/tmp",
                *system_binds(), *hidden_masks(system_dirs()),
                "--ro-bind", f"{root}/lib", BOX_LIB,
                "--bind", f"{root}/mplconfig", BOX_MPL,
                "--bind", f"{root}/work/python", f"{BOX_WORK}/python"]
        # A measuring worker gets no course data: it runs the model's code on the held-out inputs
        # it is sent, and a forward() that could read ../data could answer from the training set.
        for name, target in (("data", self.data_dir), ("images", self.images_dir)):
            if target and not config.get("measure"):
                args += ["--ro-bind", str(target), f"{BOX_WORK}/{name}"]
        if self.torch_home:
            args += ["--ro-bind", str(self.torch_home), BOX_TORCH]
        if gpu is not None:
            args += gpus_mod.bwrap_args(gpu)
        # Nothing else is writable: bwrap's root is a tmpfs (memory) that would otherwise take files.
        args += ["--remount-ro", "/", "--chdir", f"{BOX_WORK}/python"]
        return args + python

    def worker_limits(self, limits: Limits, resident: int = 0) -> dict:
        # RLIMIT_NPROC counts per user: inside bwrap's user namespace that is the sandbox's own
        # processes (plus bwrap's init, and a forking measuring worker's `resident` one);
        # unisolated it would count all the user's processes.
        processes = limits.processes + 2 + resident if self.isolation == "bubblewrap" else None
        return {"cpu": limits.cpu_seconds, "file_size": limits.file_size_mb << 20,
                "open_files": limits.open_files, "processes": processes}

    # -- the API ---------------------------------------------------------------------------
    @counted
    def call(self, module, function, *args, seed=0, limits=None, return_args=True, float_images=(),
             **kwargs) -> Outcome:
        """module.function(*args, **kwargs) in the worker. return_args=False: the arguments' state
        after the call is not sent back (a 12-megapixel photo would cross twice more).
        float_images: positions of uint8 image arguments the worker turns into floats in [0, 1]
        (skimage.img_as_float, as run_q4.py does) before the call: an eighth of the bytes cross."""
        limits = limits or self.limits
        what = f"{module}.{function}"
        self._require_submission()
        with self._lock:
            try:
                worker = self._call_worker(limits)
            except Failure as failure:
                return Outcome(ok=False, error=failure.error, message=failure.message)
            self._next_id += 1
            request = {"op": "call", "id": self._next_id, "module": module, "function": function,
                       "args": list(args), "kwargs": kwargs, "seed": seed,
                       "limits": self.worker_limits(limits), "return_args": bool(return_args),
                       "float_images": [int(i) for i in float_images]}
            start = time.monotonic()        # the call itself, not the worker's start-up
            # One lifecycle: whatever goes wrong in the exchange, this worker's tree is killed.
            try:
                worker.send(request, limits, what)
                response = worker.receive(limits, what)
                if not _is_int(response.get("id"), self._next_id):
                    raise Failure("protocol", "the worker answered another request")
                stdout = stream_text(*worker.out.next_segment(timeout=2))
                return self._outcome(Outcome, response, stdout, start)
            except Failure as failure:
                self._discard_worker()
                data, total = worker.out.rest()
                return Outcome(ok=False, error=failure.error, message=failure.message,
                               stdout=stream_text(data, total), elapsed=time.monotonic() - start)
            except BaseException:
                self._discard_worker()
                raise

    @counted
    def run_script(self, script, *, globals=(), files=("*.pickle",), written=(), seed=0, limits=None,
                   after=(), after_limits=None, skew_gradients=None) -> ScriptOutcome:
        """Run a script of the submission in a fresh worker.

        globals: names of the script's variables to send back; files: patterns of the files it
        wrote to send back (bytes); written: patterns of written files to name only (name ->
        size). after: follow-up requests about what the script left (arrays_request,
        graders.checks.saved_models.models_request) answered by the same worker once the script has
        ended, while its variables live, never a measurement (see measure); each gets after_limits
        (default: limits) and comes back as an Outcome in outcome.after, in order. skew_gradients
        (with the params watch among globals): every gradient the submission's backwards writes is
        multiplied by it (Q2.5's probe of the gradient checker)."""
        limits = limits or self.limits
        after_limits = after_limits or limits
        self._require_submission()
        with self._lock:
            start = time.monotonic()
            try:
                worker = Worker(self, "script", limits,
                                cpu_budget=limits.cpu_seconds + len(after) * after_limits.cpu_seconds)
            except Failure as failure:
                return ScriptOutcome(ok=False, error=failure.error, message=failure.message,
                                     elapsed=time.monotonic() - start)
            request = {"op": "script", "id": 0, "script": str(script), "globals": list(globals),
                       "files": list(files), "written": list(written), "seed": seed,
                       "limits": self.worker_limits(limits),
                       "max_file_bytes": limits.file_size_mb << 20, "max_figures": 50}
            if skew_gradients is not None:
                request["skew_gradients"] = float(skew_gradients)
            try:
                worker.send(request, limits, str(script))
                response = worker.receive(limits, str(script))
                outcome = self._outcome(ScriptOutcome, response, "", start)
                # the script's own output ends at the worker's marker; follow-ups print after it
                outcome.stdout = stream_text(*worker.out.next_segment(timeout=2))
                outcome.stderr = stream_text(*worker.err.next_segment(timeout=2))
                outcome.globals = _field(response, "globals", dict)
                outcome.files = _field(response, "files", dict)
                outcome.written = {k: v for k, v in _field(response, "written", dict).items() if type(v) is int}
                outcome.figures, outcome.figure_data, outcome.figures_dropped = _figures(response)
                outcome.after = [self._follow_up(worker, i, dict(req), seed, after_limits, script)
                                 for i, req in enumerate(after, start=1)]
                outcome.device = worker.device
                return outcome
            except Failure as failure:
                return ScriptOutcome(ok=False, error=failure.error, message=failure.message,
                                     stdout=stream_text(*worker.out.rest()), stderr=stream_text(*worker.err.rest()),
                                     elapsed=time.monotonic() - start, device=worker.device)
            finally:
                worker.close()

    def prepare_measure(self, count: int, limits=None) -> None:
        """Start the worker of the next measure() of at most `count` requests now, in the background: its
        start-up (importing PyTorch, seconds) then overlaps a script's run. It is a sandbox
        instance of its own and runs nothing of the student's. Under bubblewrap it forks a fresh
        measuring process for each measure() and stays for the next, so a submission's
        PyTorch scripts pay that start-up once (a measuring worker kept from an earlier
        measure() that fits is kept)."""
        limits = limits or self.limits
        with self._lock:
            if self._measurer is not None and self._measurer[1].done() and self._fits(*self._measurer, limits, count):
                return
        future = in_background(self._new_measurer, limits, count)
        with self._lock:
            self._drop_measurer()
            self._measurer = (limits, future)

    def _drop_measurer(self):
        prepared, self._measurer = self._measurer, None
        if prepared is not None:
            try:
                prepared[1].result().close()
            except Exception:   # noqa: BLE001 -- it never started: nothing to stop
                pass

    @staticmethod
    def _fits(settings: Limits, future, limits: Limits, count: int) -> bool:
        """Whether the started measuring worker can serve `count` requests under these limits: the
        same limits but for the time (a request carries its own), enough CPU budget, alive."""
        try:
            worker = future.result()
        except (SandboxError, Failure):
            return False
        untimed = dict(cpu_seconds=0, wall_seconds=0)
        return (replace(settings, **untimed) == replace(limits, **untimed) and worker.alive()
                and max(1, count) * limits.cpu_seconds <= worker.cpu_budget)

    def _measuring_worker(self, limits, count) -> "Worker":
        """The prepared (or kept) measuring worker, if it fits these settings, else a new one."""
        prepared, self._measurer = self._measurer, None
        if prepared is not None:
            if self._fits(*prepared, limits, count):
                return prepared[1].result()
            self._measurer = prepared
            self._drop_measurer()
        return self._new_measurer(limits, count)

    def _new_measurer(self, limits, count) -> "Worker":
        forks = self.measure_forks
        budget = max(count, MEASURE_AHEAD if forks else 1) * limits.cpu_seconds
        return Worker(self, "measure", limits, cpu_budget=budget, forks=forks)

    @counted
    def measure(self, requests, *, seed=0, limits=None, what="the saved models") -> list[Outcome]:
        """Answer measuring requests (graders.checks.saved_models: predict, joins) in a fresh process that
        has run no student script and ends with them: the worker that ran a script may have
        rewritten its own answers. Under bubblewrap that process is forked from a measuring
        worker that imported PyTorch and ran nothing of the student's, and which stays for the
        next measure(); else it is a worker of its own. An Outcome per request, in order; their
        time counts as the student's (a student's model runs), the measuring worker's start-up
        as the harness's (none of it after prepare_measure, when the script ran long enough)."""
        limits = limits or self.limits
        self._require_submission()
        with self._lock:
            budget = max(1, len(requests)) * limits.cpu_seconds
            try:
                worker = self._measuring_worker(limits, len(requests))
                forked = worker.forks and worker.fork(limits, budget)
                if worker.forks and not forked:
                    worker.close()      # it would not fork: a worker of its own, as without bubblewrap
                    worker = Worker(self, "measure", limits, cpu_budget=budget)
            except Failure as failure:
                return [Outcome(ok=False, error=failure.error, message=failure.message) for _ in requests]
            try:
                outcomes = [self._follow_up(worker, i, dict(req), seed, limits, what)
                            for i, req in enumerate(requests, start=1)]
            finally:
                if forked and worker.end_fork():
                    kept = concurrent.futures.Future()
                    kept.set_result(worker)
                    self._measurer = (worker.limits_at_start, kept)
                else:
                    worker.close()
        return outcomes

    def _follow_up(self, worker: Worker, number: int, request: dict, seed: int, limits: Limits,
                   script) -> Outcome:
        what = f"the {request.get('op')} request after {script}"
        start = time.monotonic()
        if not worker.alive():
            return Outcome(ok=False, error="crashed", message=f"{what} was not answered: the worker had stopped")
        request.update(id=number, seed=seed, limits=self.worker_limits(limits, worker.resident))
        try:
            worker.send(request, limits, what)
            response = worker.receive(limits, what)
            if not _is_int(response.get("id"), number):
                raise Failure("protocol", "the worker answered another request")
            return self._outcome(Outcome, response, stream_text(*worker.out.next_segment(timeout=2)), start)
        except Failure as failure:
            worker.kill()
            return Outcome(ok=False, error=failure.error, message=failure.message,
                           stdout=stream_text(*worker.out.rest()), elapsed=time.monotonic() - start)
        except BaseException:
            worker.kill()
            raise

    @staticmethod
    def _outcome(cls, response: dict, stdout: str, start: float):
        # The response is the student's to shape, so only its plain fields are taken, the error
        # must be one the API knows, and the time is measured here.
        ok = response.get("ok") is True
        error = None if ok else response.get("error")
        fired = repair_records(response.get("repairs"))
        note_repairs(fired)
        return cls(ok=ok, value=response.get("value"), repairs=fired,
                   args=_field(response, "args", list), kwargs=_field(response, "kwargs", dict),
                   error=error if ok or (type(error) is str and error in WORKER_ERRORS) else "protocol",
                   message=_text_field(response, "message"), traceback=_text_field(response, "traceback"),
                   stdout=stdout,
                   elapsed=time.monotonic() - start)

    def _require_submission(self):
        if not self.filled:
            raise RuntimeError("this sandbox holds no submission yet (Sandbox(None, ...) is filled by fill())")

    def _call_worker(self, limits: Limits | None = None) -> Worker:
        """The call worker, fresh when the last one died or has too little of its life's CPU
        time left for a call under these limits."""
        cpu = (limits or self.limits).cpu_seconds
        if self._worker is not None and (not self._worker.alive() or self._worker.cpu_left() < cpu + 1):
            self._discard_worker()
        if self._worker is None:
            self._worker = Worker(self, "call", self.limits,
                                   cpu_budget=CALL_CPU_CALLS * max(cpu, self.limits.cpu_seconds))
        return self._worker

    def _discard_worker(self):
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def close(self):
        """Stop every process this sandbox started, and remove its private copy."""
        with self._lock:
            self._discard_worker()
            self._drop_measurer()
        for worker in list(self._live):      # a worker of another thread's request too
            worker.close()
        self._remove_root()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # A sandbox dropped without close(): no worker may outlive it.
        try:
            for worker in list(getattr(self, "_live", ())):
                worker.close()
        except Exception:   # interpreter shutdown: modules may already be gone
            pass


def _is_int(value, expected: int) -> bool:
    # the worker's answer is the student's to shape: an array here would compare elementwise
    return type(value) is int and value == expected


_starter = None
_starter_lock = threading.Lock()


def in_background(fn, *args, **kwargs):
    """A Future of fn(*args, **kwargs) run on this process's one starter thread, which lives as
    long as the process. Workers started ahead (spares, measurers) must start there: bwrap's
    --die-with-parent is PR_SET_PDEATHSIG, which fires when the *thread* that started the
    sandbox ends, so a worker started on a short-lived thread is SIGKILLed when that thread goes."""
    global _starter
    with _starter_lock:
        if _starter is None:
            from concurrent.futures import ThreadPoolExecutor
            _starter = ThreadPoolExecutor(1, thread_name_prefix="hw5-starter")
        return _starter.submit(fn, *args, **kwargs)


class _Spares:
    """This process's spare sandboxes, one per settings: empty, their call worker started in the
    background while the previous submission is graded, so the next submission's first call finds
    a worker ready (its start, mostly Python importing numpy, is a tenth of a second of every
    grade). Off until keep_spares(): grading one submission would start a worker nobody uses."""

    def __init__(self):
        self.enabled = False
        self._lock = threading.Lock()
        self._waiting: dict = {}        # settings -> Future of a started empty Sandbox

    @staticmethod
    def _key(data_dir, images_dir, options: dict):
        return (str(Path(data_dir).resolve()) if data_dir else None,
                str(Path(images_dir).resolve()) if images_dir else None,
                tuple(sorted((k, repr(v)) for k, v in options.items())))

    def take(self, data_dir, images_dir, options: dict) -> "Sandbox | None":
        """The spare for these settings (None if there is none), and a new one starting."""
        if not self.enabled:
            return None
        key = self._key(data_dir, images_dir, options)
        with self._lock:
            waiting = self._waiting.pop(key, None)
            self._waiting[key] = in_background(
                lambda: Sandbox(None, data_dir, images_dir, **options).start())
        try:
            return waiting.result() if waiting else None
        except Exception:       # noqa: BLE001 -- a fresh sandbox then reports the cause itself
            return None

    def close(self):
        with self._lock:
            self.enabled = False
            waiting, self._waiting = list(self._waiting.values()), {}
        for future in waiting:
            try:
                future.result().close()
            except Exception:   # noqa: BLE001 -- it never started: nothing to stop
                pass


_spares = _Spares()


def keep_spares() -> None:
    """Keep a spare sandbox ready in this process (graders.staff.batch's processes, which grade one
    submission after another): Sandbox.open then takes it. Spares stop when the process ends,
    a multiprocessing pool's process too (it skips atexit)."""
    if not _spares.enabled:
        import multiprocessing.util
        _spares.enabled = True
        multiprocessing.util.Finalize(_spares, _spares.close, exitpriority=10)


def _field(response: dict, key: str, kind: type):
    """A field of the worker's response, of the kind the protocol gives it (absent: empty); any
    other is a malformed response, and the exchange's failure kills the worker."""
    value = response.get(key)
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise Failure("protocol", f"the worker sent a malformed response ({key} is a {type(value).__name__})")
    return value


def _text_field(response: dict, key: str) -> str:
    # no truth value asked of it: an array's would raise here
    value = response.get(key)
    return value if type(value) is str else ""


def _figures(response: dict) -> tuple[list, list, int]:
    """(PNGs, their plotted data, how many figures were dropped): at most MAX_FIGURES, and
    MAX_FIGURE_BYTES in all, whatever the worker (the student's process) sent or claims."""
    sent = _field(response, "figures", list)
    kept, total = [], 0
    for png in sent:
        if isinstance(png, bytes) and len(kept) < MAX_FIGURES and total + len(png) <= MAX_FIGURE_BYTES:
            kept.append(png)
            total += len(png)
    made = response.get("figures_made")
    made = min(made, 10**6) if type(made) is int else 0
    data = [_figure_record(d) for d in _field(response, "figure_data", list)[:MAX_FIGURES] if isinstance(d, dict)]
    return kept, data, max(len(sent), made) - len(kept)


def with_own_additions(given: str, own: str) -> tuple[str, list[str]]:
    """A given file (util.py) as the handout wrote it, followed by what the submission's copy adds:
    its imports and the top-level definitions of names the handout's copy does not define (helpers
    a student put there, which the student's nn.py calls). The handout's own definitions stay
    the handout's; a copy that does not parse adds nothing. (text, the names added)."""
    import ast
    if len(own) > MAX_OWN_ADDITIONS:
        return given, []
    try:
        ours, theirs = ast.parse(given), ast.parse(own)
    except Exception:  # noqa: BLE001 -- SyntaxError, or a MemoryError/RecursionError of a pathological file
        return given, []
    defined = {name for stmt in ours.body for name in _defines(stmt)}
    lines, added = [], []
    own_lines = own.splitlines(keepends=True)
    for stmt in theirs.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            continue        # allowed only at a file's top: the handout's copy starts it
        segment = ast.get_source_segment(own, stmt)
        first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
        if not segment:
            continue
        segment = "".join(own_lines[first - 1:stmt.lineno - 1]) + segment       # its decorators
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            # an import the course environment lacks failed nothing with the handout's copy
            lines.append("try:\n" + "".join(f"    {line}\n" for line in segment.splitlines())
                         + "except ImportError:\n    pass\n")
        elif (names := _defines(stmt)) and not names & defined:
            lines.append(segment + "\n")
            added += sorted(names)
    if not added:
        return given, []
    return (given.rstrip("\n") + "\n\n\n# --- the submission's own additions to this file (hw5grade keeps them; "
            "the definitions above are the handout's) ---\n" + "\n".join(lines), added)


MAX_OWN_ADDITIONS = 1 << 20       # characters of a given file read for additions (a util.py is ~1 KB)


def _defines(stmt) -> set[str]:
    import ast
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


# the capture backend's own bounds (graders/sandbox/shipped/capture_backend.py), held again here:
# what arrives is the student's process's word, of any shape
FIGURE_AXES, FIGURE_LINES, FIGURE_POINTS, FIGURE_TEXT = 20, 20, 10_000, 200


def _figure_record(sent: dict) -> dict:
    """A figure's plotted data rebuilt to the backend's schema (texts, and lines of finite or
    non-finite floats): whatever else the worker sent is dropped, so that no check reading it
    meets another type."""
    def text(value) -> str:
        return value[:FIGURE_TEXT] if isinstance(value, str) else ""

    def items(value, most: int) -> list:
        return [v for v in value[:most] if isinstance(v, dict)] if isinstance(value, list) else []

    return {"title": text(sent.get("title")),
            "axes": [{"title": text(ax.get("title")), "xlabel": text(ax.get("xlabel")), "ylabel": text(ax.get("ylabel")),
                      "lines": [{"label": text(line.get("label")),
                                 "y": [float(v) for v in (line.get("y") if isinstance(line.get("y"), list) else [])
                                       [:FIGURE_POINTS] if type(v) is float or (type(v) is int and abs(v) < 1 << 1000)]}
                                for line in items(ax.get("lines"), FIGURE_LINES)]}
                     for ax in items(sent.get("axes"), FIGURE_AXES)]}
