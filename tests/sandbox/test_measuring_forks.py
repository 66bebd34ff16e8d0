"""A forking measuring worker (Sandbox.measure under bubblewrap): it imports PyTorch once and
runs no student code; each measure() is answered by a process forked from it, which ends with
that measure(). What one measurement's code leaves behind (a process, a forged frame on the
response pipe) must be gone before the next one starts, and no forked process may read or
write the worker's memory."""
import re
import time
from pathlib import Path

import numpy as np
import pytest

from graders.checks.saved_models import captured, models_request, predict_request, saved_state
from graders.sandbox.sandbox import Limits, Sandbox, bwrap_problem
from test_sandbox_torch import heldout     # its rows: class 1 brightens the first row

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytestmark = pytest.mark.skipif(bwrap_problem() is not None, reason=f"needs bubblewrap: {bwrap_problem()}")

# The model's forward does what mode.txt (written between measurements from outside) says.
SCRIPT = '''
import os
import sys
import time
import types
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1024, 2)

    def forward(self, v):
        mode = open("mode.txt").read().strip() if os.path.exists("mode.txt") else ""
        print(f"measured in {os.getpid()} under {os.getppid()}")
        try:
            open(f"/proc/{os.getppid()}/mem", "r+b").close()
            print("parent memory opened")
        except OSError:
            print("parent memory refused")
        worker = sys._getframe()        # the measuring worker's code up the stack: its pipes, its protocol
        while "RESP" not in worker.f_globals:
            worker = worker.f_back
        worker = types.SimpleNamespace(**worker.f_globals)
        if mode == "linger" and os.fork() == 0:
            # a leftover that would answer the next measurement's first request with a forgery
            os.setsid()
            time.sleep(1.5)
            worker.protocol.write_frame(worker.RESP, {"id": 1, "ok": True, "value": {"forged": True}})
            time.sleep(60)
            os._exit(0)
        if mode in ("plant", "fill"):
            # its request pipe, reopened for writing: requests for whoever reads it next
            pipe = os.open(f"/proc/self/fd/{worker.REQ}", os.O_WRONLY | os.O_NONBLOCK)
            if mode == "plant":
                worker.protocol.write_frame(pipe, {"op": "fork", "cpu_budget": 60})
                worker.protocol.write_frame(pipe, {"op": "call", "id": 1, "module": "os", "function": "getpid",
                                                   "args": [], "kwargs": {}})
            else:
                try:
                    while True:     # full: the grader's next write would wait for ever
                        os.write(pipe, b"x" * 65536)
                except BlockingIOError:
                    pass
        if mode == "exit":
            os._exit(3)
        if mode == "array_id":
            import numpy
            worker.protocol.write_frame(worker.RESP, {"ok": True, "id": numpy.array([1, 1]), "value": {}})
        if mode == "array_message":
            import numpy
            worker.protocol.write_frame(worker.RESP, {"ok": False, "error": "exception", "id": 1,
                                                      "message": numpy.array([1, 1])})
        if mode == "traceme":
            import ctypes
            import signal
            ctypes.CDLL(None).ptrace(0, 0, 0, 0)        # PTRACE_TRACEME: its stops go to the worker
            os.kill(os.getpid(), signal.SIGSTOP)
        if mode == "disk":
            with open("left_behind.bin", "wb") as f:
                f.write(bytes(3 << 20))
        if mode == "data":
            print("course data seen" if os.path.exists("../data/train.txt") else "course data hidden")
        if mode == "stop":
            import signal
            os.kill(os.getppid(), signal.SIGSTOP)       # the worker could then fork no more
        return self.fc(v.reshape(v.shape[0], -1))


assert open("../data/train.txt").read() == "the training set"     # the script itself reads the course data
model = Net()
with torch.no_grad():
    model.fc.weight.zero_()
    model.fc.bias.zero_()
    model.fc.weight[1, :32] = 1.0      # class 1: a bright first row
    model.fc.bias[1] = -8.0
torch.save(model.state_dict(), "model.pt")
'''


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    python = tmp_path_factory.mktemp("forks") / "python"
    python.mkdir()
    (python / "train.py").write_text(SCRIPT)
    data = python.parent / "data"
    data.mkdir()
    (data / "train.txt").write_text("the training set")
    with Sandbox(python, data_dir=data, isolation="bubblewrap", limits=Limits(wall_seconds=120, cpu_seconds=120)) as box:
        outcome = box.run_script("train.py", written=("*.pt",), files=(), after=[models_request()],
                                 after_limits=Limits(wall_seconds=60))
        assert outcome.ok, outcome.message + outcome.stderr
        box.state = saved_state(Path(box.root) / "work" / "python", python, "model.pt")
        box.capture = captured(outcome.after[0])
        yield box


def measure(box, mode="", limits=Limits(wall_seconds=60, cpu_seconds=60)):
    (Path(box.root) / "work" / "python" / "mode.txt").write_text(mode)
    x, y = heldout(40, seed=0)
    request = predict_request("train.py", box.capture, "model.pt", box.state, x, "nist")
    answer = box.measure([request], limits=limits)[0]
    prepared = box._measurer
    return answer, y, (prepared[1].result() if prepared else None)


