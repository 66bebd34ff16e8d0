"""One worker process: started under bubblewrap, watched from outside, killed as a whole tree."""
from __future__ import annotations

import json
import math
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from graders.sandbox import gpus as gpus_mod
from graders.sandbox.shipped import protocol
from graders.sandbox.shipped.protocol import ProtocolError

from graders.sandbox.outcomes import Limits, SandboxError
from graders.sandbox.accounting import (tmpfs_bytes, cpu_seconds, held_files, process_tree, proportional_bytes,
                                        resident_bytes, signal_tree)
from graders.sandbox.bwrap import prlimit_path
from graders.sandbox.cgroups import Cgroup, cgroup_parent
from graders.sandbox.streams import Stream, stream_text

POLL = 0.05                 # seconds between checks of the worker's memory, processes and disk
DISK_POLL = 0.2
PSS_POLL = 0.25             # at most this often the costly proportional count (see _check_tree)
CGROUP, WATCHER = "cgroup v2", "watcher"     # how the limits are enforced (Sandbox.enforcement)
# STARTUP_CPU: the room the outer CPU limit leaves for imports before the worker tightens it
# itself. Between requests a worker has nothing to do: IDLE_CPU seconds of CPU spent then (a
# thread or child left spinning) stop it.
STARTUP_CPU = 30
IDLE_CPU = 2.0
MEMFD_POLL = 0.2
# A forking measuring worker between forks runs nothing of the student's (end_fork saw to it,
# and fork looks again): its watchers rest, waking this often to see whether it still lives.
PARKED_POLL = 0.5
# The handshake with a forking measuring worker, which runs no student code: seconds, not a
# request's limit.
FORK_SECONDS = 10
END = b"".join(protocol.frame_parts({"op": "end"}))     # a forked measuring process's last request



def _pipe():
    """A pipe with a large buffer: big arrays cross in fewer context switches."""
    r, w = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass            # not Linux, or above the system's pipe-max-size: the default works too
    return r, w


class Failure(Exception):
    def __init__(self, error: str, message: str):
        super().__init__(message)
        self.error, self.message = error, message


