"""Run untrusted student code in a sandboxed worker process (the trusted side).

Student code never runs in this process.  A worker (graders/worker.py, copied alone into the
sandbox) imports the submission and answers requests over dedicated pipes with plain data
(graders/protocol.py: JSON + NumPy arrays, nothing is ever unpickled here).  On Linux the worker
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

Why it is this long: it is not earned. It still holds six jobs in its sections (the outcomes, /proc
accounting, bubblewrap arguments, cgroups, output streams, the worker and the sandbox with its
spare pool); splitting it into a sandbox/ folder is open in issue 17.
"""
from __future__ import annotations

import functools
import importlib.util
import math
import os
import secrets
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path

from graders import gpus as gpus_mod, protocol
from graders.protocol import ProtocolError, Ref

__all__ = ["Sandbox", "keep_spares", "Limits", "Ref", "Outcome", "ScriptOutcome", "SandboxUnavailable", "SandboxError"]

HERE = Path(__file__).resolve().parent
# The checkout (reference/, tests/) when running from one; an installed copy has none.
REPO = HERE.parent if (HERE.parent / "pyproject.toml").is_file() else None
# Fixed paths inside the sandbox: the scripts' ../data and ../images resolve as in a student's copy.
BOX_WORK = "/sandbox/work"
BOX_LIB = "/sandbox/lib"
BOX_MPL = "/sandbox/mplconfig"
BOX_TORCH = "/sandbox/torch_home"
LIB_FILES = {"worker.py": "worker.py", "protocol.py": "hw5sandbox_protocol.py",
             "capture_backend.py": "hw5sandbox_mplbackend.py", "repairs.py": "hw5sandbox_repairs.py",
             "torch_measure.py": "hw5sandbox_torch_measure.py"}
# A torch sandbox's worker also installs the offline shim of torchvision's datasets.
TORCH_LIB_FILES = {"offline_torch.py": "hw5sandbox_offline_torch.py"}
# The few /etc files Python, the dynamic loader and matplotlib's fonts need.
ETC_ALLOW = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "alternatives",
             "passwd", "group", "nsswitch.conf", "mime.types")
POLL = 0.05                 # seconds between checks of the worker's memory, processes and disk
DISK_POLL = 0.2
PSS_POLL = 0.25             # at most this often the costly proportional count (see _check_tree)
NOT_ISOLATED = "none (local feedback)"
CGROUP, WATCHER = "cgroup v2", "watcher"     # how the limits are enforced (Sandbox.enforcement)
# CPU time: a call worker serves many calls, each with its own limit; its life's hard limit is
# this many calls' worth (then a fresh worker takes over), and a script worker's is its script's
# and follow-ups'. STARTUP_CPU is the room the outer limit leaves for imports before the worker
# tightens it itself. Between requests a worker has nothing to do: IDLE_CPU seconds of CPU
# spent then (a thread or child left spinning) stop it.
CALL_CPU_CALLS = 4
STARTUP_CPU = 30
IDLE_CPU = 2.0
MEMFD_POLL = 0.2
# What the trusted side takes of a script's figures, whatever the worker sent.
MAX_FIGURES = 50
MAX_FIGURE_BYTES = 64 << 20
# errors a worker may report itself; "refused": a follow-up the script's results cannot answer
WORKER_ERRORS = ("exception", "crashed", "import", "protocol", "refused")

# Seconds this process spent in sandbox calls and scripts (each Outcome's elapsed): the time
# student code runs, which the batch benchmark subtracts to measure the harness's own overhead.
_student_seconds = 0.0
_student_lock = threading.Lock()


def student_seconds() -> float:
    """The running total of every Outcome.elapsed in this process."""
    return _student_seconds


def _counted(method):
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
    # the repairs that fired (graders/repairs.py): {"kind", "file", "line", "old", "new"}
    repairs: list = field(default_factory=list)


# Every repair any outcome of this process carried, in order: the plugin reads the part a
# check's run added (graders.plugin), whichever fixture made the call.
_repairs_fired: list = []


def repairs_fired() -> list:
    return _repairs_fired


def _repair_records(value) -> list:
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
    # (graders.gpus); "" elsewhere
    device: str = ""


def arrays_request(shapes, max_bytes: int = 256 << 20) -> dict:
    """A follow-up asking for the script's variables that are numeric arrays of one of the
    shapes, {name: array}, at most max_bytes in all (names are the student's to choose)."""
    return {"op": "arrays", "shapes": [list(map(int, shape)) for shape in shapes], "max_bytes": int(max_bytes)}


# ----------------------------------------------------------------------------------------------
# Processes seen from outside (Linux /proc).

