"""The sandboxed worker: runs student code and answers the trusted side with plain data.

Runs INSIDE the sandbox, as ``python -s -B worker.py CONFIG_JSON``.  The `graders` package is not
visible here: this file, a copy of protocol.py (as hw5sandbox_protocol) and the figure-capturing
matplotlib backend sit alone in a library folder.  Standard library and NumPy only.

Requests arrive as frames on a dedicated pipe (never stdin/stdout, which belong to the student's
prints).  Whatever the student does in this process can only change the data it sends back;
every verdict is decided on the trusted side.

Why one file this long: it ships into the sandbox alone with protocol.py, repairs and the torch
measurer, so what it needs must be in it; it imports nothing of graders/.
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
if CONFIG.get("offline_torch"):
    # stdlib only at import: torch is imported by the student's script, not here
    import hw5sandbox_offline_torch as offline_torch  # noqa: E402
if CONFIG.get("measure"):
    # a measuring worker imports torch before the student's folder can shadow it
    import hw5sandbox_torch_measure as torch_measure  # noqa: E402
    torch_measure.preload()
# Repairs (graders/sandbox/shipped/repairs.py): old library names, other machines' paths; installed in serve()
# before any student code runs, each kind only where the rubric allows it.
import hw5sandbox_repairs as repairs  # noqa: E402

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
    # limit forward for each call. The hard limit is the worker's whole budget, set at start-up
    # (and before, by the trusted side): in the sandbox's user namespace it can only go down.
    used = resource.getrusage(resource.RUSAGE_SELF)
    used = int(used.ru_utime + used.ru_stime)
    cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard and CONFIG.get("cpu_budget"):
        budget = used + int(CONFIG["cpu_budget"]) + 1
        cpu_hard = budget if cpu_hard == resource.RLIM_INFINITY else min(cpu_hard, budget)
    soft = used + int(limits["cpu"]) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (soft if cpu_hard == resource.RLIM_INFINITY else min(soft, cpu_hard),
                                             cpu_hard))


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if CONFIG.get("offline_torch"):
        # A PyTorch script that does not seed itself (most do not) would draw other initial
        # weights and batches at every grading, and the same submission must get the same grade.
        # Only torch sandboxes pay for the import, which the script itself makes anyway.
        try:
            import torch
        except ImportError:     # the script will say so itself
            return
        torch.manual_seed(seed)


def print_as_numpy_1():
    """NumPy 2 prints a scalar inside a list or tuple as np.str_('T') or np.float64(1.5); the
    scripts were written for NumPy 1, which printed 'T' and 1.5, and what a script prints is read
    as its answer (run_q4's text, the losses): print(chars) reads as the student saw it."""
    if int(np.__version__.split(".")[0]) >= 2:
        np.set_printoptions(legacy="1.25")


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
    tb = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) + "".join(
        traceback.format_exception_only(type(exc), exc))
    if len(tb) > 20000:
        # a RecursionError has a thousand frames: keep where it started and where it ended
        head, tail = tb[:8000].rsplit("\n", 1)[0], tb[-12000:].split("\n", 1)[-1]
        tb = f"{head}\n... {len(tb) - len(head) - len(tail)} characters of frames cut ...\n{tail}"
    return culprit, (text[:2000] + place), tb


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
    if req.get("float_images"):
        import skimage
        for i in req["float_images"]:
            args[i] = skimage.img_as_float(args[i])
    seed_everything(req["seed"])
    set_limits(req["limits"])
    state = {"args": args, "kwargs": kwargs} if req.get("return_args", True) else {}
    try:
        value = func(*args, **kwargs)
    except SystemExit as exc:
        return {"ok": False, "error": "crashed",
                "message": exit_message(exc, where, f"running {req['function']}")}
    except BaseException as exc:  # noqa: BLE001
        culprit, text, tb = describe(exc, where)
        return {"ok": False, "error": "exception", "message": f"{culprit} raised {text}", "traceback": tb,
                **state}
    return {"ok": True, "value": value, **state}


