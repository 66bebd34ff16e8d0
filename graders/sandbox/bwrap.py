"""Bubblewrap: where it is, whether it can run here, and the arguments of a worker's sandbox."""
from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The checkout (reference/, tests/) when running from one; an installed copy has none.
REPO = HERE.parents[1] if (HERE.parents[1] / "pyproject.toml").is_file() else None
# The few /etc files Python, the dynamic loader and matplotlib's fonts need.
ETC_ALLOW = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "alternatives",
             "passwd", "group", "nsswitch.conf", "mime.types")



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
            [*bwrap_base(), *system_binds(), sys.executable, "-c", "pass"],
            capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap failed to start: {exc}"
    if done.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {done.stderr.decode(errors='replace').strip()}"
    return None


def nobody() -> tuple[int, int]:
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
    others may read (graders.staff.gradescope_bundle.lock_secrets makes the secrets root's alone)."""
    if os.geteuid() != 0:
        return "the grader does not run as root, so it cannot run code as another user"
    uid, gid = nobody()
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


def bwrap_base(shm_bytes: int = 64 << 20) -> list[str]:
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


def system_dirs() -> list[str]:
    """Folders shown read-only at their own paths: the system and the Python installation."""
    tops = [p for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
            if os.path.isdir(p) and not os.path.islink(p)]
    return tops + [r for r in python_roots() if not any(Path(t) in Path(r).parents for t in tops)]


def system_binds() -> list[str]:
    args = []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):           # merged-/usr systems: /bin -> usr/bin
            args += ["--symlink", os.readlink(top), top]
    for path in system_dirs():
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


def hidden_masks(bound: list[str]) -> list[str]:
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