def pids(answer):
    """(the forked process, its parent) as the model's forward printed them."""
    found = set(re.findall(r"measured in (\d+) under (\d+)", answer.stdout))
    assert len(found) == 1, answer.stdout
    return tuple(map(int, found.pop()))


def test_each_measurement_is_a_fresh_fork_of_one_kept_worker(box):
    first, y, worker = measure(box)
    second, _, again = measure(box)
    for answer in (first, second):
        assert answer.ok, answer.message
        assert np.mean(answer.value["predictions"]["rows (N, 1024)"] == y) == 1.0
        # the forked process may not touch the worker that forks the next ones
        assert "parent memory refused" in answer.stdout and "parent memory opened" not in answer.stdout
    assert worker is not None and again is worker and worker.alive() and worker.forks
    (child1, parent1), (child2, parent2) = pids(first), pids(second)
    assert parent1 == parent2 and child1 != child2 and parent1 not in (child1, child2)
    assert worker.others() == []


def test_what_a_measurement_leaves_running_is_gone_before_the_next(box):
    lingering, y, worker = measure(box, "linger")
    assert lingering.ok, lingering.message
    assert worker is not None and worker.others() == []     # the leftover was killed from outside
    time.sleep(2)           # when it would have written its forgery
    honest, _, again = measure(box)
    assert honest.ok, honest.message
    assert "forged" not in honest.value
    assert np.mean(honest.value["predictions"]["rows (N, 1024)"] == y) == 1.0
    assert again is worker


def test_a_measured_model_cannot_read_the_course_data_its_script_read(box):
    """A forward() that read ../data could answer from the training set (a nearest neighbour)."""
    answer, y, _ = measure(box, "data")
    assert answer.ok, answer.message
    assert "course data hidden" in answer.stdout and "course data seen" not in answer.stdout


def test_a_measuring_process_that_exits_fails_its_request_and_the_next_starts_afresh(box):
    ended, _, worker = measure(box, "exit")
    assert not ended.ok and ended.error == "crashed", ended
    assert "exited (code 3)" in ended.message
    assert worker is None       # a failed measurement's worker is not kept
    honest, y, fresh = measure(box)
    assert honest.ok, honest.message
    assert np.mean(honest.value["predictions"]["rows (N, 1024)"] == y) == 1.0
    assert fresh is not None and fresh.forks


def test_a_measuring_worker_its_fork_stopped_is_not_kept(box):
    stopping, y, worker = measure(box, "stop")
    assert stopping.ok, stopping.message        # its own answer stands: it is the student's model
    assert worker is None
    start = time.monotonic()
    honest, _, fresh = measure(box)
    assert honest.ok, honest.message
    assert np.mean(honest.value["predictions"]["rows (N, 1024)"] == y) == 1.0
    assert fresh is not None and fresh.alive() and time.monotonic() - start < 30


@pytest.mark.parametrize("mode", ["plant", "fill"])
def test_what_a_measurement_writes_into_its_request_pipe_reaches_no_later_one(box, mode):
    """Each fork has pipes of its own: requests planted in one (for the measuring worker, or
    to answer the next fork) reach nobody, and one it filled holds nobody up."""
    start = time.monotonic()
    planting, y, worker = measure(box, mode)
    assert planting.ok, planting.message
    honest, _, again = measure(box)
    assert time.monotonic() - start < 30
    assert honest.ok, honest.message
    assert np.mean(honest.value["predictions"]["rows (N, 1024)"] == y) == 1.0
    (child1, parent1), (child2, parent2) = pids(planting), pids(honest)
    assert child1 != child2
    if worker is not None and again is worker:      # kept: the same worker forked the next one
        assert parent1 == parent2


def test_an_answer_whose_id_is_an_array_fails_its_request_not_the_grader(box):
    forged, _, worker = measure(box, "array_id")
    assert not forged.ok and forged.error == "protocol" and "another request" in forged.message
    assert worker is None


def test_an_answer_whose_message_is_an_array_fails_its_request_not_the_grader(box):
    forged, _, _ = measure(box, "array_message")
    assert not forged.ok and forged.error == "exception" and forged.message == ""


def test_a_measuring_process_that_makes_its_worker_its_tracer_is_killed_at_its_first_stop(box):
    start = time.monotonic()
    traced, _, worker = measure(box, "traceme")
    assert not traced.ok and traced.error == "crashed" and "SIGKILL" in traced.message, traced
    honest, y, _ = measure(box)
    assert honest.ok, honest.message
    assert time.monotonic() - start < 20


def test_files_a_measurement_left_over_the_disk_limit_fail_the_next_one_not_the_grader(box):
    small = Limits(wall_seconds=60, cpu_seconds=60, disk_mb=1)
    writing, _, _ = measure(box, "disk", small)
    # stopped by the watcher, or done before its next look: the file stays either way
    assert writing.ok or (writing.error == "output" and "1 MB" in writing.message), writing
    after, _, _ = measure(box, "", small)
    assert not after.ok and after.error == "output" and "no worker was started" in after.message, after
    (Path(box.root) / "work" / "python" / "left_behind.bin").unlink()
    honest, y, _ = measure(box)
    assert honest.ok, honest.message
