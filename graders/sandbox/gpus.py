"""The grading machine's NVIDIA GPUs, for the PyTorch scripts (issue 16): which there are, one
script per GPU at a time, and what a sandbox passes through to use one.

A GPU is its device node /dev/nvidiaN; a sandbox that runs a script on it binds that node and the
driver's control nodes (nvidiactl, nvidia-uvm), nothing else of /dev, and names it to CUDA
(CUDA_VISIBLE_DEVICES, in PCI order as the minor numbers are). The model's name comes from the
driver's /proc/driver/nvidia/gpus/*/information. A machine without them changes nothing: no node,
no lease, the scripts run on the CPU as before (and code written for CUDA is repaired to run there,
graders.sandbox.shipped.repairs).

One script per GPU at a time across a batch: a worker that runs a script leases a GPU for its
life through an exclusive lock on a file per GPU (flock, so the lease ends with the process that
held it, even killed). Jobs of a local pool or a Dask worker on one machine take turns; a script
that finds every GPU busy for `wait` seconds runs on the CPU and says so.

HW5GRADE_GPUS: "none" turns GPUs off; "0,2" keeps those indices. HW5GRADE_GPU_LOCKS: the folder
of the lock files (default: hw5grade-gpu-locks in the system's temporary folder), which every
grading process of the machine must share.
"""
from __future__ import annotations

import fcntl
import os
import re
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEV = Path("/dev")
DRIVER = Path("/proc/driver/nvidia/gpus")
CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools")
ENV_GPUS = "HW5GRADE_GPUS"
ENV_LOCKS = "HW5GRADE_GPU_LOCKS"
CPU = "cpu"
_NODE = re.compile(r"nvidia(\d+)")


@dataclass(frozen=True)
class Gpu:
    index: int
    node: str           # /dev/nvidiaN
    model: str          # "NVIDIA H100 80GB HBM3", or "NVIDIA GPU" when the driver does not say
    control: tuple = ()   # the driver's control nodes every GPU needs beside its own (paths)

    def describe(self) -> str:
        return f"GPU {self.index} ({self.model})"


def _char_device(path: Path) -> bool:
    try:
        return stat.S_ISCHR(path.stat().st_mode)
    except OSError:
        return False


def _models(driver: Path) -> dict[int, str]:
    """Device minor -> model name, from the driver's information files."""
    models = {}
    for info in sorted(driver.glob("*/information")) if driver.is_dir() else []:
        try:
            fields = dict(line.split(":", 1) for line in info.read_text().splitlines() if ":" in line)
            models[int(fields["Device Minor"].strip())] = fields.get("Model", "").strip() or "NVIDIA GPU"
        except (OSError, ValueError, KeyError):
            continue
    return models


def available(dev: Path = DEV, driver: Path = DRIVER, env=None) -> list[Gpu]:
    """The GPUs a sandbox may use: a device node each, and the control node beside them."""
    env = os.environ if env is None else env
    wanted = env.get(ENV_GPUS, "").strip().lower()
    if wanted in ("none", "off", "cpu") or not _char_device(dev / "nvidiactl"):
        return []
    indices = sorted(int(m.group(1)) for p in dev.glob("nvidia*")
                     if (m := _NODE.fullmatch(p.name)) and _char_device(p))
    if wanted:
        keep = {int(part) for part in wanted.split(",") if part.strip().isdigit()}
        indices = [i for i in indices if i in keep]
    models = _models(driver)
    control = tuple(str(dev / name) for name in CONTROL_NODES if _char_device(dev / name))
    return [Gpu(i, str(dev / f"nvidia{i}"), models.get(i, "NVIDIA GPU"), control) for i in indices]


def bwrap_args(gpu: Gpu) -> list[str]:
    """The device nodes a sandbox binds to use this GPU, and nothing else of /dev."""
    args = []
    for path in gpu.control:
        args += ["--dev-bind", path, f"/dev/{Path(path).name}"]
    return args + ["--dev-bind", gpu.node, f"/dev/nvidia{gpu.index}"]


def environment(gpu: Gpu | None) -> dict:
    """What tells CUDA which GPU the script has (or that it has none)."""
    if gpu is None:
        return {"CUDA_VISIBLE_DEVICES": ""}
    return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": str(gpu.index)}


def lock_dir() -> Path:
    folder = Path(os.environ.get(ENV_LOCKS) or Path(tempfile.gettempdir()) / "hw5grade-gpu-locks")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Lease:
    """One GPU held by one worker (or none: gpu is None). release() ends it; so does the end of
    the process that holds it."""

    def __init__(self, gpu: Gpu | None, fd: int | None, waited: float, problem: str = ""):
        self.gpu, self._fd, self.waited, self.problem = gpu, fd, waited, problem

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)        # closing the descriptor drops the flock
            self._fd = None

    def describe(self) -> str:
        return self.gpu.describe() if self.gpu else CPU


def lease(gpus: list[Gpu], wait: float = 120.0, poll: float = 0.25) -> Lease:
    """A free GPU of gpus, waiting up to `wait` seconds for one; a CPU lease when there is none."""
    if not gpus:
        return Lease(None, None, 0.0)
    start = time.monotonic()
    try:
        folder = lock_dir()
    except OSError as err:
        return Lease(None, None, 0.0, f"the GPU lock folder cannot be made ({err})")
    problem = ""
    while True:
        for gpu in gpus:
            try:
                # read-only is enough for flock, and works on a lock file another user made
                fd = os.open(folder / f"gpu{gpu.index}.lock", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as err:
                problem = f"the lock file of GPU {gpu.index} cannot be opened ({err})"
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            return Lease(gpu, fd, time.monotonic() - start)
        waited = time.monotonic() - start
        if waited >= wait:
            return Lease(None, None, waited, problem or f"every GPU was busy for {waited:.0f} s")
        time.sleep(poll)
