"""Hostile submissions against the sandbox layer itself: nothing they send, keep or leave running
costs the trusted side unbounded work, outlives their worker, or exceeds their limits unseen.

Each is the reference with one file changed (tests/hostile/<name>/python), run under bubblewrap
with small limits. Each attack earns nothing on what it attacked, leaves no process behind, and
the same sandbox (or the next submission in this process) then works as if it had never run.
"""
import os
import time
from pathlib import Path

import numpy as np
import pytest

from graders.pipeline import grade
from graders.sandbox.shipped import protocol
from graders.sandbox import sandbox as sandbox_mod
from graders.checks.safe_pickle import UnsafePickleError, load_weights
from graders.sandbox.sandbox import (CGROUP, MAX_FIGURE_BYTES, MAX_FIGURES, WATCHER, Limits, Sandbox, SandboxError,
                             bwrap_path, bwrap_problem, cgroup_problem)
from test_hostile import hostile_boxes, leftovers
from test_hostile_grading import descendants, left_running

HOSTILE = Path(__file__).resolve().parents[1] / "hostile"
SMALL = Limits(cpu_seconds=3, wall_seconds=5, memory_mb=400, processes=20, file_size_mb=8,
               open_files=64, output_bytes=50_000, disk_mb=40)

pytestmark = pytest.mark.skipif(bwrap_problem() is not None, reason=f"no bubblewrap: {bwrap_problem()}")


@pytest.fixture
def hostile():
    yield from hostile_boxes(SMALL)


def settles(box, seconds=10) -> list[int]:
    """The sandbox's processes once they had `seconds` to go (a kill is not instant)."""
    deadline = time.monotonic() + seconds
    while leftovers(box) and time.monotonic() < deadline:
        time.sleep(0.05)
    return leftovers(box)


def still_works(box):
    """A well-behaved call in the same sandbox after the attack: a fresh worker answers it."""
    x = np.linspace(-3, 3, 7)
    outcome = box.call("nn", "softmax", x)
    assert outcome.ok, outcome.message
    assert np.allclose(outcome.value, np.exp(x) / np.exp(x).sum())


# -- bounded work on the trusted side --------------------------------------------------------

def test_shared_reference_pickle_bomb_is_refused_at_once(hostile):
    box = hostile("pickle_bomb", wall_seconds=20)
    outcome = box.run_script("run_q3.py")
    assert outcome.ok, outcome.message
    payload = outcome.files["q3_weights.pickle"]
    assert len(payload) < 4096          # a few hundred bytes for 8**28 values
    start = time.perf_counter()
    with pytest.raises(UnsafePickleError, match="more than 100,000 values"):
        load_weights(payload, "q3_weights.pickle")
    assert time.perf_counter() - start < 1


