"""What a sandboxed call or script gives back to the trusted side, and its limits: plain records."""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field

# Seconds this process spent in sandbox calls and scripts (each Outcome's elapsed): the time
# student code runs, which the batch benchmark subtracts to measure the harness's own overhead.
_student_seconds = 0.0
_student_lock = threading.Lock()


def student_seconds() -> float:
    """The running total of every Outcome.elapsed in this process."""
    return _student_seconds


def counted(method):
    """A Sandbox method returning an Outcome (or a list of them): each, and each follow-up's,
    says how limits were enforced, and its time counts as the student's."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        global _student_seconds
        result = method(self, *args, **kwargs)
        outcomes = result if isinstance(result, list) else [result]
        outcomes = [*outcomes, *(a for o in outcomes for a in getattr(o, "after", ()))]
        for outcome in outcomes:
            outcome.enforcement = self.enforcement
        with _student_lock:
            _student_seconds += sum(o.elapsed for o in outcomes)
        return result
    return wrapper


class SandboxUnavailable(RuntimeError):
    """isolation="bubblewrap" was required but bubblewrap cannot run here."""


class SandboxError(RuntimeError):
    """The harness's side failed (a worker that cannot start): not the student's fault."""


@dataclass(frozen=True)
class Limits:
    cpu_seconds: float = 60        # RLIMIT_CPU
    wall_seconds: float = 60       # killed from outside
    memory_mb: int = 4096          # resident memory of the process tree, watched from outside
    processes: int = 64            # RLIMIT_NPROC inside the user namespace, and counted from outside
    file_size_mb: int = 256        # RLIMIT_FSIZE
    open_files: int = 256          # RLIMIT_NOFILE
    output_bytes: int = 1_000_000  # stdout+stderr kept; the rest dropped (and the worker killed if it floods)
    disk_mb: int = 1024            # total written into the private copy and /tmp

    @property
    def flood_bytes(self) -> int:
        # Some overshoot is tolerated (dropped quietly); only a flood costs the call.
        return max(10 * self.output_bytes, 10_000_000)


@dataclass
class Outcome:
    ok: bool
    value: object = None
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    error: str | None = None
    message: str = ""
    traceback: str = ""
    stdout: str = ""
    elapsed: float = 0.0
    # how the limits were enforced: "cgroup v2" or "watcher" (see Sandbox.enforcement)
    enforcement: str = ""
    # the repairs that fired (graders/sandbox/shipped/repairs.py): {"kind", "file", "line", "old", "new"}
    repairs: list = field(default_factory=list)


# Every repair any outcome of this process carried, in order: the plugin reads the part a
# check's run added (graders.checks.plugin), whichever fixture made the call.
_repairs_fired: list = []


def repairs_fired() -> list:
    return _repairs_fired


def note_repairs(fired: list) -> None:
    _repairs_fired.extend(fired)


def repair_records(value) -> list:
    """The worker's repair records, plain and bounded (it is the student's process)."""
    keys = ("kind", "file", "line", "old", "new")
    out = []
    for r in value if isinstance(value, list) else []:
        if isinstance(r, dict) and all(isinstance(r.get(k), (str, int, type(None))) for k in keys):
            out.append({k: (r.get(k)[:300] if isinstance(r.get(k), str) else r.get(k)) for k in keys})
    return out[:200]


@dataclass
class ScriptOutcome(Outcome):
    globals: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)
    stderr: str = ""
    # per captured figure (same order as figures, also when its PNG failed): {"title", "axes":
    # [{"title", "xlabel", "ylabel", "lines": [{"label", "y": [float, ...]}]}]}
    figure_data: list = field(default_factory=list)
    written: dict = field(default_factory=dict)     # name -> size of the files matching `written`
    figures_dropped: int = 0     # figures beyond MAX_FIGURES / MAX_FIGURE_BYTES (or not PNG bytes)
    after: list = field(default_factory=list)       # an Outcome per follow-up request
    # where it ran, in a torch sandbox on a machine with GPUs: "GPU 0 (NVIDIA ...)" or "cpu"
    # (graders.sandbox.gpus); "" elsewhere
    device: str = ""


def arrays_request(shapes, max_bytes: int = 256 << 20) -> dict:
    """A follow-up asking for the script's variables that are numeric arrays of one of the
    shapes, {name: array}, at most max_bytes in all (names are the student's to choose)."""
    return {"op": "arrays", "shapes": [list(map(int, shape)) for shape in shapes], "max_bytes": int(max_bytes)}
