"""The worker's processes seen from outside (Linux /proc): its tree, memory, CPU time, files held."""
from __future__ import annotations

import errno
import os
import signal
import stat
from pathlib import Path

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


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # the command name (field 2) may hold spaces and parentheses: split after its last ')'
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def descends_from(pid: int, root: int) -> bool:
    """Whether pid is root or below it now (not whatever held the number when a tree was listed)."""
    for _ in range(4096):
        if pid == root:
            return True
        if not pid or (pid := _parent(pid)) is None:
            return False
    return False


def signal_tree(pids, root: int, sig=signal.SIGKILL) -> None:
    """Signal each of pids that still belongs to root's tree. A number listed a moment ago may have
    been freed and given to another process since (another student's worker, in a batch): each
    process is pinned with a pidfd first, and every ancestry is read before any signal goes out
    (a killed parent's children would be reparented, out of the tree, before theirs was read);
    the signal then goes through the pidfd, to exactly the process that was checked. Where
    pidfds are missing (macOS, Linux before 5.3) the number is signalled after its check."""
    pinned = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
        except OSError as exc:
            if exc.errno != errno.ENOSYS:
                continue            # gone already
            fd = None
        pinned.append((pid, fd))
    try:
        ours = [(pid, fd) for pid, fd in pinned if descends_from(pid, root)]
        for pid, fd in ours:
            try:
                if fd is None:
                    os.kill(pid, sig)
                else:
                    signal.pidfd_send_signal(fd, sig)
            except OSError:
                pass
    finally:
        for _, fd in pinned:
            if fd is not None:
                os.close(fd)


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


def tmpfs_bytes(pid: int) -> int:
    """Memory held in the sandbox's own tmpfs mounts (files in /dev and /dev/shm are memory)."""
    total = 0
    for mount in ("dev", "dev/shm"):
        try:
            st = os.statvfs(f"/proc/{pid}/root/{mount}")
        except OSError:
            continue
        total += (st.f_blocks - st.f_bfree) * st.f_frsize
    return total


def tree_size(root: Path, cap_entries=20000) -> int:
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
