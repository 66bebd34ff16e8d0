"""GPU pass-through (graders.sandbox.gpus, issue 16): found from the device nodes, one script per GPU at a
time, only that GPU's nodes in the sandbox, the device recorded. No GPU is needed: the machine's
device nodes are stood in for by links to /dev/null (a character device, as they are), and the
driver's information files by files of the same form."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from graders.sandbox import gpus
from graders.checks import rubric
from graders.sandbox.sandbox import Sandbox, bwrap_problem

HAVE_BWRAP = bwrap_problem() is None
ISOLATIONS = ["none", pytest.param("bubblewrap", marks=pytest.mark.skipif(
    not HAVE_BWRAP, reason=f"no bubblewrap: {bwrap_problem()}"))]


@pytest.fixture
def machine(tmp_path):
    """(dev, driver): a machine with GPUs 0 and 1, their control nodes and one unrelated node."""
    dev, driver = tmp_path / "dev", tmp_path / "driver"
    dev.mkdir()
    for name in ("nvidiactl", "nvidia-uvm", "nvidia0", "nvidia1", "nvidia-modeset", "nvidia-caps"):
        (dev / name).symlink_to("/dev/null")
    (dev / "nvidia7").write_text("a plain file is not a device")
    for minor, bus in ((0, "0000:17:00.0"), (1, "0000:65:00.0")):
        (driver / bus).mkdir(parents=True)
        (driver / bus / "information").write_text(
            f"Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 16\nDevice Minor: \t {minor}\nBus Type: \t PCIe\n")
    return dev, driver


@pytest.fixture(autouse=True)
def own_locks(tmp_path, monkeypatch):
    monkeypatch.setenv(gpus.ENV_LOCKS, str(tmp_path / "locks"))
    monkeypatch.delenv(gpus.ENV_GPUS, raising=False)


def test_the_gpus_are_the_device_nodes_beside_the_control_node(machine):
    dev, driver = machine
    found = gpus.available(dev, driver)
    assert [(g.index, g.node, g.model) for g in found] == [(0, str(dev / "nvidia0"), "NVIDIA H100 80GB HBM3"),
                                                            (1, str(dev / "nvidia1"), "NVIDIA H100 80GB HBM3")]
    assert found[0].control == (str(dev / "nvidiactl"), str(dev / "nvidia-uvm"))     # not -modeset, -caps
    assert found[1].describe() == "GPU 1 (NVIDIA H100 80GB HBM3)"
    assert [g.index for g in gpus.available(dev, driver, env={gpus.ENV_GPUS: "1"})] == [1]
    assert gpus.available(dev, driver, env={gpus.ENV_GPUS: "none"}) == []
    (dev / "nvidiactl").unlink()          # nodes without the driver's control node: no usable GPU
    assert gpus.available(dev, driver) == []


def test_a_machine_without_gpus_has_none(tmp_path):
    assert gpus.available(tmp_path, tmp_path / "no-driver") == []
    lease = gpus.lease([])
    assert lease.gpu is None and lease.describe() == gpus.CPU and lease.problem == ""


def test_a_sandbox_gets_that_gpus_node_and_the_control_nodes_only(machine):
    dev, driver = machine
    gpu = gpus.available(dev, driver)[1]
    args = gpus.bwrap_args(gpu)
    assert args == ["--dev-bind", str(dev / "nvidiactl"), "/dev/nvidiactl",
                    "--dev-bind", str(dev / "nvidia-uvm"), "/dev/nvidia-uvm",
                    "--dev-bind", str(dev / "nvidia1"), "/dev/nvidia1"]
    assert gpus.environment(gpu) == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "1"}
    assert gpus.environment(None) == {"CUDA_VISIBLE_DEVICES": ""}


def test_one_script_per_gpu_at_a_time_and_the_cpu_when_every_gpu_stays_busy(machine):
    found = gpus.available(*machine)
    first, second = gpus.lease(found), gpus.lease(found)
    assert {first.gpu.index, second.gpu.index} == {0, 1}
    third = gpus.lease(found, wait=0.3, poll=0.05)
    assert third.gpu is None and "busy" in third.problem and third.waited >= 0.3
    first.release()
    again = gpus.lease(found, wait=0.3, poll=0.05)
    assert again.gpu == first.gpu
    again.release()
    second.release()


def test_a_gpu_held_by_another_process_is_not_given_out_until_that_process_ends(machine):
    found = gpus.available(*machine)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(gpus.lock_dir() / "gpu0.lock")!r}, os.O_RDONLY | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("held", flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lease = gpus.lease(found)
        assert lease.gpu.index == 1          # another job of the batch has GPU 0
        lease.release()
        only_zero = [g for g in found if g.index == 0]
        assert gpus.lease(only_zero, wait=0.2, poll=0.05).gpu is None
    finally:
        holder.kill()
        holder.wait()
    lease = gpus.lease(only_zero, wait=2, poll=0.05)      # killed: its lock went with it
    assert lease.gpu.index == 0
    lease.release()


SCRIPT = '''
import os
print("nodes", sorted(n for n in os.listdir("/dev") if n.startswith("nvidia")))
print("visible", repr(os.environ.get("CUDA_VISIBLE_DEVICES")))
'''


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_script_of_a_gpu_sandbox_runs_with_its_gpu_and_says_which(machine, tmp_path, monkeypatch, isolation):
    dev, driver = machine
    real = gpus.available
    monkeypatch.setattr(gpus, "available", lambda: real(dev, driver))
    python = tmp_path / "python"
    python.mkdir()
    (python / "run_gpu.py").write_text(SCRIPT)
    with Sandbox(python, isolation=isolation, gpus=True) as box:
        held = gpus.lease(box.gpus)            # another job holds GPU 0 (or 1): the script gets the other
        try:
            outcome = box.run_script("run_gpu.py", files=())
        finally:
            held.release()
    assert outcome.ok, outcome.message
    other = 1 - held.gpu.index
    assert outcome.device == f"GPU {other} (NVIDIA H100 80GB HBM3)"
    assert f"visible '{other}'" in outcome.stdout
    if isolation == "bubblewrap":      # its own node and the control nodes, no other GPU's
        assert f"nodes ['nvidia-uvm', 'nvidia{other}', 'nvidiactl']" in outcome.stdout


def test_a_sandbox_on_a_machine_without_gpus_is_as_before(tmp_path, monkeypatch):
    monkeypatch.setattr(gpus, "available", lambda: [])
    python = tmp_path / "python"
    python.mkdir()
    (python / "run_gpu.py").write_text(SCRIPT)
    with Sandbox(python, isolation="none", gpus=True) as box:
        outcome = box.run_script("run_gpu.py", files=())
        assert "CUDA_VISIBLE_DEVICES" not in box.env()
    assert outcome.ok and outcome.device == ""


def test_the_rubric_states_the_gpu_tolerance_and_2019_takes_2022s(tmp_path):
    assert rubric.load("2022").gpu_tolerance == rubric.load("2019").gpu_tolerance == 0.02
    bad = tmp_path / "bad.toml"
    bad.write_text('edition = "x"\n[gpu]\ntolerance = 0.5\n')
    with pytest.raises(rubric.RubricError, match=r"\[gpu\] tolerance"):
        rubric.load("x", bad)

