"""Hostile submissions (tests/hostile/<name>/python): each is contained, reported clearly, and
leaves neither stray processes nor damage behind.  They run under bubblewrap (as batch grading
does) with small limits, so the whole file takes seconds."""
import os
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from graders.checks.safe_pickle import UnsafePickleError, load_weights
from graders.sandbox.sandbox import Limits, Sandbox, bwrap_problem, hidden_paths, python_roots

HOSTILE = Path(__file__).resolve().parents[1] / "hostile"
REPO = Path(__file__).resolve().parents[2]
SMALL = Limits(cpu_seconds=3, wall_seconds=3, memory_mb=400, processes=20, file_size_mb=8,
               open_files=64, output_bytes=50_000, disk_mb=40)

pytestmark = pytest.mark.skipif(bwrap_problem() is not None, reason=f"no bubblewrap: {bwrap_problem()}")


def leftovers(box: Sandbox) -> list[int]:
    """Processes still running for this sandbox (every worker's command line names it)."""
    tag = os.path.basename(box.root).encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if tag in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def hostile_boxes(base: Limits):
    """make(name, **limits): a bubblewrap Sandbox of tests/hostile/<name> under base's limits
    (some replaced); every one is closed afterwards and must leave no process and no file of its
    private copy behind."""
    boxes = []

    def make(name, **limits):
        box = Sandbox(HOSTILE / name / "python", isolation="bubblewrap",
                      limits=Limits(**{**base.__dict__, **limits}))
        boxes.append(box)
        return box

    yield make
    for box in boxes:
        box.close()
        assert leftovers(box) == []
        assert not Path(box.root).exists()


@pytest.fixture
def hostile():
    yield from hostile_boxes(SMALL)


def contained(box, outcome, error):
    """The failure is the expected one and nothing of the worker survives it."""
    assert outcome.ok is False
    assert outcome.error == error, (outcome.error, outcome.message)
    assert outcome.message
    assert leftovers(box) == []


def test_os_exit_at_import_is_a_crash_not_a_success(hostile):
    box = hostile("exit_at_import")
    outcome = box.call("nn", "sigmoid", np.zeros(3))
    contained(box, outcome, "crashed")
    assert "exited (code 0)" in outcome.message
    # The worker is restarted for the next call, which fails the same way.
    assert box.call("nn", "sigmoid", np.zeros(3)).error == "crashed"


def test_sys_exit_at_import_is_a_crash(hostile):
    box = hostile("sysexit_at_import")
    outcome = box.call("nn", "sigmoid", np.zeros(3))
    assert outcome.error == "crashed"
    assert "nn.py called sys.exit(0) while being imported" in outcome.message


def test_exit_during_a_call_is_a_crash(hostile):
    box = hostile("exit_in_call")
    contained(box, box.call("nn", "sigmoid", np.zeros(3)), "crashed")
    outcome = box.call("nn", "softmax", np.zeros(3))
    assert outcome.error == "crashed"
    assert "sys.exit(0)" in outcome.message and "softmax" in outcome.message


def test_infinite_loop_times_out(hostile):
    box = hostile("infinite_loop", wall_seconds=1.5, cpu_seconds=60)
    start = time.monotonic()
    outcome = box.call("nn", "sigmoid", np.zeros(3))
    contained(box, outcome, "timeout")
    assert "timed out after 1.5 s" in outcome.message
    assert time.monotonic() - start < 5


def test_infinite_loop_hits_the_cpu_limit_first(hostile):
    box = hostile("infinite_loop", wall_seconds=20, cpu_seconds=1)
    start = time.monotonic()
    outcome = box.call("nn", "sigmoid", np.zeros(3))
    contained(box, outcome, "timeout")
    assert "CPU" in outcome.message
    assert time.monotonic() - start < 8


def test_sigterm_handler_does_not_save_a_loop(hostile):
    box = hostile("sigterm_loop", wall_seconds=1.5, cpu_seconds=60)
    start = time.monotonic()
    contained(box, box.call("nn", "sigmoid", np.zeros(3)), "timeout")
    assert time.monotonic() - start < 5


def test_fork_bomb_is_stopped_and_cleaned_up(hostile):
    box = hostile("fork_bomb", processes=16, wall_seconds=3)
    start = time.monotonic()
    outcome = box.call("nn", "sigmoid", np.zeros(3))
    # Inside an unprivileged user namespace RLIMIT_NPROC makes fork fail (the bomb then spins
    # until the clock runs out); as root the process count watched from outside stops it.
    assert outcome.error in ("crashed", "timeout", "memory"), outcome.message
    assert leftovers(box) == []
    assert time.monotonic() - start < 8