def written_files(patterns, before, max_bytes):
    """Files under WORK matching the patterns that the script created or changed."""
    found, total = {}, 0
    for rel, stamp in changed(patterns, before):
        path = os.path.join(WORK, rel)
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
    print_as_numpy_1()
    set_limits(req["limits"])
    module = types.ModuleType("__main__")
    module.__file__ = script
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    sys.argv = [req["script"]]
    response = {"ok": True}
    watch = ParamsWatch(req.get("skew_gradients")) if ParamsWatch.NAME in req["globals"] else None
    mains = MainLocals(module.__dict__)
    try:
        with open(script, "rb") as f:
            code = mains.compile(f.read(), script)
        if watch:
            watch.start()
        exec(code, module.__dict__)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            response = {"ok": False, "error": "exception",
                        "message": f"{req['script']} exited with sys.exit({exc.code!r})"}
    except BaseException as exc:  # noqa: BLE001
        culprit, text, tb = describe(exc, req["script"])
        response = {"ok": False, "error": "exception", "message": f"{culprit} raised {text}",
                    "traceback": tb}
    finally:
        if watch:
            watch.stop()
    namespace = mains.namespace()
    LAST_SCRIPT.update(namespace=namespace, name=req["script"])
    response["globals"] = {n: namespace[n] for n in req["globals"] if n in namespace}
    if watch:
        response["globals"][ParamsWatch.NAME] = watch.report(namespace)
        response["globals"][ParamsWatch.CALLS] = watch.backwards
    response["files"] = written_files(req["files"], before, req["max_file_bytes"])
    response["written"] = {rel: stamp[1] for rel, stamp in changed(req.get("written", ()), before)}
    response["figures"], response["figure_data"], response["figures_made"] = capture_figures(req)
    return response


class MainLocals:
    """The variables of a script written as `def main(): ...` and `if __name__ == '__main__': main()`:
    each of its own functions that its top level calls is compiled with its body in a
    try/finally that keeps its locals as it returns (normally or by an exception), the latest
    call's per function, so that what the handout names (params, x, y, a model, a projection) is
    found there as at the top level. Nothing else of the script changes, and nothing runs per call
    but that one assignment."""

    NAME = "__hw5_main_locals__"

    def __init__(self, module_globals):
        self.globals = module_globals

    def compile(self, source, script):
        import ast
        tree = ast.parse(source, script)        # a SyntaxError is the script's, as compile() gives it
        functions = {s.name: s for s in tree.body if isinstance(s, ast.FunctionDef)}
        called = {n.func.id for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  for n in ast.walk(s) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        if functions.keys() & called:
            self.globals[self.NAME] = {}
            for name in functions.keys() & called:
                function = functions[name]
                body = function.body
                doc = body[:1] if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                                   and isinstance(body[0].value.value, str)) else []
                keep = ast.parse(f"{self.NAME}[{name!r}] = locals()").body
                for node in keep:
                    ast.copy_location(node, function)
                function.body = doc + [ast.copy_location(ast.Try(body=body[len(doc):] or [ast.Pass()], handlers=[],
                                                                 orelse=[], finalbody=keep), function)]
            ast.fix_missing_locations(tree)
        return compile(tree, script, "exec")

    def namespace(self) -> dict:
        """The module's globals, and the names only a called function's locals hold."""
        kept = self.globals.get(self.NAME)
        merged = {}
        for names in (kept.values() if isinstance(kept, dict) else []):
            if isinstance(names, dict):
                merged.update(names)
        return {**merged, **self.globals} if merged else self.globals