def _children(pid: int) -> list[int]:
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (a bwrap sandbox's orphans are reparented to its init)."""
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += _children(p)
    return tree


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes(pids) -> int:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


def proportional_bytes(pids) -> int:
    """Memory of the processes with shared pages split among their sharers (Linux PSS). Forked
    children (DataLoader workers) share their parent's pages, which RSS counts in each of them."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(line.split()[1]) << 10 for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration, IndexError, ValueError):
            total += resident_bytes([p])
    return total


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int, children=False) -> float:
    """CPU time of a process (user + system, all threads; with its reaped children's too)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / _TICKS


def held_files(pids, shm_too=False, disk_dev=None, count_memory=True) -> tuple[int, int]:
    """(memory, disk) the processes hold in files no listing shows. Memory (unless count_memory
    is false, where a cgroup counts it): memfd files (and, shm_too, files under /dev/shm) they
    have open or mapped, pages not in any resident set until touched. Disk: files on device
    disk_dev they deleted but keep open, which no walk of the folders finds. Each file counts
    once (by inode) however many processes hold it, by its allocated blocks (a sparse file costs
    only what was written)."""
    seen, memory, disk = set(), 0, 0

    def add(path, on_disk=False):
        nonlocal memory, disk
        try:
            st = os.stat(path)
        except OSError:
            return
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        if not on_disk:
            memory += st.st_blocks * 512
        elif st.st_dev == disk_dev and stat.S_ISREG(st.st_mode):
            disk += st.st_blocks * 512

    def held(target: str) -> bool:
        return count_memory and (target.startswith("/memfd:") or (shm_too and target.startswith("/dev/shm/")))

    for p in pids:
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{p}/fd/{fd}")
            except OSError:
                continue
            if held(target):
                add(f"/proc/{p}/fd/{fd}")
            elif disk_dev is not None and target.endswith(" (deleted)"):
                add(f"/proc/{p}/fd/{fd}", on_disk=True)
        # Mapped and then closed: only the mapping holds it (map_files needs privileges; where
        # it cannot be read, the pages count in RSS once touched).
        if not count_memory:
            continue
        try:
            with open(f"/proc/{p}/maps") as f:
                maps = f.read()
        except OSError:
            continue
        if "/memfd:" in maps or (shm_too and "/dev/shm/" in maps):
            for line in maps.splitlines():
                parts = line.split(None, 5)
                if len(parts) == 6 and held(parts[5].strip()):
                    add(f"/proc/{p}/map_files/{parts[0]}")
    return memory, disk


def _tmpfs_bytes(pid: int) -> int:
    """Memory held in the sandbox's own tmpfs mounts (files in /dev and /dev/shm are memory)."""
    total = 0
    for mount in ("dev", "dev/shm"):
        try:
            st = os.statvfs(f"/proc/{pid}/root/{mount}")
        except OSError:
            continue
        total += (st.f_blocks - st.f_bfree) * st.f_frsize
    return total


def _tree_size(root: Path, cap_entries=20000) -> int:
    total = entries = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            entries += 1
            if entries > cap_entries:
                return 1 << 62          # a million tiny files is a disk flood too
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


# ----------------------------------------------------------------------------------------------
# Bubblewrap.

@functools.lru_cache(maxsize=None)
def bwrap_path() -> str | None:
    """bubblewrap's absolute path, looked up once on this process's PATH. Workers get a fixed PATH
    of their own (subprocess looks a bare name up on the child's PATH), so bwrap is never started
    by name."""
    exe = shutil.which("bwrap")
    return os.path.abspath(exe) if exe else None


@functools.lru_cache(maxsize=None)
def prlimit_path() -> str | None:
    """util-linux's prlimit (absolute path), which sets a worker's hard CPU limit before it runs."""
    exe = shutil.which("prlimit")
    return os.path.abspath(exe) if exe else None


@functools.lru_cache(maxsize=None)
def bwrap_problem() -> str | None:
    """None if bubblewrap can run a sandbox here, else the reason it cannot."""
    exe = bwrap_path()
    if exe is None or not sys.platform.startswith("linux"):
        return "bubblewrap (bwrap) is not installed"
    try:
        done = subprocess.run(
            [*_bwrap_base(), *_system_binds(), sys.executable, "-c", "pass"],
            capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap failed to start: {exc}"
    if done.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {done.stderr.decode(errors='replace').strip()}"
    return None


def _nobody() -> tuple[int, int]:
    import pwd
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


@functools.lru_cache(maxsize=None)
def unprivileged_problem() -> str | None:
    """Why a worker without bubblewrap cannot run as the user nobody here, or None when it can.

    Run as root (a Gradescope container), unisolated student code would read everything the
    grader can: the course key, the staff truth, the reference. As nobody it reads only what
    others may read (graders.autograder.lock_secrets makes the secrets root's alone)."""
    if os.geteuid() != 0:
        return "the grader does not run as root, so it cannot run code as another user"
    uid, gid = _nobody()
    try:
        done = subprocess.run([sys.executable, "-s", "-B", "-c", "import numpy"], capture_output=True,
                              timeout=60, cwd="/", env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
                              user=uid, group=gid, extra_groups=[])
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the user nobody cannot start {sys.executable}: {exc}"
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        return f"the user nobody cannot run {sys.executable} with NumPy ({last})"
    return None


@functools.lru_cache(maxsize=None)
def _bwrap_options() -> str:
    try:
        return subprocess.run([bwrap_path(), "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _bwrap_base(shm_bytes: int = 64 << 20) -> list[str]:
    """Namespaces and capabilities: no network, no capabilities even when started by root
    (bwrap keeps them for root otherwise), and no nested user namespaces."""
    args = [bwrap_path(), "--unshare-all", "--unshare-user", "--cap-drop", "ALL",
            "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev"]
    if "--disable-userns" in _bwrap_options():
        args.append("--disable-userns")
    if "--size" in _bwrap_options():
        # /dev/shm lives in memory: a small tmpfs of its own (its use counts as memory, too).
        args += ["--perms", "1777", "--size", str(shm_bytes), "--tmpfs", "/dev/shm"]
    return args


def python_roots() -> list[str]:
    """The Python installation the worker runs on: the prefixes (a venv and its base) and the
    site-packages folders."""
    import site
    roots = {sys.base_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    for prefix in {sys.prefix, sys.exec_prefix} - {sys.base_prefix, sys.base_exec_prefix}:
        # A venv: only what the interpreter reads. Its folder also holds tool state (tox keeps
        # its logs of earlier runs there), which a submission has no business reading.
        roots.update(os.path.join(prefix, name) for name in ("pyvenv.cfg", "bin", "lib", "lib64")
                     if os.path.exists(os.path.join(prefix, name)))
    roots.update(p for p in site.getsitepackages() if os.path.isdir(p))
    return sorted({os.path.realpath(r) for r in roots})


def _system_dirs() -> list[str]:
    """Folders shown read-only at their own paths: the system and the Python installation."""
    tops = [p for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
            if os.path.isdir(p) and not os.path.islink(p)]
    return tops + [r for r in python_roots() if not any(Path(t) in Path(r).parents for t in tops)]


def _system_binds() -> list[str]:
    args = []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):           # merged-/usr systems: /bin -> usr/bin
            args += ["--symlink", os.readlink(top), top]
    for path in _system_dirs():
        args += ["--ro-bind", path, path]
    for name in ETC_ALLOW:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def hidden_paths() -> list[Path]:
    """What a sandbox must never see even when it sits below an allowed system folder."""
    hidden = [Path.home()] + ([REPO] if REPO else [])
    try:
        from fixtures.cache import cache_root
        hidden.append(cache_root())
    except ImportError:
        hidden.append(Path.home() / ".cache" / "hw5grade")
    # The harness's packages wherever they are installed, also when this process imports them
    # from a checkout (find_spec then names the checkout, not the installed copy).
    import site
    for package in ("graders", "fixtures"):
        spec = importlib.util.find_spec(package)
        hidden += [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
        hidden += [Path(d) / package for d in site.getsitepackages() if (Path(d) / package).exists()]
    for d in site.getsitepackages():
        hidden += Path(d).glob("hw5grade-*.dist-info")
        hidden += Path(d).glob("__editable__*hw5grade*")
    hidden += [p for p in (Path(sys.prefix) / "bin" / "hw5grade",) if p.exists()]
    return list(dict.fromkeys(Path(os.path.realpath(h)) for h in hidden))


def _masks(bound: list[str]) -> list[str]:
    """Cover the hidden paths that lie inside a bound system folder (e.g. a non-editable install
    of the harness in site-packages, or a repository inside the Python prefix)."""
    args = []
    for hidden in hidden_paths():
        if not any(Path(b) in hidden.parents for b in bound):
            continue
        if hidden.is_dir():
            args += ["--tmpfs", str(hidden)]
        elif hidden.exists():
            args += ["--ro-bind", "/dev/null", str(hidden)]
    return args


# ----------------------------------------------------------------------------------------------
# cgroup v2: one group per worker where the machine lets this process make them.

def _cgroup2_root() -> Path:
    """Where this process's own cgroup v2 lies (OSError where there is none)."""
    mount = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] == ["cgroup2"]:
                mount = left.split()[4]
                break
    if mount is None:
        raise OSError("no cgroup v2 hierarchy is mounted")
    with open("/proc/self/cgroup") as f:
        own = next((line.strip()[3:] for line in f if line.startswith("0::")), None)
    if own is None:
        raise OSError("this process is in no cgroup v2")
    return Path(mount) / own.lstrip("/")


@functools.lru_cache(maxsize=None)
def _cgroup_parent() -> tuple[Path | None, str | None]:
    """(the cgroup the workers' groups are made in, None) or (None, why there is none). Each
    worker's group needs the memory and pids controllers, which a cgroup can hand to its children
    only when it holds no process itself (the root cgroup excepted), as for root on a host."""
    try:
        # HW5GRADE_CGROUP names a cgroup made for grading (e.g. a slice systemd delegates to the
        # staff account); by default the groups go below this process's own, which works for root
        # on a host and wherever the cgroup holding us was set up for it.
        parent = Path(os.environ["HW5GRADE_CGROUP"]) if os.environ.get("HW5GRADE_CGROUP") else _cgroup2_root()
        wanted = {"memory", "pids"}
        available = set((parent / "cgroup.controllers").read_text().split())
        if not wanted <= available:
            return None, f"cgroup v2 at {parent} offers no {' or '.join(sorted(wanted - available))} controller"
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
        if not wanted <= enabled:
            (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(wanted - enabled)))
        probe = _Cgroup.make(parent, f"hw5grade-probe-{os.getpid()}", 64 << 20, 4)
        probe.remove()
        return parent, None
    except OSError as exc:
        return None, f"no cgroup v2 of our own ({exc.strerror or exc})"


def cgroup_problem() -> str | None:
    """None if each worker gets a cgroup v2 of its own, else why not (the watcher then rules)."""
    return _cgroup_parent()[1]


class _Cgroup:
    """One worker's cgroup: memory.max counts what RSS does not (tmpfs, memfd, page cache the
    worker dirtied) and the kernel enforces it; pids.max bounds forks; cgroup.kill ends all."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def make(cls, parent: Path, name: str, memory: int, processes: int) -> "_Cgroup":
        path = parent / name
        path.mkdir()
        group = cls(path)
        # swap would let memory.max be dodged; oom.group ends the whole group at once
        settings = {"memory.max": memory, "pids.max": processes, "memory.swap.max": 0, "memory.oom.group": 1}
        try:
            for name, value in settings.items():
                if name in ("memory.max", "pids.max") or (path / name).exists():
                    (path / name).write_text(str(value))
        except OSError:
            group.remove()
            raise
        return group

    def adopt(self, pids):
        for pid in pids:
            (self.path / "cgroup.procs").write_text(str(pid))

    def _read(self, name: str) -> dict:
        try:
            return {k: int(v) for k, v in (line.split() for line in (self.path / name).read_text().splitlines())}
        except (OSError, ValueError):
            return {}

    def oom_killed(self) -> bool:
        events = self._read("memory.events")
        return events.get("oom_kill", 0) > 0 or events.get("oom_group_kill", 0) > 0

    def cpu_seconds(self) -> float:
        return self._read("cpu.stat").get("usage_usec", 0) / 1e6

    def kill(self):
        try:
            (self.path / "cgroup.kill").write_text("1")
        except OSError:     # before Linux 5.14: the tree is killed by pid as well
            pass

    def remove(self):
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:         # its last processes are still being reaped
                self.kill()
                time.sleep(0.02)


# ----------------------------------------------------------------------------------------------
# Output of the worker: read in threads, first N bytes kept, floods reported.

class _Stream(threading.Thread):
    """Reads one pipe; splits it into per-call segments at the worker's end-of-call marker."""

    def __init__(self, fd: int, marker: bytes, keep: int, flood: int, on_flood):
        super().__init__(daemon=True)
        self.fd, self.marker, self.keep, self.flood, self.on_flood = fd, marker, keep, flood, on_flood
        self.cond = threading.Condition()
        self.segments: list[tuple[bytes, int]] = []
        self._buf, self._total, self._tail = bytearray(), 0, b""
        self.start()

    def run(self):
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            data = self._tail + chunk
            while (i := data.find(self.marker)) >= 0:
                self._add(data[:i])
                with self.cond:
                    self.segments.append((bytes(self._buf), self._total))
                    self._buf, self._total = bytearray(), 0
                    self.cond.notify_all()
                data = data[i + len(self.marker):]
            keep_back = len(self.marker) - 1
            self._add(data[:-keep_back] if len(data) > keep_back else b"")
            self._tail = data[-keep_back:] if len(data) > keep_back else data
        self._add(self._tail)
        self._tail = b""
        os.close(self.fd)
        with self.cond:
            self.cond.notify_all()

    def _add(self, data: bytes):
        if not data:
            return
        room = self.keep - len(self._buf)
        if room > 0:
            self._buf += data[:room]
        self._total += len(data)
        if self._total > self.flood:
            self.on_flood()

    def next_segment(self, timeout: float) -> tuple[bytes, int]:
        with self.cond:
            self.cond.wait_for(lambda: self.segments or not self.is_alive(), timeout)
            if self.segments:
                return self.segments.pop(0)
        return self.rest()

    def rest(self) -> tuple[bytes, int]:
        """Everything not yet taken (all segments and the unfinished one), first bytes kept."""
        with self.cond:
            parts = self.segments + [(bytes(self._buf), self._total)]
            self.segments, self._buf, self._total = [], bytearray(), 0
        return b"".join(p[0] for p in parts)[:self.keep], sum(p[1] for p in parts)


def _text(data: bytes, total: int) -> str:
    text = data.decode("utf-8", errors="replace")
    if total > len(data):
        text += f"\n[... output truncated: {total - len(data)} more bytes were dropped]\n"
    return text


# ----------------------------------------------------------------------------------------------
# One worker process.

def _pipe():
    """A pipe with a large buffer: big arrays cross in fewer context switches."""
    r, w = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass            # not Linux, or above the system's pipe-max-size: the default works too
    return r, w


class _Failure(Exception):
    def __init__(self, error: str, message: str):
        super().__init__(message)
        self.error, self.message = error, message


class _Worker:
    """One worker process, its pipes, and a watcher enforcing the limits from outside.

    cpu_budget: the CPU seconds the worker may use in its whole life, a hard limit it cannot
    raise (RLIMIT_CPU's hard value, which only lowers inside the sandbox's user namespace)."""

    def __init__(self, box: "Sandbox", mode: str, limits: Limits, cpu_budget: float | None = None):
        self.box, self.limits = box, limits
        self.task = "the worker's start-up"      # what is running, for messages
        self.verdict: _Failure | None = None     # why the watcher stopped the worker
        self._pss, self._pss_due = 0, 0.0
        self._memfd = self._unlinked = 0      # counted by _watch_held
        self.busy = True                 # a request (or the start-up) is in flight
        self._idle_cpu: float | None = None
        self.pid: int | None = None      # the worker's own process (inside bwrap, below its init)
        self.cgroup: _Cgroup | None = None
        self.cpu_budget = float(cpu_budget if cpu_budget is not None else limits.cpu_seconds)
        self.cpu_at_ready = self.last_cpu = 0.0
        self._closed = False
        self.marker = b"\x00hw5-end-" + secrets.token_hex(8).encode() + b"\x00"
        req_r, self.req_w = _pipe()
        self.resp_r, resp_w = _pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe() if mode == "script" else (None, out_w)
        # "box" names the sandbox in every worker's command line, so leftovers can be found.
        config = {"box": os.path.basename(box.root), "work": box.box_path("work/python"),
                  "req_fd": req_r, "resp_fd": resp_w, "marker": self.marker.decode(),
                  "limits": box.worker_limits(limits), "cpu_budget": self.cpu_budget,
                  "offline_torch": box.box_path("work/data") if box.torch_home and box.data_dir else None,
                  "repairs": box.repairs,
                  "measure": mode == "measure"}
        # a script of a GPU sandbox holds one GPU for its life (graders.gpus), or runs on the CPU
        self.lease = gpus_mod.lease(box.gpus, box.gpu_wait) if mode == "script" and box.gpus else None
        self.device = self.lease.describe() if self.lease else ""
        gpu = self.lease.gpu if self.lease else None
        argv = box.command(config, limits, gpu)
        if prlimit_path():
            # The hard CPU limit is in place before bwrap runs: nothing started below can lift it.
            hard = math.ceil(self.cpu_budget + STARTUP_CPU)
            argv = [prlimit_path(), f"--cpu={hard}:{hard}", "--", *argv]
        try:
            user = dict(user=box.run_as[0], group=box.run_as[1], extra_groups=[]) if box.run_as else {}
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w, env=box.env(gpu),
                pass_fds=(req_r, resp_w), start_new_session=True, cwd=box.root, **user)
        except OSError as exc:
            for fd in {out_r, err_r, self.req_w, self.resp_r} - {None}:
                os.close(fd)
            if self.lease:
                self.lease.release()
            raise SandboxError(f"the sandbox worker could not be started ({argv[0]}: {exc})") from None
        finally:
            for fd in {req_r, resp_w, out_w, err_w}:
                os.close(fd)
        box._live.add(self)
        keep, flood = limits.output_bytes, limits.flood_bytes
        self.out = _Stream(out_r, self.marker, keep, flood, self._flood)
        self.err = _Stream(err_r, self.marker, keep, flood, self._flood) if err_r else None
        # The watcher runs as long as the worker does: code a student left running between
        # calls (a thread, a child) is held to the limits too.
        threading.Thread(target=self._watch, daemon=True).start()
        self._await_ready()

    def _await_ready(self):
        """No student code runs before the worker says it is ready: failing here is ours."""
        try:
            self.receive(replace(self.limits, wall_seconds=max(60, self.limits.wall_seconds)),
                         "the worker's start-up")
        except _Failure as failure:
            self.close()
            output = _text(*self.out.rest())
            raise SandboxError(f"the sandbox worker failed to start ({failure.message}):\n{output}") from None
        # Only the harness's own processes exist yet: the worker is the Python among them, and
        # all of them go into the worker's cgroup before any student code can fork.
        tree = process_tree(self.proc.pid)
        self.pid = next((p for p in reversed(tree) if _argv0(p) == sys.executable), tree[-1])
        self.cpu_at_ready = self.last_cpu = cpu_seconds(self.pid)
        parent = _cgroup_parent()[0] if self.box.enforcement == CGROUP else None
        if parent is not None:
            try:
                self.cgroup = _Cgroup.make(parent, f"hw5-{os.path.basename(self.box.root)}-{self.pid}",
                                           self.limits.memory_mb << 20, self.limits.processes + 2)
                self.cgroup.adopt(tree)
            except OSError:
                if self.cgroup:
                    self.cgroup.remove()
                self.cgroup = None
                self.box.enforcement = WATCHER
        threading.Thread(target=self._watch_held, daemon=True).start()

    def cpu_left(self) -> float:
        """CPU seconds left below the worker's hard limit."""
        return self.cpu_at_ready + self.cpu_budget - cpu_seconds(self.pid) if self.pid else 0.0

    # -- limits watched from outside ---------------------------------------------------------
    def _watch(self):
        next_disk = time.monotonic() + DISK_POLL
        while self.proc.poll() is None:
            time.sleep(POLL)
            failure = self._check_tree()
            if failure is None and time.monotonic() > next_disk:
                next_disk = time.monotonic() + DISK_POLL
                failure = self._check_disk()
            if failure:
                self._stop(failure)
                return

    def _check_tree(self) -> _Failure | None:
        limits, tree = self.limits, process_tree(self.proc.pid)
        if self.proc.poll() is not None:
            return None
        # bwrap adds two processes of its own (the outer one and the namespace's init).
        own = 2 if self.box.isolation == "bubblewrap" else 0
        if len(tree) - own > limits.processes:
            return _Failure("crashed", f"{self.task} started more than {limits.processes} "
                                       "processes (a fork bomb?) and was stopped")
        if self.pid:
            self.last_cpu = cpu_seconds(self.pid)
        failure = self._check_memory(tree) if self.cgroup is None else (
            self._memory_failure() if self.cgroup.oom_killed() else None)
        return failure or self._check_idle(tree)

    def _check_memory(self, tree) -> _Failure | None:
        limits = self.limits
        tmpfs = _tmpfs_bytes(tree[1]) if self.box.isolation == "bubblewrap" and len(tree) > 1 else 0
        held = tmpfs + self._memfd
        rss = resident_bytes(tree) + held   # tmpfs: bwrap's init, inside the sandbox's mounts
        if rss > limits.memory_mb << 20:
            # RSS overcounts forked children (torch's DataLoader workers count torch's pages
            # again each); reading PSS takes milliseconds, so only near the limit, and not at
            # every poll (the last count stands for a quarter second).
            if time.monotonic() >= self._pss_due:
                began = time.monotonic()
                self._pss = proportional_bytes(tree) + held
                self._pss_due = time.monotonic() + max(PSS_POLL, 10 * (time.monotonic() - began))
            rss = self._pss
        if rss > limits.memory_mb << 20:
            return self._memory_failure()
        return None

    def _watch_held(self):
        """memfd files (and unisolated, /dev/shm's) are memory no RSS shows, deleted files kept
        open are disk no walk finds (held_files). Reading every descriptor and mapping is dearer,
        and waits on processes busy forking, so it runs in a thread of its own (the watcher's
        process and time checks never wait for it), at most every MEMFD_POLL and a tenth of its
        time (a student's 60,000 mappings cost us little). Under a cgroup, whose memory.max
        counts memfd and shared memory itself, only the descriptors are read (for the disk)."""
        disk_dev = os.stat(self.box.root).st_dev
        while self.proc.poll() is None:
            began = time.monotonic()
            self._memfd, self._unlinked = held_files(
                process_tree(self.proc.pid), shm_too=self.box.isolation != "bubblewrap", disk_dev=disk_dev,
                count_memory=self.cgroup is None)
            time.sleep(max(MEMFD_POLL, 10 * (time.monotonic() - began)))

    def _memory_failure(self) -> _Failure:
        return _Failure("memory", f"{self.task} used more than {self.limits.memory_mb} MB of "
                                  "memory and was stopped")

    def _check_idle(self, tree) -> _Failure | None:
        """Between requests the worker waits: CPU spent then is code the student left running."""
        if self.busy:
            self._idle_cpu = None
            return None
        used = self.cgroup.cpu_seconds() if self.cgroup else sum(cpu_seconds(p, children=True) for p in tree)
        if self._idle_cpu is None:
            self._idle_cpu = used
        elif used - self._idle_cpu > IDLE_CPU and not self.busy:
            return _Failure("crashed", f"code left running after {self.task} kept using CPU in the "
                                       f"background (more than {IDLE_CPU:g} s) and was stopped")
        return None

    def _check_disk(self) -> _Failure | None:
        if self.box.disk_used() + self._unlinked > (self.limits.disk_mb << 20) + self.box.disk_at_start:
            return _Failure("output", f"{self.task} wrote more than {self.limits.disk_mb} MB of "
                                      "files and was stopped")
        return None

    def _flood(self):
        self._stop(_Failure("output", f"{self.task} printed more than "
                                      f"{self.limits.flood_bytes // 1_000_000} MB and was stopped"))

    def _stop(self, failure: _Failure):
        if self.verdict is None:        # the first reason wins
            self.verdict = failure
        self.kill()

    # -- lifetime --------------------------------------------------------------------------
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self):
        """SIGKILL the whole tree: a student's signal handlers cannot delay it."""
        if self.cgroup:
            self.cgroup.kill()
        for _ in range(5):
            tree = process_tree(self.proc.pid) if self.proc.poll() is None else []
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            for pid in reversed(tree):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if self.proc.poll() is not None and len(tree) <= 1:
                break
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def close(self):
        self.kill()
        if self._closed:
            return
        self._closed = True
        for fd in (self.req_w, self.resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.out.join(timeout=2)
        if self.err:
            self.err.join(timeout=2)
        if self.cgroup:
            self.cgroup.remove()
        if self.lease:
            self.lease.release()
        self.box._live.discard(self)

    # -- requests --------------------------------------------------------------------------
    def send(self, request: dict, limits: Limits, what: str):
        self.limits, self.task, self.busy = limits, what, True
        self.out.keep, self.out.flood = limits.output_bytes, limits.flood_bytes
        try:
            protocol.write_frame(self.req_w, request)
        except OSError:
            raise self._death() from None

    def receive(self, limits: Limits, what: str) -> dict:
        """The worker's response; raises _Failure, and on any error the worker is killed. The
        frame is the student's to forge (the response descriptor is theirs to find): its size
        and its header's are checked before either is read, the buffer is only touched as data
        arrives, and the header's depth before it is parsed (graders.protocol)."""
        import numpy as np
        self.limits, self.task, self.busy = limits, what, True
        start = time.monotonic()
        try:
            (size,) = protocol.FRAME_HEADER.unpack(self._read(8, start))
            if size > (limits.memory_mb << 20) + (64 << 20) or size < 4:
                raise _Failure("protocol", f"the worker sent a message of an impossible size ({size:,} bytes)")
            view = memoryview(np.empty(size, np.uint8))
            self._read_into(view[:4], start)
            protocol.check_header_length(int.from_bytes(view[:4], "big"))
            self._read_into(view[4:], start)
            response = protocol.decode(view)
            if not isinstance(response, dict) or "ok" not in response:
                raise _Failure("protocol", "the worker sent a malformed response")
            return response
        except ProtocolError as exc:
            self.kill()
            raise _Failure("protocol", f"the worker sent a malformed response: {exc}") from None
        except BaseException:
            self.kill()
            raise
        finally:
            self.busy = False

    def _read(self, n: int, start: float) -> bytearray:
        buf = bytearray(n)
        self._read_into(memoryview(buf), start)
        return buf

    def _read_into(self, view: memoryview, start: float):
        n, got = len(view), 0
        deadline = start + self.limits.wall_seconds
        while got < n:
            # Checked on time even while data trickles in, so a slow writer cannot dodge them.
            if self.verdict:
                raise self._death()
            if time.monotonic() > deadline:
                raise _Failure("timeout", f"{self.task} timed out after {self.limits.wall_seconds:g} s")
            ready, _, _ = select.select([self.resp_r], [], [], POLL)
            if ready:
                k = os.readv(self.resp_r, [view[got:got + (1 << 20)]])
                if not k:
                    raise self._death()
                got += k

    def _death(self) -> _Failure:
        """Why the worker is gone (it is killed for good measure)."""
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        if self.verdict:
            return self.verdict
        if self.cgroup and self.cgroup.oom_killed():
            return self._memory_failure()
        # bwrap's init reports the worker's death by a signal as 128 + signal.
        sig = -code if code is not None and code < 0 else (
            code - 128 if code and code > 128 and self.box.isolation == "bubblewrap" else None)
        if sig == signal.SIGXCPU:
            return _Failure("timeout", f"{self.task} used more than its CPU time "
                                       f"({self.limits.cpu_seconds:g} s) and was stopped")
        if sig == signal.SIGKILL and self.pid and self.last_cpu >= self.cpu_at_ready + self.cpu_budget - 1:
            return _Failure("timeout", f"{self.task} used up the worker's CPU time ({self.cpu_budget:g} s "
                                       "in all, a limit that cannot be raised) and was stopped")
        if sig in signal.Signals._value2member_map_:
            return _Failure("crashed", f"the worker was killed by {signal.Signals(sig).name} "
                                       f"during {self.task}")
        return _Failure("crashed", f"the worker process exited (code {code}) during {self.task}; "
                                   "did the code call os._exit() or exit the interpreter?")


def _argv0(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return None


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
        self.run_as = (_nobody() if self.isolation != "bubblewrap" and os.geteuid() == 0
                       and unprivileged_problem() is None else None)
        # A cgroup of each worker's own where one can be made, else the watcher's counts alone.
        self.enforcement = CGROUP if cgroup_problem() is None else WATCHER
        self.limits = limits
        self.blas_threads = blas_threads
        self.data_dir = Path(data_dir).resolve() if data_dir else None
        self.images_dir = Path(images_dir).resolve() if images_dir else None
        # A torch sandbox (Q6): TORCH_HOME read-only (pretrained weights without a network) and
        # torchvision's datasets kept offline (graders/offline_torch.py).
        self.torch_home = Path(torch_home).resolve() if torch_home else None
        # gpus: its scripts may run on the machine's NVIDIA GPUs, one script per GPU at a time
        # (graders.gpus); none found, nothing changes
        self.gpus = gpus_mod.available() if gpus else []
        self.gpu_wait = gpu_wait
        # repairs: {"allowed": [kinds], "aliases": {file name: path under data/}} (None: every kind)
        from graders import repairs as repairs_mod
        self.repairs = repairs if repairs is not None else {"allowed": sorted(repairs_mod.KINDS)}
        self.root = tempfile.mkdtemp(prefix="hw5sandbox-")
        # The private copy goes at close(), or when the sandbox is dropped, or at exit.
        self._remove_root = weakref.finalize(self, shutil.rmtree, self.root, ignore_errors=True)
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self._measurer = None           # (settings, Future of a started measuring _Worker): prepare_measure
        self._live: set[_Worker] = set()      # every worker started and not yet closed
        self._next_id = 0
        self.replaced: list[str] = []
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
            if target.is_symlink() or (target.exists() and target.read_bytes() != Path(source).read_bytes()):
                self.replaced.append(name)
            if target.is_symlink() or target.exists():
                target.unlink()
            shutil.copyfile(source, target)
        if self.run_as:
            self._give(work)
        self.disk_at_start = self.disk_used()

    def _build(self):
        """The private tree without the submission: the worker's library, its writable folders."""
        root = Path(self.root)
        (root / "work" / "python").mkdir(parents=True)
        lib = root / "lib"
        lib.mkdir()
        for src, dst in {**LIB_FILES, **(TORCH_LIB_FILES if self.torch_home else {})}.items():
            shutil.copyfile(HERE / src, lib / dst)
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
        return sum(_tree_size(Path(self.root) / d) for d in ("work/python", "tmp"))

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
            "MPLBACKEND": "module://hw5sandbox_mplbackend",
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
        args = [*_bwrap_base(limits.memory_mb << 20), "--bind", f"{root}/tmp", "/tmp",
                *_system_binds(), *_masks(_system_dirs()),
                "--ro-bind", f"{root}/lib", BOX_LIB,
                "--bind", f"{root}/mplconfig", BOX_MPL,
                "--bind", f"{root}/work/python", f"{BOX_WORK}/python"]
        for name, target in (("data", self.data_dir), ("images", self.images_dir)):
            if target:
                args += ["--ro-bind", str(target), f"{BOX_WORK}/{name}"]
        if self.torch_home:
            args += ["--ro-bind", str(self.torch_home), BOX_TORCH]
        if gpu is not None:
            args += gpus_mod.bwrap_args(gpu)
        # Nothing else is writable: bwrap's root is a tmpfs (memory) that would otherwise take files.
        args += ["--remount-ro", "/", "--chdir", f"{BOX_WORK}/python"]
        return args + python

    def worker_limits(self, limits: Limits) -> dict:
        # RLIMIT_NPROC counts per user: inside bwrap's user namespace that is the sandbox's own
        # processes (plus bwrap's init); unisolated it would count all the user's processes.
        processes = limits.processes + 2 if self.isolation == "bubblewrap" else None
        return {"cpu": limits.cpu_seconds, "file_size": limits.file_size_mb << 20,
                "open_files": limits.open_files, "processes": processes}

    # -- the API ---------------------------------------------------------------------------
    @_counted
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
            worker = self._call_worker(limits)
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
                if response.get("id") != self._next_id:
                    raise _Failure("protocol", "the worker answered another request")
                stdout = _text(*worker.out.next_segment(timeout=2))
                return self._outcome(Outcome, response, stdout, start)
            except _Failure as failure:
                self._discard_worker()
                data, total = worker.out.rest()
                return Outcome(ok=False, error=failure.error, message=failure.message,
                               stdout=_text(data, total), elapsed=time.monotonic() - start)
            except BaseException:
                self._discard_worker()
                raise

    @_counted
    def run_script(self, script, *, globals=(), files=("*.pickle",), written=(), seed=0, limits=None,
                   after=(), after_limits=None) -> ScriptOutcome:
        """Run a script of the submission in a fresh worker.

        globals: names of the script's variables to send back; files: patterns of the files it
        wrote to send back (bytes); written: patterns of written files to name only (name ->
        size). after: follow-up requests about what the script left (arrays_request,
        graders.saved_models.models_request) answered by the same worker once the script has
        ended, while its variables live, never a measurement (see measure); each gets after_limits
        (default: limits) and comes back as an Outcome in outcome.after, in order."""
        limits = limits or self.limits
        after_limits = after_limits or limits
        self._require_submission()
        with self._lock:
            start = time.monotonic()
            worker = _Worker(self, "script", limits,
                             cpu_budget=limits.cpu_seconds + len(after) * after_limits.cpu_seconds)
            request = {"op": "script", "id": 0, "script": str(script), "globals": list(globals),
                       "files": list(files), "written": list(written), "seed": seed,
                       "limits": self.worker_limits(limits),
                       "max_file_bytes": limits.file_size_mb << 20, "max_figures": 50}
            try:
                worker.send(request, limits, str(script))
                response = worker.receive(limits, str(script))
                outcome = self._outcome(ScriptOutcome, response, "", start)
                # the script's own output ends at the worker's marker; follow-ups print after it
                outcome.stdout = _text(*worker.out.next_segment(timeout=2))
                outcome.stderr = _text(*worker.err.next_segment(timeout=2))
                outcome.globals = _field(response, "globals", dict)
                outcome.files = _field(response, "files", dict)
                outcome.written = {k: v for k, v in _field(response, "written", dict).items() if type(v) is int}
                outcome.figures, outcome.figure_data, outcome.figures_dropped = _figures(response)
                outcome.after = [self._follow_up(worker, i, dict(req), seed, after_limits, script)
                                 for i, req in enumerate(after, start=1)]
                outcome.device = worker.device
                return outcome
            except _Failure as failure:
                return ScriptOutcome(ok=False, error=failure.error, message=failure.message,
                                     stdout=_text(*worker.out.rest()), stderr=_text(*worker.err.rest()),
                                     elapsed=time.monotonic() - start, device=worker.device)
            finally:
                worker.close()

    def prepare_measure(self, count: int, limits=None) -> None:
        """Start the worker of the next measure() of at most `count` requests now, in the background: its
        start-up (importing PyTorch, seconds) then overlaps a script's run. It is a sandbox
        instance of its own and runs nothing of the student's before its first request."""
        limits = limits or self.limits
        future = in_background(_Worker, self, "measure", limits, cpu_budget=max(1, count) * limits.cpu_seconds)
        with self._lock:
            self._drop_measurer()
            self._measurer = ((limits, count), future)

    def _drop_measurer(self):
        prepared, self._measurer = self._measurer, None
        if prepared is not None:
            try:
                prepared[1].result().close()
            except Exception:   # noqa: BLE001 -- it never started: nothing to stop
                pass

    def _measuring_worker(self, limits, count) -> "_Worker":
        """The prepared measuring worker of these settings, if it is alive, else a new one."""
        prepared, self._measurer = self._measurer, None
        if prepared is not None:
            (settings, most), future = prepared
            try:
                worker = future.result()
            except SandboxError:
                worker = None   # started afresh below, which reports the cause itself
            if worker is not None:
                if settings == limits and count <= most and worker.alive():
                    return worker
                worker.close()
        return _Worker(self, "measure", limits, cpu_budget=max(1, count) * limits.cpu_seconds)

    @_counted
    def measure(self, requests, *, seed=0, limits=None, what="the saved models") -> list[Outcome]:
        """Answer measuring requests (graders.saved_models: predict, joins) in a fresh worker that
        has run no student script and ends with them: the worker that ran a script may have
        rewritten its own answers. An Outcome per request, in order; their time counts as the
        student's (a student's model runs), the fresh worker's start-up as the harness's (none
        of it after prepare_measure, when the script ran long enough)."""
        limits = limits or self.limits
        self._require_submission()
        with self._lock:
            worker = self._measuring_worker(limits, len(requests))
            try:
                outcomes = [self._follow_up(worker, i, dict(req), seed, limits, what)
                            for i, req in enumerate(requests, start=1)]
            finally:
                worker.close()
        return outcomes

    def _follow_up(self, worker: _Worker, number: int, request: dict, seed: int, limits: Limits,
                   script) -> Outcome:
        what = f"the {request.get('op')} request after {script}"
        start = time.monotonic()
        if not worker.alive():
            return Outcome(ok=False, error="crashed", message=f"{what} was not answered: the worker had stopped")
        request.update(id=number, seed=seed, limits=self.worker_limits(limits))
        try:
            worker.send(request, limits, what)
            response = worker.receive(limits, what)
            if response.get("id") != number:
                raise _Failure("protocol", "the worker answered another request")
            return self._outcome(Outcome, response, _text(*worker.out.next_segment(timeout=2)), start)
        except _Failure as failure:
            worker.kill()
            return Outcome(ok=False, error=failure.error, message=failure.message,
                           stdout=_text(*worker.out.rest()), elapsed=time.monotonic() - start)
        except BaseException:
            worker.kill()
            raise

    @staticmethod
    def _outcome(cls, response: dict, stdout: str, start: float):
        # The response is the student's to shape, so only its plain fields are taken, the error
        # must be one the API knows, and the time is measured here.
        ok = response.get("ok") is True
        error = None if ok else response.get("error")
        fired = _repair_records(response.get("repairs"))
        _repairs_fired.extend(fired)
        return cls(ok=ok, value=response.get("value"), repairs=fired,
                   args=_field(response, "args", list), kwargs=_field(response, "kwargs", dict),
                   error=error if error in WORKER_ERRORS or ok else "protocol",
                   message=str(response.get("message") or ""),
                   traceback=str(response.get("traceback") or ""), stdout=stdout,
                   elapsed=time.monotonic() - start)

    def _require_submission(self):
        if not self.filled:
            raise RuntimeError("this sandbox holds no submission yet (Sandbox(None, ...) is filled by fill())")

    def _call_worker(self, limits: Limits | None = None) -> _Worker:
        """The call worker, fresh when the last one died or has too little of its life's CPU
        time left for a call under these limits."""
        cpu = (limits or self.limits).cpu_seconds
        if self._worker is not None and (not self._worker.alive() or self._worker.cpu_left() < cpu + 1):
            self._discard_worker()
        if self._worker is None:
            self._worker = _Worker(self, "call", self.limits,
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
    """Keep a spare sandbox ready in this process (graders.batch's processes, which grade one
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
        raise _Failure("protocol", f"the worker sent a malformed response ({key} is a {type(value).__name__})")
    return value


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
    data = [d for d in _field(response, "figure_data", list)[:MAX_FIGURES] if isinstance(d, dict)]
    return kept, data, max(len(sent), made) - len(kept)