def test_detached_daemon_dies_with_the_sandbox(hostile):
    box = hostile("fork_bomb")
    assert box.call("nn", "daemon", 1).value == 1
    assert len(leftovers(box)) >= 2                 # the worker and its detached grandchild
    box.close()
    assert leftovers(box) == []


def test_twenty_gigabytes_are_refused(hostile):
    box = hostile("memory_hog", memory_mb=300, wall_seconds=20, cpu_seconds=20)
    outcome = box.call("nn", "sigmoid", np.zeros(3))
    contained(box, outcome, "memory")
    assert "more than 300 MB" in outcome.message


def test_memory_is_watched_between_calls_too(hostile):
    box = hostile("memory_hog", memory_mb=300)
    assert box.call("nn", "in_background", 5).value == 5
    deadline = time.monotonic() + 10
    while leftovers(box) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(box) == []
    assert box.call("nn", "in_background", 6).value == 6     # a fresh worker takes over


def test_memory_in_dev_shm_counts(hostile):
    # 192 MB of files fit in /dev/shm (sized like the memory limit), but with the worker's own
    # memory they exceed 200 MB; were they not counted, the call would just time out. (Near the
    # limit the worker's memory is its proportional share, less than its RSS: 180 MB was too
    # close to tell on one CI machine.)
    box = hostile("memory_hog", memory_mb=200, wall_seconds=5, cpu_seconds=20)
    contained(box, box.call("nn", "shm", 192), "memory")


def test_a_file_beyond_the_size_limit_fails_the_write(hostile):
    box = hostile("disk_filler", file_size_mb=4)
    outcome = box.call("nn", "one_big_file", 0)
    assert outcome.error == "exception"
    assert "File too large" in outcome.message
    assert (Path(box.root) / "work/python/big.bin").stat().st_size == 4 << 20


@pytest.mark.parametrize("function", ["many_files", "fill_tmp"])
def test_many_files_hit_the_disk_limit(hostile, function):
    box = hostile("disk_filler", disk_mb=20, wall_seconds=10)
    outcome = box.call("nn", function, 0)
    contained(box, outcome, "output")
    assert "wrote more than 20 MB" in outcome.message
    assert box.disk_used() < 1 << 30         # stopped within a poll or two, not a full disk


@pytest.mark.parametrize("function", ["sigmoid", "raw"])
def test_print_flood_is_cut_off(hostile, function):
    box = hostile("print_flood", output_bytes=50_000, wall_seconds=10)
    outcome = box.call("nn", function, 0)
    contained(box, outcome, "output")
    assert 50_000 <= len(outcome.stdout) < 51_000
    assert "output truncated" in outcome.stdout


def test_long_but_finite_output_is_kept_up_to_the_limit(hostile):
    box = hostile("print_flood", output_bytes=50_000)
    outcome = box.call("nn", "chatty", 7)
    assert outcome.ok and outcome.value == 7
    assert outcome.stdout.startswith("line 00000 ")
    assert "output truncated" in outcome.stdout
    # The next call's output starts clean.
    assert box.call("nn", "chatty", 8).stdout.startswith("line 00000 ")


def test_print_flood_in_a_script(hostile):
    box = hostile("print_flood", output_bytes=50_000, wall_seconds=10)
    outcome = box.run_script("run_q2.py")
    contained(box, outcome, "output")
    assert outcome.stdout.startswith("spam spam")


def test_no_network(hostile):
    # A server on this machine's loopback that the sandbox must not reach.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    port = server.getsockname()[1]
    box = hostile("network")
    for host in ("127.0.0.1", "1.1.1.1"):
        outcome = box.call("nn", "connect", host, port if host == "127.0.0.1" else 53)
        assert outcome.error == "exception"
        assert "Error" in outcome.message
    assert box.call("nn", "resolve", "pypi.org").error == "exception"
    with pytest.raises(BlockingIOError):
        server.accept()                     # nobody knocked
    server.close()


