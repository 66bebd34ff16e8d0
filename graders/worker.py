"""The sandboxed worker: runs student code and answers the trusted side with plain data.

Runs INSIDE the sandbox, as ``python -s -B worker.py CONFIG_JSON``.  The `graders` package is not
visible here: this file, a copy of protocol.py (as hw5sandbox_protocol) and the figure-capturing
matplotlib backend sit alone in a library folder.  Standard library and NumPy only.

Requests arrive as frames on a dedicated pipe (never stdin/stdout, which belong to the student's
prints).  Whatever the student does in this process can only change the data it sends back;
every verdict is decided on the trusted side.
"""
import fnmatch
import importlib
import json
import os
import random
import resource
import signal
import sys
import traceback
import types

CONFIG = json.loads(sys.argv[1])
LIB = os.path.dirname(os.path.abspath(__file__))
WORK = CONFIG["work"]          # the private copy of the submission's python/ folder

# The worker's own imports come first, so a student's numpy.py cannot replace them; then the
# student's folder leads sys.path (as for `python run_q3.py`) and the library folder goes last.
import numpy as np  # noqa: E402
import hw5sandbox_protocol as protocol  # noqa: E402

sys.path[:] = [WORK] + [p for p in sys.path if os.path.abspath(p or ".") != LIB] + [LIB]

# The channel is moved to high descriptors and hidden from child processes, so a student's
# subprocess does not inherit it and low-numbered fds the student opens cannot collide with it.
REQ = os.dup2(CONFIG["req_fd"], 1000)
RESP = os.dup2(CONFIG["resp_fd"], 1001)
for fd in {CONFIG["req_fd"], CONFIG["resp_fd"]}:
    os.close(fd)
os.set_inheritable(REQ, False)
os.set_inheritable(RESP, False)
MARKER = CONFIG["marker"].encode()
# stdout and stderr share one pipe for calls (as in a terminal); a marker goes once per pipe.
MARKED_FDS = (1,) if os.path.sameopenfile(1, 2) else (1, 2)

_resolved: dict[int, protocol.Ref] = {}     # id(function) -> the Ref it came from


def set_limits(limits, hard=False):
    """Apply the limits; hard=True at start-up, so student code cannot raise them again."""
    values = {resource.RLIMIT_FSIZE: limits["file_size"], resource.RLIMIT_NOFILE: limits["open_files"]}
    if limits.get("processes"):
        values[resource.RLIMIT_NPROC] = limits["processes"]
    for which, value in values.items():
        old_hard = resource.getrlimit(which)[1]
        if old_hard != resource.RLIM_INFINITY:
            value = min(value, old_hard)
        resource.setrlimit(which, (value, value if hard else old_hard))
    # RLIMIT_CPU counts the whole life of the process, so a persistent worker moves the soft
    # limit forward for each call; the wall clock watched outside is the hard backstop.
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    resource.setrlimit(resource.RLIMIT_CPU, (int(used.ru_utime + used.ru_stime + limits["cpu"]) + 1, cpu_hard))


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2**32)


def resolve(module, name):
    func = getattr(importlib.import_module(module), name)
    _resolved[id(func)] = protocol.Ref(module, name)
    return func


def ref_of(obj):
    return _resolved.get(id(obj)) if callable(obj) else None


def student_frames(tb):
    frames = [f for f in traceback.extract_tb(tb) if f.filename.startswith(WORK + os.sep)]
    for f in frames:
        f.filename = os.path.relpath(f.filename, WORK)
    return frames