class ParamsWatch:
    """The dicts a training script hands to its nn.py's initialize_weights, forward and backwards
    (its params), as they were used: Q5's momentum is judged from the run, not from the script's
    final variables, which may have been rebound (a reloaded pickle) before it ended. For each
    dict: its arrays at the end, the first value each array had, and its state when the last
    backwards call began (the last batch's caches, the weights before its update). The dicts
    among the script's final globals, and those its own objects hold, come too (momentum kept in a
    dict of its own, or in an optimizer object's). Untrusted
    like everything else here: the trusted side checks what it gets."""

    NAME = "__params_seen__"
    CALLS = "__backwards_calls__"      # how many calls of nn.py's backwards went through the watch
    WATCHED = ("initialize_weights", "forward", "backwards")
    MAX_DICTS, FIRST_CALLS, MAX_ARRAY, MAX_COPIED = 8, 400, 1 << 22, 1 << 28   # arrays: entries; copied: bytes
    # backwards calls after which the gradients' values are kept too: a checker run before
    # training writes between the first few, and may write into backwards' own arrays
    FIRST_BACKWARDS = 16

    def __init__(self, skew=None):
        self.seen, self.first, self.at_backward, self.calls, self.copied, self.backwards = {}, {}, {}, 0, 0, 0
        # Q2.5's probe: every gradient backwards writes is multiplied by this, so that a checker
        # that copies backwards' gradients shows it (one that differentiates the loss is unmoved)
        self.skew = float(skew) if skew is not None else None
        self.real_import = None
        # Q2.5's check before training: per dict, the gradients its last backwards stored (held,
        # so no id is reused; with copies of their values in the first FIRST_BACKWARDS calls), and
        # a copy of its arrays at the first backwards call that found gradients the script wrote
        # in between, as new arrays or into the old ones (a gradient checker's, before training
        # overwrites them)
        self.made, self.written = {}, {}

    def start(self):
        import builtins
        import functools
        self.wraps = functools.wraps
        self.real_import = builtins.__import__
        builtins.__import__ = self.importing

    def stop(self):
        import builtins
        if self.real_import is not None:
            builtins.__import__ = self.real_import

    def importing(self, name, *args, **kwargs):
        module = self.real_import(name, *args, **kwargs)
        nn = sys.modules.get("nn")
        if nn is not None and os.path.abspath(getattr(nn, "__file__", None) or "").startswith(WORK + os.sep):
            for fname in self.WATCHED:
                func = getattr(nn, fname, None)
                if callable(func) and not getattr(func, "_hw5_watched", False):
                    setattr(nn, fname, self.wrap(fname, func))
        return module

    def wrap(self, fname, func):
        @self.wraps(func)
        def watched(*args, **kwargs):
            self.note(fname, args, kwargs)
            before = self.gradients_of(args, kwargs) if fname == "backwards" and self.skew is not None else None
            result = func(*args, **kwargs)
            if before is not None:
                self.skew_written(before)
            if fname == "backwards":
                self.backwards += 1
                keep = self.backwards <= self.FIRST_BACKWARDS
                for d in (*args, *kwargs.values()):
                    if isinstance(d, dict) and id(d) in self.seen:
                        self.made[id(d)] = {k: (v, v.copy() if keep and isinstance(v, np.ndarray) else None)
                                            for k, v in d.items() if str(k).startswith("grad_")}
            return result
        watched._hw5_watched = True
        del watched.__wrapped__         # functools.wraps' way back to the unwatched function
        return watched

    @staticmethod
    def gradients_of(args, kwargs):
        return [(d, {k: (v, v.copy()) for k, v in d.items() if str(k).startswith("grad_") and isinstance(v, np.ndarray)})
                for d in (*args, *kwargs.values()) if isinstance(d, dict)]

    def skew_written(self, before):
        """Multiply the gradients this backwards call wrote (new arrays, or old ones changed) by the skew."""
        for d, old in before:
            for k, v in list(d.items()):
                if not (str(k).startswith("grad_") and isinstance(v, np.ndarray) and v.dtype.kind == "f"):
                    continue
                prev = old.get(k)
                if prev is not None and prev[0] is v and np.array_equal(prev[1], v):
                    continue
                try:
                    v *= self.skew
                except (ValueError, TypeError):        # read-only: a new array in its place
                    d[k] = v * self.skew

    def note(self, fname, args, kwargs):
        self.calls += 1
        for d in (*args, *kwargs.values()):
            if not isinstance(d, dict):
                continue
            if id(d) not in self.seen:
                if len(self.seen) >= self.MAX_DICTS:
                    continue
                self.seen[id(d)], self.first[id(d)] = d, {}
            if self.calls <= self.FIRST_CALLS:
                first = self.first[id(d)]
                for k, v in list(d.items()):
                    if (isinstance(v, np.ndarray) and k not in first and v.size <= self.MAX_ARRAY
                            and self.copied + v.nbytes <= self.MAX_COPIED):
                        first[k] = v.copy()
                        self.copied += v.nbytes
            if fname == "backwards":
                self.at_backward[id(d)] = dict(d)
                self.note_written(d)

    def note_written(self, d):
        made = self.made.get(id(d))
        if made is None or id(d) in self.written or all(
                self.unchanged(made.get(k), v) for k, v in d.items() if str(k).startswith("grad_")):
            return
        copies = {}
        for k, v in d.items():
            if (isinstance(v, np.ndarray) and not str(k).startswith("cache_") and v.size <= self.MAX_ARRAY
                    and self.copied + v.nbytes <= self.MAX_COPIED):
                copies[k] = v.copy()
                self.copied += v.nbytes
        self.written[id(d)] = copies

    @staticmethod
    def unchanged(made, value) -> bool:
        """Whether a gradient is still the one backwards made (made: its array and a copy of its values, or None)."""
        if made is None or made[0] is not value:
            return False
        kept = made[1]
        return kept is None or np.array_equal(kept, value, equal_nan=kept.dtype.kind in "fc")

    def report(self, namespace):
        """The dict still bound to `params` crosses once, as that global (is_params)."""
        def arrays(d):
            return {k: v for k, v in d.items() if isinstance(v, np.ndarray) or (
                isinstance(v, tuple) and all(isinstance(a, np.ndarray) for a in v))}
        params = namespace.get("params")
        seen = [{"final": None if d is params else arrays(d), "is_params": d is params, "first": self.first[i],
                 "at_last_backwards": arrays(self.at_backward.get(i, {})), "passed_to_nn": True,
                 "written_before_backwards": self.written.get(i, {})}
                for i, d in self.seen.items()]
        listed = set(self.seen)
        for name, d in self.global_dicts(namespace):
            # not loadmat's dicts (their '__header__'), which hold the course data
            if (id(d) not in listed and len(seen) < 2 * self.MAX_DICTS
                    and not name.startswith("__") and any(isinstance(v, np.ndarray) for v in d.values())
                    and not any(str(k).startswith("__") for k in d)
                    and sum(v.nbytes for v in d.values() if isinstance(v, np.ndarray)) <= 8 * self.MAX_ARRAY):
                listed.add(id(d))
                seen.append({"final": arrays(d), "first": {}, "at_last_backwards": {}, "global": name})
        return seen

    @staticmethod
    def global_dicts(namespace):
        """(name, dict) for the script's global dicts, then the dicts held by its objects of a class
        the submission defined, in the script or a module of its own (an optimizer object keeping
        its velocities: opt.velocity)."""
        own = namespace.get("__name__")

        def submitted(cls) -> bool:
            path = getattr(sys.modules.get(cls.__module__), "__file__", None) or ""
            return cls.__module__ == own or os.path.abspath(path).startswith(WORK + os.sep)

        found = [(name, d) for name, d in list(namespace.items()) if isinstance(d, dict)]
        for name, obj in list(namespace.items()):
            try:
                if submitted(type(obj)) and not isinstance(obj, (type, types.FunctionType)):
                    found += [(f"{name}.{attr}", d) for attr, d in list(vars(obj).items())
                              if isinstance(d, dict) and not str(attr).startswith("__")]
            except Exception:  # noqa: BLE001 - an object with no plain __dict__ holds nothing to read
                continue
        return found