def test_no_view_of_repository_cache_home_or_other_submissions(hostile, tmp_path):
    other = hostile("network")              # another submission's private copy
    box = hostile("snoop")
    secret = ["../../reference", REPO / "reference", REPO / "graders", REPO / "tests", REPO / "fixtures",
              Path("/work/shared"), Path.home() / ".cache" / "hw5grade",
              Path(other.root), tmp_path, *[p for p in hidden_paths() if p != Path.home()]]
    outcome = box.call("nn", "try_all", [str(p) for p in secret])
    assert outcome.ok
    # Absent, or (an installed copy of the harness inside site-packages) an empty mask. A folder
    # on the way to the interpreter's own venv (tox keeps it in .tox/ inside the checkout) shows
    # just the next folder of that path: a mount point, with nothing of the repository in it.
    def on_the_way_to_python(path, listing):
        prefix = Path(sys.prefix).resolve()
        path = Path(path).resolve()
        return (isinstance(listing, list) and path in prefix.parents
                and listing == [prefix.relative_to(path).parts[0]])

    leaks = {k: v for k, v in outcome.value.items()
             if v not in ("failed: FileNotFoundError", "failed: PermissionError", [], b"")
             and not on_the_way_to_python(k, v)}
    assert not leaks, leaks
    for package in ("graders", "fixtures"):
        outcome = box.call("nn", "import_harness", package)
        # Not importable, or (an installed copy masked by an empty folder) empty.
        assert (outcome.error == "exception" and "ModuleNotFoundError" in outcome.message
                or outcome.ok and all(files == [] for files in outcome.value)), outcome
    # Of the home folder, at most the path down to the Python installation is visible.
    home = box.call("nn", "read", str(Path.home()))
    home_dir = Path(os.path.realpath(Path.home()))
    pythons = [Path(r) for r in python_roots() if home_dir in Path(r).parents]
    if pythons:
        assert set(home.value) == {r.relative_to(home_dir).parts[0] for r in pythons}
    else:
        assert home.error == "exception"
    masks = {str(p) for p in hidden_paths()}     # a masked file shows as an empty file, nothing more
    # The interpreter's own files are shown on purpose, wherever the venv lives (tox: inside
    # the checkout); everything else the worker can see must be outside the secret places.
    pythons_shown = [str(r) for r in python_roots()]
    seen = [p for p in box.call("nn", "walk_up").value
            if p not in masks and not any(p == r or p.startswith(r + "/") for r in pythons_shown)]
    assert seen and not [p for p in seen if any(p.startswith(str(s)) for s in secret if str(s).startswith("/"))]
    assert not [p for p in seen if "hw5grade" in p or "reference" in p.split("/")]


def test_cannot_write_outside_its_copy(hostile):
    box = hostile("write_outside")
    targets = ["/usr/lib/pwned", "/etc/passwd", "/sandbox/lib/worker.py", "/sandbox/work/data",
               "/pwned", str(REPO / "graders" / "pwned.py"), sys.executable]
    outcome = box.call("nn", "write", targets)
    assert outcome.ok
    # A folder the sandbox does not show (the repository's) is a missing folder there: the write
    # lands in the sandbox's scratch folder, a recorded repair (graders/sandbox/shipped/repairs.py), never outside.
    scratch = {r["old"] for r in outcome.repairs if r["kind"] == "output-folder"}
    assert all(v.startswith("failed") or (k in scratch and k == str(REPO / "graders" / "pwned.py"))
               for k, v in outcome.value.items()), outcome.value
    assert not (REPO / "graders" / "pwned.py").exists()
    assert "pwned" not in (Path(box.root) / "lib" / "worker.py").read_text()
    # Its own private copy is writable, and the submitted folder is untouched.
    assert box.call("nn", "write_own", "mine.txt").value == "written"
    assert (Path(box.root) / "work/python/mine.txt").read_text() == "mine\n"
    assert not (HOSTILE / "write_outside" / "python" / "mine.txt").exists()


def test_monkeypatching_stays_in_the_worker(hostile):
    real_allclose, real_pytest = np.allclose, sys.modules["pytest"]
    box = hostile("monkeypatch")
    x = np.linspace(-2, 2, 5)
    outcome = box.call("nn", "sigmoid", x)
    assert outcome.ok
    # The rigged np.allclose answers True inside the worker ...
    assert box.call("nn", "is_close", 1.0, 2.0).value is True
    # ... while the verdict is computed here, with the real one.
    assert np.allclose is real_allclose and sys.modules["pytest"] is real_pytest
    assert not np.allclose(outcome.value, expit(x))
    assert outcome.value == pytest.approx(np.full(5, 42.0))


def test_weights_pickle_that_runs_code_is_refused(hostile, tmp_path, monkeypatch):
    box = hostile("evil_pickle")
    outcome = box.run_script("run_q3.py")
    assert outcome.ok, outcome.message
    payload = outcome.files["q3_weights.pickle"]
    # The payload is real: an ordinary unpickling, in a throwaway process, runs it.
    proof = tmp_path / "proof"
    proof.mkdir()
    subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
                   input=payload, cwd=proof, check=False, capture_output=True)
    assert (proof / "PWNED").exists()
    # The restricted loader refuses it, naming the culprit, and runs nothing.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsafePickleError, match=r"posix\.mkdir|os\.mkdir"):
        load_weights(payload, "q3_weights.pickle")
    assert not (tmp_path / "PWNED").exists()
    assert pickle.loads(pickle.dumps(1)) == 1    # nothing here was patched either