def describe(exc, where):
    """(sentence, traceback) for the student: their frames only, in their terms."""
    frames = student_frames(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename and exc.filename.startswith(WORK):
        exc.filename = os.path.relpath(exc.filename, WORK)
    text = traceback.format_exception_only(type(exc), exc)[-1].strip()
    if isinstance(exc, SyntaxError):
        place = f" ({exc.filename}, line {exc.lineno})"
    elif frames:
        place = f" ({frames[-1].filename}, line {frames[-1].lineno}, in {frames[-1].name})"
    else:
        place = ""
    culprit = os.path.basename(frames[-1].filename) if frames else where
    tb = "".join(traceback.format_list(frames)) + "".join(
        traceback.format_exception_only(type(exc), exc))
    return culprit, (text[:2000] + place), tb[-20000:]


def exit_message(exc, where, while_):
    return f"{where} called sys.exit({exc.code!r}) while {while_}"


def import_student(module):
    """Import a submission module; returns an error response or None."""
    where = module.replace(".", "/") + ".py"
    missing = {"ok": False, "error": "import", "message": f"{where} was not found in the submission"}
    if module not in sys.modules:
        try:
            importlib.import_module(module)
        except SystemExit as exc:
            return {"ok": False, "error": "crashed", "message": exit_message(exc, where, "being imported")}
        except ModuleNotFoundError as exc:
            if exc.name == module:
                return missing
            _, text, tb = describe(exc, where)
            return {"ok": False, "error": "import", "message": f"{where} could not be imported: {text}",
                    "traceback": tb}
        except BaseException as exc:  # noqa: BLE001 -- anything at import is the student's error
            _, text, tb = describe(exc, where)
            return {"ok": False, "error": "import", "message": f"{where} could not be imported: {text}",
                    "traceback": tb}
    return None


def flush_marker():
    """End of a call's output: everything the student printed is before this marker."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:   # a student may have replaced or closed the streams
            pass
    for fd in MARKED_FDS:
        try:
            os.write(fd, MARKER)
        except OSError:
            pass


def do_call(req):
    where = req["module"].replace(".", "/") + ".py"
    for module in [req["module"]] + [ref.module for ref in pending_refs(req)]:
        failure = import_student(module)
        if failure:
            return failure
    func = getattr(sys.modules[req["module"]], req["function"], None)
    if not callable(func):
        return {"ok": False, "error": "exception", "message": f"{where} has no function {req['function']}"}
    try:
        args, kwargs = materialize(req["args"]), materialize(req["kwargs"])
    except AttributeError as exc:
        return {"ok": False, "error": "exception", "message": f"an argument names a missing function: {exc}"}
    seed_everything(req["seed"])
    set_limits(req["limits"])
    try:
        value = func(*args, **kwargs)
    except SystemExit as exc:
        return {"ok": False, "error": "crashed",
                "message": exit_message(exc, where, f"running {req['function']}")}
    except BaseException as exc:  # noqa: BLE001
        culprit, text, tb = describe(exc, where)
        return {"ok": False, "error": "exception", "message": f"{culprit} raised {text}", "traceback": tb,
                "args": args, "kwargs": kwargs}
    return {"ok": True, "value": value, "args": args, "kwargs": kwargs}


def written_files(patterns, before, max_bytes):
    """Files under WORK matching the patterns that the script created or changed."""
    found, total = {}, 0
    for path, stamp in sorted(snapshot().items()):
        rel = os.path.relpath(path, WORK)
        if before.get(path) == stamp or not any(fnmatch.fnmatch(rel, p) for p in patterns):
            continue
        if total + stamp[1] > max_bytes:
            found[rel] = {"__unsupported__": "file too large", "size": stamp[1]}
            continue
        with open(path, "rb") as f:
            found[rel] = f.read(max_bytes - total)
        total += len(found[rel])
    return found


def snapshot():
    stamps = {}
    for root, dirs, names in os.walk(WORK):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            stamps[path] = (st.st_mtime_ns, st.st_size)
    return stamps


def do_script(req):
    script = os.path.join(WORK, req["script"])
    if not os.path.isfile(script):
        return {"ok": False, "error": "import", "message": f"{req['script']} was not found in the submission"}
    before = snapshot()
    seed_everything(req["seed"])
    set_limits(req["limits"])
    module = types.ModuleType("__main__")
    module.__file__ = script
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    sys.argv = [req["script"]]
    response = {"ok": True}
    try:
        with open(script, "rb") as f:
            code = compile(f.read(), script, "exec")
        exec(code, module.__dict__)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            response = {"ok": False, "error": "exception",
                        "message": f"{req['script']} exited with sys.exit({exc.code!r})"}
    except BaseException as exc:  # noqa: BLE001
        culprit, text, tb = describe(exc, req["script"])
        response = {"ok": False, "error": "exception", "message": f"{culprit} raised {text}",
                    "traceback": tb}
    response["globals"] = {n: module.__dict__[n] for n in req["globals"] if n in module.__dict__}
    response["files"] = written_files(req["files"], before, req["max_file_bytes"])
    response["figures"] = capture_figures(req)
    return response


def capture_figures(req):
    if "matplotlib.pyplot" not in sys.modules:
        return []
    import hw5sandbox_mplbackend as backend
    backend.capture_open()
    return backend.CAPTURED[:req["max_figures"]]


def serve():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # too-large writes raise OSError instead
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    set_limits(CONFIG["limits"], hard=True)
    os.chdir(WORK)
    protocol.write_frame(RESP, {"ok": True, "ready": True})
    while True:
        try:
            req = protocol.read_frame(REQ, make_ref=resolve_lazy)
        except EOFError:
            os._exit(0)
        op = req.get("op")
        if op == "call":
            response = do_call(req)
        elif op == "script":
            response = do_script(req)
        elif op == "ping":
            response = {"ok": True}
        else:
            response = {"ok": False, "error": "protocol", "message": f"unknown op {op!r}"}
        flush_marker()
        response["id"] = req.get("id")
        try:
            protocol.write_frame(RESP, response, ref_of=ref_of)
        except Exception as exc:  # noqa: BLE001 -- e.g. a value whose encoding failed
            protocol.write_frame(RESP, {"id": req.get("id"), "ok": False, "error": "protocol",
                                        "message": f"the result could not be sent back: {exc}"})


class _Pending:
    """A Ref read off the wire; resolved once the module can be imported in order."""

    def __init__(self, module, name):
        self.module, self.name = module, name


def resolve_lazy(module, name):
    return _Pending(module, name)


def pending_refs(obj):
    if isinstance(obj, _Pending):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from pending_refs(v)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from pending_refs(v)


def materialize(obj):
    if isinstance(obj, _Pending):
        return resolve(obj.module, obj.name)
    if isinstance(obj, list):
        return [materialize(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(materialize(v) for v in obj)
    if isinstance(obj, dict):
        return {k: materialize(v) for k, v in obj.items()}
    return obj


if __name__ == "__main__":
    serve()