def test_pickle_that_asks_for_a_huge_array_is_refused_before_allocating():
    # REDUCE numpy.ndarray((10**10,)): 80 GB asked for in 40 bytes
    payload = b"\x80\x02cnumpy\nndarray\n\x8a\x05\x00\xe4\x0bT\x02\x85R."
    with pytest.raises(UnsafePickleError, match="more than 512 MB"):
        load_weights(payload)
    # _codecs.encode as anything but NumPy's latin-1 bytes
    with pytest.raises(UnsafePickleError, match="other than as NumPy does"):
        load_weights(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R.")


@pytest.mark.parametrize("function, words", [("sigmoid", "32 MB"), ("deep", "levels deep"),
                                             ("impossible", "impossible size")])
def test_forged_frames_are_refused_before_they_are_read(hostile, function, words):
    box = hostile("forged_frame", wall_seconds=20, memory_mb=400)
    start = time.monotonic()
    outcome = box.call("nn", function, np.zeros(3))
    assert time.monotonic() - start < 3, "the frame was read or parsed"
    assert outcome.ok is False and outcome.error == "protocol", (outcome.error, outcome.message)
    assert words in outcome.message
    assert settles(box) == []
    still_works(box)


def test_a_worker_that_filled_its_request_pipe_holds_the_grader_up_no_longer_than_a_request(hostile):
    box = hostile("forged_frame", wall_seconds=3)
    filled = box.call("nn", "fills_requests", np.zeros(3))
    assert filled.ok, filled.message
    start = time.monotonic()
    stuck = box.call("nn", "softmax", np.zeros(3))
    assert time.monotonic() - start < 10
    assert stuck.ok is False and stuck.error == "timeout" and "took no request" in stuck.message, stuck
    assert settles(box) == []
    still_works(box)


def test_markers_printed_by_the_thousand_stop_the_worker(hostile):
    box = hostile("forged_frame", wall_seconds=20)
    outcome = box.call("nn", "markers", np.zeros(3))
    assert outcome.ok is False and outcome.error == "output", (outcome.error, outcome.message)
    assert "marker more than 1000 times" in outcome.message
    assert settles(box) == []
    still_works(box)


def test_decoding_refuses_deep_and_huge_headers_without_recursion():
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(protocol.ProtocolError, match="levels deep"):
        protocol.decode(len(deep).to_bytes(4, "big") + deep)
    with pytest.raises(protocol.ProtocolError, match="32 MB"):
        protocol.decode((200 << 20).to_bytes(4, "big") + b"[0]")
    # brackets inside strings are not nesting; the deepest value the encoder sends passes
    value = "[[[[" * 1000
    for _ in range(protocol.MAX_DEPTH - 2):
        value = (value, {"a": [1]})
    assert protocol.decode(protocol.encode({"v": value}))["v"][0][0][0][0][1] == {"a": [1]}


def test_twenty_thousand_figures_are_cut_to_the_bound(hostile):
    box = hostile("figure_flood", wall_seconds=30, cpu_seconds=20, memory_mb=1000)
    outcome = box.run_script("run_q3.py")
    assert outcome.ok, outcome.message
    assert len(outcome.figures) == MAX_FIGURES
    assert sum(map(len, outcome.figures)) <= MAX_FIGURE_BYTES
    assert len(outcome.figure_data) == MAX_FIGURES
    assert outcome.figures_dropped == 20_000 - MAX_FIGURES


def test_an_honest_scripts_extra_figures_are_counted_as_dropped(tmp_path):
    python = tmp_path / "python"
    python.mkdir()
    (python / "run_q3.py").write_text(
        "import matplotlib.pyplot as plt\nfor i in range(53):\n    plt.figure(figsize=(1, 1), dpi=10)\n")
    with Sandbox(python, isolation="bubblewrap", limits=SMALL) as box:
        outcome = box.run_script("run_q3.py")
    assert outcome.ok, outcome.message
    assert len(outcome.figures) == 50 and outcome.figures_dropped == 3


def test_figures_saved_to_files_are_captured_once_each_as_saved(tmp_path):
    """A script that saves its plots for the write-up and shows none (plt.savefig, then close or
    clf and plot again) has them captured as saved; a figure saved then shown, unchanged, once."""
    python = tmp_path / "python"
    python.mkdir()
    (python / "run_q3.py").write_text(
        "import matplotlib.pyplot as plt\n"
        "plt.plot([3, 2, 1]); plt.ylabel('loss'); plt.savefig('loss.png'); plt.close()\n"
        "plt.figure(); plt.plot([1, 2]); plt.savefig('acc.png'); plt.show()\n"
        "plt.figure(); plt.plot([5, 6]); plt.savefig('a.png'); plt.clf(); plt.plot([7, 8, 9]); plt.savefig('b.png')\n"
        "plt.figure(); plt.plot([0, 1]); plt.show()\n")
    with Sandbox(python, isolation="bubblewrap", limits=SMALL) as box:
        outcome = box.run_script("run_q3.py")
    assert outcome.ok, outcome.message
    curves = [[line["y"] for axes in figure["axes"] for line in axes["lines"]] for figure in outcome.figure_data]
    assert curves == [[[3, 2, 1]], [[1, 2]], [[5, 6]], [[7, 8, 9]], [[0, 1]]]
    assert len(outcome.figures) == 5 and outcome.figures_dropped == 0


# -- one lifecycle ---------------------------------------------------------------------------

def test_malformed_response_kills_the_worker_and_its_spinning_child(hostile):
    box = hostile("malformed_lingering")
    outcome = box.call("nn", "sigmoid", np.zeros(3))
    assert outcome.error == "protocol" and "args is a int" in outcome.message, outcome.message
    assert settles(box, 3) == []
    still_works(box)


def test_cpu_left_spinning_after_a_call_stops_the_worker(hostile):
    # The allowance is CPU time (IDLE_CPU), so on a loaded machine the spinner lives longer.
    box = hostile("malformed_lingering")
    assert box.call("nn", "spin_after_return", 4).value == 4     # answered, a spinner left behind
    assert settles(box, 30) == []
    still_works(box)
    box = hostile("cpu_raise")
    assert box.call("nn", "spin_in_background", 5).value == 5    # a thread of the worker's own
    assert settles(box, 30) == []
    still_works(box)


def test_the_hard_cpu_limit_cannot_be_raised(hostile):
    box = hostile("cpu_raise", cpu_seconds=1)
    tried = box.call("nn", "lift", 0).value
    assert tried["infinity"].startswith("refused")
    soft, hard = tried["limit"]
    assert 0 < hard < 30, hard      # the worker's life's budget, not infinity
    caps = box.call("nn", "capabilities", 0).value        # none at all, even when started by root
    assert caps and all(int(v, 16) == 0 for v in caps.values()), caps


def test_spinning_with_the_soft_limit_lifted_meets_the_hard_one(hostile):
    box = hostile("cpu_raise", cpu_seconds=1, wall_seconds=60)
    start = time.monotonic()
    outcome = box.call("nn", "sigmoid", np.zeros(3))
    assert outcome.error == "timeout" and "CPU time" in outcome.message, outcome.message
    assert "cannot be raised" in outcome.message
    assert time.monotonic() - start < 30        # the budget (4 calls of 1 s), not the minute
    assert settles(box) == []
    still_works(box)


def test_memory_held_in_memfd_files_counts(hostile):
    box = hostile("memfd_hog", memory_mb=300, wall_seconds=20)
    outcome = box.call("nn", "sigmoid", np.zeros(3), 400)
    assert outcome.error == "memory" and "300 MB" in outcome.message, outcome.message
    assert settles(box) == []
    outcome = box.call("nn", "mapped_then_closed", 400)
    assert outcome.error == "memory", outcome.message
    assert settles(box) == []


def test_held_files_reads_memory_only_where_no_cgroup_counts_it(tmp_path):
    """Under a cgroup (memory.max counts memfd) the held-files poll reads descriptors for the
    disk only, not every mapping of every process each fifth of a second."""
    import subprocess
    import sys
    from graders.sandbox.sandbox import held_files
    holder = subprocess.Popen([sys.executable, "-c", (
        "import os, sys, time\n"
        "m = os.memfd_create('hoard'); os.write(m, b'x' * (8 << 20))\n"
        "f = open(sys.argv[1], 'wb'); f.write(b'y' * (4 << 20)); f.flush(); os.unlink(sys.argv[1])\n"
        "print('ready', flush=True); time.sleep(60)\n"), str(tmp_path / "gone")], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"ready\n"
        disk_dev = os.stat(tmp_path).st_dev
        memory, disk = held_files([holder.pid], disk_dev=disk_dev)
        assert memory >= 8 << 20 and disk >= 4 << 20, (memory, disk)
        assert held_files([holder.pid], disk_dev=disk_dev, count_memory=False) == (0, disk)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("folder", ["/tmp", "."])
def test_deleted_files_kept_open_count_as_disk(hostile, folder):
    box = hostile("unlinked_files", disk_mb=20, wall_seconds=20)
    outcome = box.call("nn", "sigmoid", np.zeros(3), 60, folder)
    assert outcome.error == "output" and "wrote more than 20 MB" in outcome.message, outcome.message
    assert settles(box) == []
    still_works(box)


def test_closing_a_sandbox_stops_everything_it_started(hostile):
    box = hostile("fork_bomb")
    assert box.call("nn", "daemon", 1).value == 1
    assert len(leftovers(box)) >= 2
    box.close()
    assert leftovers(box) == []
    assert not Path(box.root).exists()


def test_enforcement_is_reported(hostile):
    box = hostile("malformed_lingering")
    outcome = box.call("nn", "spin_after_return", 1)
    assert box.enforcement == (CGROUP if cgroup_problem() is None else WATCHER)
    assert outcome.enforcement == box.enforcement


# -- grader failures are the grader's --------------------------------------------------------

def test_bwrap_is_launched_by_its_absolute_path(tmp_path, monkeypatch):
    """bwrap found where the worker's fixed PATH does not look (a TA's ~/bin, a conda env) runs."""
    from graders.sandbox import bwrap
    assert os.path.isabs(bwrap_path())
    elsewhere = tmp_path / "bin" / "bwrap"
    elsewhere.parent.mkdir()
    elsewhere.symlink_to(bwrap_path())
    monkeypatch.setattr(bwrap, "bwrap_path", lambda: str(elsewhere))
    with Sandbox(HOSTILE / "cpu_raise" / "python", isolation="bubblewrap", limits=SMALL) as box:
        assert box.command({}, SMALL)[0] == str(elsewhere)
        assert box.call("nn", "softmax", np.zeros(2)).ok


def test_a_sandbox_that_cannot_start_is_a_grader_error(tmp_path, monkeypatch):
    from graders.sandbox import bwrap
    monkeypatch.setattr(bwrap, "bwrap_path", lambda: str(tmp_path / "no-such-bwrap"))
    with pytest.raises(SandboxError, match="could not be started|failed to start"):
        with Sandbox(HOSTILE / "cpu_raise" / "python", isolation="bubblewrap", limits=SMALL) as box:
            box.call("nn", "lift", 0)


# -- end to end: the grade after the attack is unaffected ------------------------------------

def test_the_next_submission_graded_in_this_process_is_unaffected(make_submission, tmp_path):
    """Each attack graded end to end, then the reference: it earns full marks, and no process of
    the attacks is left to slow it."""
    before = descendants()
    for name in ("forged_frame", "malformed_lingering", "cpu_raise"):
        results = grade.run(make_submission(HOSTILE / name / "python"), tmp_path / name, select="sigmoid")
        checks = [c for c in results["checks"] if c["question"] == "Q2.2.1" and not c.get("not_run")]
        assert checks and all(c["points"] == 0 and c["message"].strip() for c in checks), checks
        assert not [c for c in checks if "grader itself" in c["message"]], checks
        assert not left_running(before), f"{name} left a process running"
    start = time.monotonic()
    results = grade.run(make_submission(), tmp_path / "reference", select="sigmoid")
    checks = [c for c in results["checks"] if c["question"] == "Q2.2.1" and not c.get("not_run")]
    assert checks and all(c["status"] == "passed" for c in checks), checks
    assert results["enforcement"] == (CGROUP if cgroup_problem() is None else WATCHER)
    assert not left_running(before)
    assert time.monotonic() - start < 60


@pytest.mark.skipif(cgroup_problem() is not None, reason=f"no cgroup v2 here: {cgroup_problem()}")
def test_each_worker_has_a_cgroup_of_its_own_that_goes_with_it(hostile):
    """Where cgroups can be made (root on a cgroup v2 host, or HW5GRADE_CGROUP naming a delegated
    one): memory.max counts the memfd hoard, pids.max stops forks, and closing removes the group."""
    box = hostile("memfd_hog", memory_mb=300, wall_seconds=20)
    assert box.call("nn", "softmax", np.zeros(3)).ok
    worker = box._worker
    group = worker.cgroup.path
    assert str(worker.pid) in (group / "cgroup.procs").read_text().split()
    assert box.call("nn", "sigmoid", np.zeros(3), 400).error == "memory"
    assert not group.exists()
    box.close()


def test_the_check_says_figures_were_dropped(hostile):
    from graders.checks import artifacts
    from graders.checks import plugin

    box = hostile("figure_flood", wall_seconds=30, cpu_seconds=20, memory_mb=1000)
    outcome = box.run_script("run_q3.py")
    recorded = []

    class Config:
        def getoption(self, name, default=None):
            return None         # no results folder: nothing is written, the counts still are

    count = artifacts.save_figures(Config(), lambda k, v: recorded.append((k, v)), "run_q3", outcome.figures,
                                   dropped=outcome.figures_dropped)
    assert count == MAX_FIGURES
    notes = [v for k, v in recorded if k == plugin.NOTE]
    assert notes and "of its 20000 figures were dropped" in notes[0], recorded


@pytest.fixture
def nobody_can_run_this_python():
    """Lets the user nobody reach this Python and its packages: o+x on each folder above them
    that lacks it (a tox venv's .tox/ and pyenv's /root are 0700), restored afterwards. It
    changes the machine's folders, so it runs in CI only."""
    import site
    if os.geteuid() != 0:
        pytest.skip("a grader that is not root runs student code with its own rights")
    if os.environ.get("CI", "").lower() != "true":
        pytest.skip("changes the modes of the folders above this Python; runs in CI (CI=true)")
    import sys
    targets = {Path(sys.executable), Path(sys.executable).resolve(), Path(sys.prefix), Path(sys.base_prefix),
               Path(np.__file__).parent, *map(Path, site.getsitepackages())}
    changed = {}
    for target in targets:
        for folder in [target, *target.parents]:
            if folder.is_dir() and not folder.stat().st_mode & 0o001:
                changed.setdefault(folder, folder.stat().st_mode & 0o7777)
    try:
        for folder, mode in changed.items():
            os.chmod(folder, mode | 0o001)
        sandbox_mod.unprivileged_problem.cache_clear()
        assert sandbox_mod.unprivileged_problem() is None, sandbox_mod.unprivileged_problem()
        yield
    finally:
        for folder, mode in changed.items():
            os.chmod(folder, mode)
        sandbox_mod.unprivileged_problem.cache_clear()


def test_without_bubblewrap_a_root_grader_runs_student_code_as_nobody(nobody_can_run_this_python, tmp_path,
                                                                       monkeypatch):
    """Gradescope's containers refuse bubblewrap and grade as root: reads_grader_files runs as
    nobody, and after lock_secrets the course key, the staff truth, the bundle's source (the
    reference, the hidden checks) are closed to it, while the course data stays open."""
    import tempfile
    from graders.staff import gradescope_bundle
    monkeypatch.setattr(sandbox_mod, "bwrap_problem", lambda: "bubblewrap cannot create a sandbox here")
    # pytest's tmp_path is 0700: the bundle and the cache of a container live in open folders
    bundle = Path(tempfile.mkdtemp(prefix="hw5-autograder-"))
    try:
        os.chmod(bundle, 0o755)
        source, cache = bundle / "source", bundle / "cache" / "layout-staff"
        (source / "reference" / "python").mkdir(parents=True)
        (source / "reference" / "python" / "nn.py").write_text("# BEGIN SOLUTION\n")
        (source / "course.key").write_text("k" * 32)
        for sub, name, text in (("data", "nist36_train.mat", "data"), ("truth", "pages.json", "{boxes}"),
                                ("grader", "nist36_grader.mat", "grader split")):
            (cache / sub).mkdir(parents=True, exist_ok=True)
            (cache / sub / name).write_text(text)
        monkeypatch.setenv("HW5GRADE_SECRET_FILE", str(source / "course.key"))
        locked = gradescope_bundle.lock_secrets(bundle, bundle / "cache")
        assert {p.name for p in locked} == {"source", "course.key", "truth", "grader"}
        secrets_ = [source / "course.key", source / "reference" / "python" / "nn.py",
                    cache / "truth" / "pages.json", cache / "grader" / "nist36_grader.mat"]
        with Sandbox(HOSTILE / "reads_grader_files" / "python", cache / "data", isolation="auto") as box:
            assert box.isolation == sandbox_mod.NOT_ISOLATED and box.run_as is not None
            assert box.call("nn", "who_am_i").value == box.run_as[0] != 0
            read = box.call("nn", "read_each", [*map(str, secrets_), str(cache / "data" / "nist36_train.mat")]).value
            assert read == {**{str(p): "PermissionError" for p in secrets_},
                            str(cache / "data" / "nist36_train.mat"): "data"}
            assert box.call("nn", "write_here", "results.txt").value is True
            assert "nobody" in box.worker_user
    finally:
        import shutil
        shutil.rmtree(bundle, ignore_errors=True)


@pytest.mark.parametrize("pidfds", [True, False], ids=["pidfds", "no pidfds (macOS, Linux before 5.3)"])
def test_killing_a_tree_spares_a_process_that_took_a_listed_number_meanwhile(pidfds, monkeypatch):
    """The tree is listed, then killed: a number listed may by then belong to another process (in a
    batch, another student's worker). Only processes still below the tree's root are signalled."""
    import subprocess
    import sys
    from graders.sandbox.sandbox import process_tree, signal_tree
    if not pidfds:
        monkeypatch.delattr(os, "pidfd_open")
    # the child names itself with parentheses and spaces, as a student's process may, to mislead
    # a naive reading of /proc/PID/stat
    child = ("import ctypes, time; ctypes.CDLL(None).prctl(15, b'x) S 1 (y', 0, 0, 0); time.sleep(60)")
    root = subprocess.Popen([sys.executable, "-c",
                             f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"])
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 20
        while len(tree := process_tree(root.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(tree) == 2, tree
        descendant = tree[1]
        deadline = time.monotonic() + 10
        while "x) S 1 (y" not in Path(f"/proc/{descendant}/stat").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        signal_tree([descendant, stranger.pid], root.pid)
        assert stranger.poll() is None, "a process outside the tree was killed"
        deadline = time.monotonic() + 10
        while _state(descendant) not in ("Z", "gone") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _state(descendant) in ("Z", "gone"), "the tree's own process was not killed"
        signal_tree([root.pid], root.pid)
        assert root.wait(timeout=10) == -9
    finally:
        for p in (root, stranger):
            p.kill()
            p.wait()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_plotted_data_the_student_forged_is_rebuilt_to_its_schema():
    """The capture backend's plotted data comes from the student's process: any shape, any type."""
    from graders.sandbox.sandbox import _figures
    forged = {"figure_data": [{"axes": 5}, {"title": 7, "axes": [{"lines": [{"y": [1, 2.5, 10 ** 400, True, "3"]},
                                                                           "line"], "ylabel": ["loss"]}, 3]}, "x"]}
    _, data, _ = _figures(forged)
    assert data == [{"title": "", "axes": []},
                    {"title": "", "axes": [{"title": "", "xlabel": "", "ylabel": "",
                                            "lines": [{"label": "", "y": [1.0, 2.5]}]}]}]