def changed(patterns, before):
    """(path relative to WORK, stamp) of the files matching the patterns the script wrote."""
    for path, stamp in sorted(snapshot().items()):
        rel = os.path.relpath(path, WORK)
        if before.get(path) != stamp and any(fnmatch.fnmatch(rel, p) for p in patterns):
            yield rel, stamp


def capture_figures(req):
    if "matplotlib.pyplot" not in sys.modules:
        return [], [], 0
    import hw5sandbox_capture_backend as backend
    backend.capture_open()
    return backend.CAPTURED[:req["max_figures"]], backend.FIGURE_DATA[:req["max_figures"]], backend.MADE[0]


# ---------------------------------------------------------------------------------------------
# Follow-ups (graders/sandbox/shipped/torch_measure.py, here hw5sandbox_torch_measure): the worker that ran a
# script answers only about what the script left (its models pickled, its array variables); a
# fresh measuring worker (CONFIG["measure"], started by Sandbox.measure) that ran no script
# rebuilds the saved models and predicts. Neither answer is believed: the trusted side scores.

LAST_SCRIPT = {}            # namespace and name of the last script run in this worker


def follow_up(req):
    import hw5sandbox_torch_measure as torch_measure
    if req.get("op") not in torch_measure.OPS:      # the follow-ups' one table
        return {"ok": False, "error": "protocol", "message": f"unknown op {req.get('op')!r}"}
    needs, answer = torch_measure.OPS[req["op"]]
    if needs == "script" and not LAST_SCRIPT:
        return {"ok": False, "error": "protocol", "message": f"{req['op']} needs a script run first"}
    if needs == "measure" and not CONFIG.get("measure"):
        return {"ok": False, "error": "protocol", "message": f"{req['op']} is answered by a measuring worker only"}
    seed_everything(req.get("seed", 0))
    set_limits(req["limits"])
    try:
        return {"ok": True, "value": answer(req, LAST_SCRIPT, WORK)}
    except torch_measure.Refusal as refusal:
        return {"ok": False, "error": "refused", "message": refusal.message, "value": {"reason": refusal.reason}}
    except ImportError as exc:
        return {"ok": False, "error": "refused", "message": f"PyTorch is not usable here ({torch_measure.first_line(exc)})",
                "value": {"reason": "no_torch"}}
    except BaseException as exc:  # noqa: BLE001 -- the student's model failed
        culprit, text, tb = describe(exc, LAST_SCRIPT.get("name") or req.get("script") or "the script")
        return {"ok": False, "error": "exception", "message": f"{culprit} raised {text}", "traceback": tb}