class Worker:
    """One worker process, its pipes, and a watcher enforcing the limits from outside. box: the
    graders.sandbox.sandbox.Sandbox it works for.

    cpu_budget: the CPU seconds the worker may use in its whole life, a hard limit it cannot
    raise (RLIMIT_CPU's hard value, which only lowers inside the sandbox's user namespace)."""

    def __init__(self, box, mode: str, limits: Limits, cpu_budget: float | None = None, forks: bool = False):
        self.box, self.limits = box, limits
        self.limits_at_start = limits    # what its hard limits were made from
        # forks: a measuring worker that forks one fresh measuring process per Sandbox.measure()
        # (see fork); it stays, one process more in the tree, while its children come and go.
        self.forks = False               # what the worker said when ready: it can fork
        self.resident = 1 if forks else 0
        self.parked = False              # a forking worker between forks: nothing else in its tree
        self.in_fork = False             # requests go to a forked process, on its own pipes
        self._home = None                # meanwhile, the worker's own (request, response, output)
        # its control socket: fork requests and their pipes go this way, and no child keeps it
        self.ctl, ctl_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) if forks else (None, None)
        self.task = "the worker's start-up"      # what is running, for messages
        self.verdict: Failure | None = None     # why the watcher stopped the worker
        self._pss, self._pss_due = 0, 0.0
        self._memfd = self._unlinked = 0      # counted by _watch_held
        self.busy = True                 # a request (or the start-up) is in flight
        self._idle_cpu: float | None = None
        self.pid: int | None = None      # the worker's own process (inside bwrap, below its init)
        self.cgroup: Cgroup | None = None
        self.cpu_budget = float(cpu_budget if cpu_budget is not None else limits.cpu_seconds)
        self.cpu_at_ready = self.last_cpu = 0.0
        self._closed = False
        _check_disk_left(box, limits)
        self.marker = b"\x00hw5-end-" + secrets.token_hex(8).encode() + b"\x00"
        req_r, self.req_w = _pipe()
        os.set_blocking(self.req_w, False)      # a worker that reads no more cannot hold us (send)
        self.resp_r, resp_w = _pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe() if mode == "script" else (None, out_w)
        # "box" names the sandbox in every worker's command line, so leftovers can be found.
        config = {"box": os.path.basename(box.root), "work": box.box_path("work/python"),
                  "req_fd": req_r, "resp_fd": resp_w, "marker": self.marker.decode(),
                  "limits": box.worker_limits(limits, self.resident), "cpu_budget": self.cpu_budget,
                  "offline_torch": (box.box_path("work/data") if box.torch_home and box.data_dir and mode != "measure"
                                    else None),
                  "repairs": box.repairs,
                  "measure": mode == "measure", "ctl_fd": ctl_child.fileno() if ctl_child else None}
        # a script of a GPU sandbox holds one GPU for its life (graders.sandbox.gpus), or runs on the CPU
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
                pass_fds=(req_r, resp_w) + ((ctl_child.fileno(),) if ctl_child else ()),
                start_new_session=True, cwd=box.root, **user)
        except OSError as exc:
            for fd in {out_r, err_r, self.req_w, self.resp_r} - {None}:
                os.close(fd)
            if self.ctl:
                self.ctl.close()
            if self.lease:
                self.lease.release()
            raise SandboxError(f"the sandbox worker could not be started ({argv[0]}: {exc})") from None
        finally:
            for fd in {req_r, resp_w, out_w, err_w}:
                os.close(fd)
            if ctl_child:
                ctl_child.close()
        box._live.add(self)
        keep, flood = limits.output_bytes, limits.flood_bytes
        self.out = Stream(out_r, self.marker, keep, flood, self._flood)
        self.err = Stream(err_r, self.marker, keep, flood, self._flood) if err_r else None
        # The watcher runs as long as the worker does: code a student left running between
        # calls (a thread, a child) is held to the limits too.
        threading.Thread(target=self._watch, daemon=True).start()
        self._await_ready()

    def _await_ready(self):
        """No student code runs before the worker says it is ready: failing here is ours."""
        try:
            ready = self.receive(replace(self.limits, wall_seconds=max(60, self.limits.wall_seconds)),
                                 "the worker's start-up")
            self.forks = bool(self.resident) and ready.get("forks") is True
            self.parked = self.forks
            self.resident = 1 if self.forks else 0
        except Failure as failure:
            self.close()
            output = stream_text(*self.out.rest())
            raise SandboxError(f"the sandbox worker failed to start ({failure.message}):\n{output}") from None
        # Only the harness's own processes exist yet: the worker is the Python among them, and
        # all of them go into the worker's cgroup before any student code can fork.
        tree = process_tree(self.proc.pid)
        self.pid = next((p for p in reversed(tree) if _argv0(p) == sys.executable), tree[-1])
        self.cpu_at_ready = self.last_cpu = cpu_seconds(self.pid)
        parent = cgroup_parent()[0] if self.box.enforcement == CGROUP else None
        if parent is not None:
            try:
                self.cgroup = Cgroup.make(parent, f"hw5-{os.path.basename(self.box.root)}-{self.pid}",
                                           self.limits.memory_mb << 20, self.limits.processes + 2 + self.resident)
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
            if self.parked:
                time.sleep(PARKED_POLL)
                if self.others():       # never seen: the worker left it alone; watched in full then
                    self.parked = False
                continue
            failure = self._check_tree()
            if failure is None and time.monotonic() > next_disk:
                next_disk = time.monotonic() + DISK_POLL
                failure = self._check_disk()
            if failure:
                self._stop(failure)
                return

    def _check_tree(self) -> Failure | None:
        limits, tree = self.limits, process_tree(self.proc.pid)
        if self.proc.poll() is not None:
            return None
        own = self._bwrap_own() + self.resident
        if len(tree) - own > limits.processes:
            return Failure("crashed", f"{self.task} started more than {limits.processes} "
                                       "processes (a fork bomb?) and was stopped")
        if self.pid:
            self.last_cpu = cpu_seconds(self.pid)
        failure = self._check_memory(tree) if self.cgroup is None else (
            self._memory_failure() if self.cgroup.oom_killed() else None)
        return failure or self._check_idle(tree)

    def _check_memory(self, tree) -> Failure | None:
        limits = self.limits
        tmpfs = tmpfs_bytes(tree[1]) if self.box.isolation == "bubblewrap" and len(tree) > 1 else 0
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
            if self.parked:
                time.sleep(PARKED_POLL)
                continue
            began = time.monotonic()
            self._memfd, self._unlinked = held_files(
                process_tree(self.proc.pid), shm_too=self.box.isolation != "bubblewrap", disk_dev=disk_dev,
                count_memory=self.cgroup is None)
            time.sleep(max(MEMFD_POLL, 10 * (time.monotonic() - began)))

    def _memory_failure(self) -> Failure:
        return Failure("memory", f"{self.task} used more than {self.limits.memory_mb} MB of "
                                  "memory and was stopped")

    def _check_idle(self, tree) -> Failure | None:
        """Between requests the worker waits: CPU spent then is code the student left running."""
        if self.busy:
            self._idle_cpu = None
            return None
        used = self.cgroup.cpu_seconds() if self.cgroup else sum(cpu_seconds(p, children=True) for p in tree)
        if self._idle_cpu is None:
            self._idle_cpu = used
        elif used - self._idle_cpu > IDLE_CPU and not self.busy:
            return Failure("crashed", f"code left running after {self.task} kept using CPU in the "
                                       f"background (more than {IDLE_CPU:g} s) and was stopped")
        return None

    def _check_disk(self) -> Failure | None:
        if self.box.disk_used() + self._unlinked > (self.limits.disk_mb << 20) + self.box.disk_at_start:
            return Failure("output", f"{self.task} wrote more than {self.limits.disk_mb} MB of "
                                      "files and was stopped")
        return None

    def _flood(self, what: str | None = None):
        self._stop(Failure("output", f"{self.task} {what or f'printed more than {self.limits.flood_bytes // 1_000_000} MB'}"
                                      " and was stopped"))

    def _stop(self, failure: Failure):
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
            self._kill(reversed(tree))
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
        if self.in_fork:
            self._leave_fork()
        for fd in (self.req_w, self.resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.ctl:
            self.ctl.close()
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
        self._write(request, time.monotonic() + limits.wall_seconds)

    def _write(self, obj, deadline: float):
        """One frame onto the request pipe, which the student's process can fill itself (it may
        reopen its end for writing): written as it drains, until the deadline."""
        for part in protocol.frame_parts(obj):
            data = memoryview(part).cast("B")
            while data:
                if self.verdict:
                    raise self._death()
                if time.monotonic() > deadline:
                    raise Failure("timeout", f"{self.task} took no request: the worker read nothing "
                                             f"for {self.limits.wall_seconds:g} s and was stopped")
                if _ready(self.req_w, select.POLLOUT, POLL):
                    try:
                        data = data[os.write(self.req_w, data):]
                    except BlockingIOError:
                        pass
                    except OSError:
                        raise self._death() from None

    def receive(self, limits: Limits, what: str) -> dict:
        """The worker's response; raises Failure, and on any error the worker is killed. The
        frame is the student's to forge (the response descriptor is theirs to find): its size
        and its header's are checked before either is read, the buffer is only touched as data
        arrives, and the header's depth before it is parsed (graders.sandbox.shipped.protocol)."""
        import numpy as np
        self.limits, self.task, self.busy = limits, what, True
        start = time.monotonic()
        try:
            (size,) = protocol.FRAME_HEADER.unpack(self._read(8, start))
            if size > (limits.memory_mb << 20) + (64 << 20) or size < 4:
                raise Failure("protocol", f"the worker sent a message of an impossible size ({size:,} bytes)")
            view = memoryview(np.empty(size, np.uint8))
            self._read_into(view[:4], start)
            protocol.check_header_length(int.from_bytes(view[:4], "big"))
            self._read_into(view[4:], start)
            response = protocol.decode(view)
            if not isinstance(response, dict) or "ok" not in response:
                raise Failure("protocol", "the worker sent a malformed response")
            return response
        except ProtocolError as exc:
            self.kill()
            raise Failure("protocol", f"the worker sent a malformed response: {exc}") from None
        except BaseException:
            self.kill()
            raise
        finally:
            self.busy = False

    # -- a forking measuring worker -----------------------------------------------------------
    def fork(self, limits: Limits, cpu_budget: float) -> bool:
        """Ask for a fresh measuring process, forked from this worker (which ran no student code),
        to serve the next requests, on pipes of its own, until end_fork. False, and the worker
        killed, when it is not idle or does not fork: the caller then measures in a new worker."""
        self.parked = False
        mine = []
        try:
            if not self.alive() or self.others() or _stopped(self.pid):
                raise Failure("protocol", "the measuring worker was not idle")
            _check_disk_left(self.box, limits)
            req_r, req_w = _pipe()
            mine += [req_r, req_w]
            resp_r, resp_w = _pipe()
            mine += [resp_r, resp_w]
            out_r, out_w = os.pipe()
            mine += [out_r, out_w]
            try:
                socket.send_fds(self.ctl, [json.dumps({"op": "fork", "cpu_budget": cpu_budget}).encode()],
                                [req_r, resp_w, out_w])
            finally:
                for fd in (req_r, resp_w, out_w):
                    os.close(fd)
                    mine.remove(fd)
            if self._ctl_answer(FORK_SECONDS).get("forked") is not True:
                raise Failure("protocol", "the measuring worker did not fork")
        except (Failure, OSError, ValueError):
            for fd in mine:
                os.close(fd)
            self.kill()
            return False
        os.set_blocking(req_w, False)
        self._home = (self.req_w, self.resp_r, self.out)
        self.req_w, self.resp_r = req_w, resp_r
        self.out = Stream(out_r, self.marker, limits.output_bytes, limits.flood_bytes, self._flood)
        self.in_fork = True
        return True

    def end_fork(self) -> bool:
        """End the forked measuring process and whatever it started; True when the worker is
        alone again (seen from outside) and idle, so that it may fork again."""
        self.busy = False
        try:
            try:        # a few bytes: written whole, or not at all when it reads no more
                os.write(self.req_w, END)
            except OSError:
                pass            # killed below
            ended = self._fork_ended(2)
            if ended is None:
                self._kill(self.others())
                ended = self._fork_ended(5)
            deadline = time.monotonic() + 5
            while ended is not None and (others := self.others()):
                if time.monotonic() > deadline:
                    return False
                self._kill(others)
                time.sleep(0.01)
            self.parked = (ended is not None and self.alive() and self.verdict is None
                           and not _stopped(self.pid))
            return self.parked
        finally:
            self._leave_fork()

    def _leave_fork(self):
        """Back to the worker's own channel; the forked process's pipes are closed here."""
        for fd in (self.req_w, self.resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.out.join(timeout=0.5)
        self.req_w, self.resp_r, self.out = self._home
        self.in_fork, self._home = False, None

    def _ctl_answer(self, seconds: float) -> dict:
        if not _ready(self.ctl.fileno(), select.POLLIN, seconds):
            raise Failure("protocol", "the measuring worker did not answer")
        data = self.ctl.recv(1 << 12)
        try:
            answer = json.loads(data) if data else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise Failure("protocol", "the measuring worker ended" if not data else "the measuring worker said nonsense")
        return answer

    def _fork_ended(self, seconds: float) -> dict | None:
        """The worker's word that its forked process ended (its signal or exit code), or None."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                answer = self._ctl_answer(left)
            except (Failure, OSError, ValueError):
                return None
            if answer.get("ended") is True:
                return answer
        return None

    def _fork_death(self) -> Failure | None:
        """Why the forked process died mid-request, as its worker saw it."""
        ended = self._fork_ended(2)
        if ended is None:
            return None
        sig, code = ended.get("signal"), ended.get("code")
        if sig == signal.SIGXCPU:
            return Failure("timeout", f"{self.task} used more than its CPU time "
                                      f"({self.limits.cpu_seconds:g} s) and was stopped")
        if type(sig) is int and sig in signal.Signals._value2member_map_:
            return Failure("crashed", f"the measuring process was killed by {signal.Signals(sig).name} "
                                      f"during {self.task}")
        return Failure("crashed", f"the measuring process exited (code {code}) during {self.task}; "
                                  "did the model's code call os._exit() or exit the interpreter?")

    def others(self) -> list[int]:
        """The processes of the tree besides bwrap's two and the worker itself."""
        return [p for p in process_tree(self.proc.pid)[self._bwrap_own():] if p != self.pid]

    def _bwrap_own(self) -> int:
        # bwrap adds two processes of its own (the outer one and the namespace's init)
        return 2 if self.box.isolation == "bubblewrap" else 0

    def _kill(self, pids):
        signal_tree(pids, self.proc.pid)

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
                raise Failure("timeout", f"{self.task} timed out after {self.limits.wall_seconds:g} s")
            if _ready(self.resp_r, select.POLLIN, POLL):
                k = os.readv(self.resp_r, [view[got:got + (1 << 20)]])
                if not k:
                    raise self._death()
                got += k

    def _death(self) -> Failure:
        """Why the worker is gone (it is killed for good measure)."""
        if self.in_fork and self.verdict is None and self.alive():
            failure = self._fork_death()
            if failure is not None:
                self.kill()
                return failure
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
            return Failure("timeout", f"{self.task} used more than its CPU time "
                                       f"({self.limits.cpu_seconds:g} s) and was stopped")
        if sig == signal.SIGKILL and self.pid and self.last_cpu >= self.cpu_at_ready + self.cpu_budget - 1:
            return Failure("timeout", f"{self.task} used up the worker's CPU time ({self.cpu_budget:g} s "
                                       "in all, a limit that cannot be raised) and was stopped")
        if sig in signal.Signals._value2member_map_:
            return Failure("crashed", f"the worker was killed by {signal.Signals(sig).name} "
                                       f"during {self.task}")
        return Failure("crashed", f"the worker process exited (code {code}) during {self.task}; "
                                   "did the code call os._exit() or exit the interpreter?")


def _ready(fd: int, event: int, seconds: float) -> bool:
    """Whether fd is ready for event (or closed at the other end) within seconds: poll, as a
    grading process may hold descriptors above select()'s 1024."""
    poller = select.poll()
    poller.register(fd, event)
    return bool(poller.poll(max(0, seconds) * 1000))


def _check_disk_left(box, limits: Limits):
    """Before a worker (or a fork) starts: the files the submission's code wrote earlier, over the
    limit, fail its request as the student's, never as a start-up of ours that failed."""
    if getattr(box, "disk_at_start", None) is not None and \
            box.disk_used() > (limits.disk_mb << 20) + box.disk_at_start:
        raise Failure("output", f"the files the submission's code wrote take more than {limits.disk_mb} MB, "
                                "so no worker was started")


def _stopped(pid: int | None) -> bool:
    """Whether the process is stopped (SIGSTOP, or traced): it would answer nothing."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError, TypeError):
        return True


def _argv0(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return None
