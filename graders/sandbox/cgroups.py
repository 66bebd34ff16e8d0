"""cgroup v2: one group per worker where the machine lets this process make them."""
from __future__ import annotations

import functools
import os
import time
from pathlib import Path

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
def cgroup_parent() -> tuple[Path | None, str | None]:
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
        probe = Cgroup.make(parent, f"hw5grade-probe-{os.getpid()}", 64 << 20, 4)
        probe.remove()
        return parent, None
    except OSError as exc:
        return None, f"no cgroup v2 of our own ({exc.strerror or exc})"


def cgroup_problem() -> str | None:
    """None if each worker gets a cgroup v2 of its own, else why not (the watcher then rules)."""
    return cgroup_parent()[1]


class Cgroup:
    """One worker's cgroup: memory.max counts what RSS does not (tmpfs, memfd, page cache the
    worker dirtied) and the kernel enforces it; pids.max bounds forks; cgroup.kill ends all."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def make(cls, parent: Path, name: str, memory: int, processes: int) -> "Cgroup":
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