def serve():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # too-large writes raise OSError instead
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    set_limits(CONFIG["limits"], hard=True)
    os.chdir(WORK)
    if CONFIG.get("offline_torch"):
        offline_torch.install(CONFIG["offline_torch"])
    if CONFIG.get("repairs") is not None:
        repairs.install(WORK, CONFIG["repairs"]["allowed"], os.path.join(os.path.dirname(WORK), "data"),
                        CONFIG["repairs"].get("aliases"))
    forks = CONFIG.get("ctl_fd") is not None and not_dumpable()
    protocol.write_frame(RESP, {"ok": True, "ready": True, "forks": bool(forks)})
    # returns in each forked measuring process, with its first request
    req = serve_forks() if forks else next_request()
    # A spare worker (graders.sandbox.sandbox.keep_spares) is started before the submission is copied
    # in, which happens before its first request: what the import system listed of the folder
    # until now may miss the student's files.
    importlib.invalidate_caches()
    while True:
        op = req.get("op")
        if op in ("call", "script") and CONFIG.get("measure"):
            response = {"ok": False, "error": "protocol", "message": f"a measuring worker answers no {op}"}
        elif op == "call":
            response = do_call(req)
        elif op == "script":
            response = do_script(req)
        elif op == "ping":
            response = {"ok": True}
        elif op == "end" and CONFIG.get("ctl_fd") is not None:
            os._exit(0)             # a forked measuring process's last request
        else:
            response = follow_up(req)
        flush_marker()
        response["id"] = req.get("id")
        response["repairs"] = repairs.drain()     # what fired during this request
        try:
            protocol.write_frame(RESP, response, ref_of=ref_of)
        except Exception as exc:  # noqa: BLE001 -- e.g. a value whose encoding failed
            protocol.write_frame(RESP, {"id": req.get("id"), "ok": False, "error": "protocol",
                                        "message": f"the result could not be sent back: {exc}"})
        req = next_request()


def not_dumpable() -> bool:
    """PR_SET_DUMPABLE 0: with no capabilities in the sandbox, no process of it (a forked child
    that ran a student's class) may then read or write this one's memory (/proc/PID/mem, ptrace).
    Also PR_SET_CHILD_SUBREAPER, so what a child leaves behind is this process's to reap."""
    import ctypes
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        if prctl(4, 0, 0, 0, 0) != 0:
            return False
        prctl(36, 1, 0, 0, 0)
        return True
    except (OSError, AttributeError):
        return False


def serve_forks() -> dict:
    """A measuring worker that answers nothing itself: it forks, from this process that has
    imported PyTorch and run no student code, one child per Sandbox.measure(), which serves that
    call's measuring requests and ends at its "end" request. Returns, in the child, the child's
    first request.

    Fork requests come on a control socket that no child keeps (each closes it before anything
    else), each with the child's own request, response and output pipes (SCM_RIGHTS): what a
    child can reach of its channels (its own descriptors, /proc/self/fd) is its own, never this
    process's. This process says on the control socket when it forked and how each child ended;
    the trusted side confirms from outside that everything a child started is gone before it
    asks for the next."""
    import socket
    ctl = socket.socket(fileno=CONFIG["ctl_fd"])
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 12, 3)
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)         # the trusted side closed the socket
        try:
            req = json.loads(message)
            budget = int(req["cpu_budget"]) + 1
            if req.get("op") != "fork" or len(fds) != 3:
                raise ValueError("not a fork request with three pipes")
            pid = os.fork()
        except (ValueError, KeyError, TypeError, OverflowError, OSError) as exc:
            for fd in fds:
                os.close(fd)
            ctl.send(json.dumps({"forked": False, "message": str(exc)[:200]}).encode())
            continue
        if pid == 0:
            global REQ, RESP
            ctl.close()
            # The pipes keep the numbers they came with: RLIMIT_NOFILE, set since, refuses the
            # high ones the worker's own channel took at start-up.
            os.close(REQ)
            os.close(RESP)
            REQ, RESP, output = fds
            os.set_inheritable(REQ, False)
            os.set_inheritable(RESP, False)
            os.dup2(output, 1)
            os.dup2(output, 2)
            os.close(output)
            soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
            if hard == resource.RLIM_INFINITY or budget < hard:
                resource.setrlimit(resource.RLIMIT_CPU, (min(soft, budget), budget))
            return next_request()
        for fd in fds:
            os.close(fd)
        ctl.send(json.dumps({"forked": True}).encode())
        status = reaped(pid)
        alone()
        ctl.send(json.dumps({"ended": True, "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                             "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}).encode())


def reaped(pid: int) -> int:
    """The forked process's end. One that made this process its tracer (PTRACE_TRACEME) reports
    its stops here too: it is killed then."""
    while True:
        status = os.waitpid(pid, 0)[1]
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            return status
        os.kill(pid, signal.SIGKILL)


def alone():
    """Every other process of the sandbox's PID namespace killed and reaped, bwrap's init (pid 1)
    aside: what a measurement started ends before its end is told (the trusted side looks again
    from outside)."""
    import time
    for _ in range(500):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]:
            return
        time.sleep(0.01)


def next_request() -> dict:
    """The next request; the worker ends when the grader closes the channel."""
    try:
        return protocol.read_frame(REQ, make_ref=resolve_lazy)
    except EOFError:
        os._exit(0)


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
