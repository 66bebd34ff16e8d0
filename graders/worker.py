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
if CONFIG.get("offline_torch"):
    # stdlib only at import: torch is imported by the student's script, not here
    import hw5sandbox_offline_torch as offline_torch  # noqa: E402

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
    if CONFIG.get("offline_torch"):
        # A PyTorch script that does not seed itself (most do not) would draw other initial
        # weights and batches at every grading, and the same submission must get the same grade.
        # Only torch sandboxes pay for the import, which the script itself makes anyway.
        try:
            import torch
        except ImportError:     # the script will say so itself
            return
        torch.manual_seed(seed)


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
    LAST_SCRIPT.update(namespace=module.__dict__, name=req["script"])
    response["globals"] = {n: module.__dict__[n] for n in req["globals"] if n in module.__dict__}
    response["files"] = written_files(req["files"], before, req["max_file_bytes"])
    response["written"] = {rel: stamp[1] for rel, stamp in changed(req.get("written", ()), before)}
    response["figures"], response["figure_data"] = capture_figures(req)
    return response


def changed(patterns, before):
    """(path relative to WORK, stamp) of the files matching the patterns the script wrote."""
    for path, stamp in sorted(snapshot().items()):
        rel = os.path.relpath(path, WORK)
        if before.get(path) != stamp and any(fnmatch.fnmatch(rel, p) for p in patterns):
            yield rel, stamp


def capture_figures(req):
    if "matplotlib.pyplot" not in sys.modules:
        return [], []
    import hw5sandbox_mplbackend as backend
    backend.capture_open()
    return backend.CAPTURED[:req["max_figures"]], backend.FIGURE_DATA[:req["max_figures"]]


# ---------------------------------------------------------------------------------------------
# PyTorch follow-ups (Q6): after a script, the trusted side asks this worker, where the script's
# variables still live, to measure the model file the script saved. The file is read with
# PyTorch's weights-only loader (never a free unpickling), loaded into the script's own model,
# and only predicted class indices go back; the labels stay on the trusted side.

LAST_SCRIPT = {}            # namespace and name of the last script run in this worker
PREDICT_BATCH = 64
MAX_CANDIDATES = 10
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


class Refusal(Exception):
    """A follow-up that cannot be answered because of what the script did (said to the student)."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason, self.message = reason, message


def first_line(exc):
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def load_state(name):
    """The saved file as a state_dict (names -> tensors), read without unpickling objects."""
    import torch
    how = f"torch.save(model.state_dict(), {name!r})"
    path = os.path.join(WORK, name)
    if not os.path.isfile(path):
        raise Refusal("missing", f"{name} does not exist after {LAST_SCRIPT.get('name', 'the script')} ran")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- a whole pickled model is refused here, unread
        why = ("it holds pickled Python objects, such as a whole model saved with torch.save(model)"
               if "weights only" in str(exc).lower() else first_line(exc))
        raise Refusal("not_state_dict", f"{name} could not be read as a state_dict: PyTorch's "
                      f"weights-only loader refused it ({why}). Save the weights, not the "
                      f"whole model: {how}") from None
    if not (isinstance(state, dict) and state and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        shown = (f"a dict with keys {', '.join(map(repr, list(state)[:5]))}" if isinstance(state, dict)
                 else f"a {type(state).__name__}")
        raise Refusal("not_state_dict", f"{name} holds {shown}, not a model's state_dict "
                      f"(parameter names -> tensors). Save it with {how}")
    return state


def shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


def models_in(namespace):
    """(name, module) for every torch.nn.Module among the script's variables (one level into
    lists, tuples and dicts), each module once."""
    import torch
    found = {}
    for name, value in list(namespace.items()):
        if name.startswith("__"):
            continue
        pairs = [(name, value)]
        if isinstance(value, (list, tuple)):
            pairs += [(f"{name}[{i}]", v) for i, v in enumerate(value[:50])]
        elif isinstance(value, dict):
            pairs += [(f"{name}[{k!r}]", v) for k, v in list(value.items())[:50]]
        for label, obj in pairs:
            if isinstance(obj, torch.nn.Module) and id(obj) not in found:
                found[id(obj)] = (label, obj)
    return list(found.values())


def matching_model(state, file_name):
    want = shapes(state)
    found = models_in(LAST_SCRIPT.get("namespace", {}))
    seen = []
    for label, model in found:
        try:
            have = shapes(model.state_dict())
        except Exception:  # noqa: BLE001 -- a module whose state_dict fails matches nothing
            continue
        if have == want:
            return label, model
        seen.append(f"{label} ({type(model).__name__}, {len(have)} tensors)")
    saved = ", ".join(f"{k} {list(v)}" for k, v in list(want.items())[:4])
    script = LAST_SCRIPT.get("name", "the script")
    where = (f"the models among its variables are {'; '.join(seen[:8])}" if seen
             else "it left no torch.nn.Module in a global variable")
    raise Refusal("no_model", f"no model of {script} has the tensors saved in {file_name} "
                  f"({len(want)} tensors: {saved}{', ...' if len(want) > 4 else ''}); {where}. Save the "
                  "state_dict of the model the script trains, and keep that model in a variable of the script")


def describe_model(label, model):
    return {"name": label, "type": type(model).__name__,
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "repr": repr(model)[:3000]}


def nist_candidates(x):
    """The held-out NIST rows as a model may expect them (rows as stored in the .mat files)."""
    import torch
    rows = torch.from_numpy(np.ascontiguousarray(x))
    n = rows.shape[0]
    return [("rows (N, 1024)", lambda i, j: rows[i:j]),
            ("images (N, 1, 32, 32)", lambda i, j: rows[i:j].reshape(-1, 1, 32, 32)),
            ("images (N, 1, 32, 32), transposed", lambda i, j: rows[i:j].reshape(-1, 1, 32, 32).transpose(2, 3)),
            ], n


def transforms_in(namespace):
    """(where, transform) for the torchvision transforms the script made: its Compose objects
    and the transform of its datasets and data loaders."""
    found = {}

    def attr(obj, name):
        try:
            return getattr(obj, name, None)
        except Exception:  # noqa: BLE001
            return None

    def add(where, t):
        if t is not None and callable(t) and not isinstance(t, type) and id(t) not in found:
            found[id(t)] = (where, t)

    for name, value in list(namespace.items()):
        if name.startswith("_") or isinstance(value, (types.ModuleType, type)):
            continue
        if (type(value).__module__ or "").startswith("torchvision.transforms"):
            add(name, value)
        dataset = attr(value, "dataset")
        for where, obj in ((name, value), (f"{name}.dataset", dataset),
                           (f"{name}.dataset.dataset", attr(dataset, "dataset"))):
            if obj is not None and not isinstance(obj, (types.ModuleType, type)):
                add(f"{where}.transform", attr(obj, "transform"))
    return list(found.values())


def image_candidates(x, namespace):
    """Held-out images (uint8, N x H x W x 3) through each transform the script made; then, if
    none of those suits the model, the usual ToTensor / Normalize choices. Each candidate is
    (name, batch maker on PIL images, batch maker on arrays)."""
    import torch
    from PIL import Image
    from torchvision import transforms as T
    fallbacks = [("ToTensor()", T.ToTensor()),
                 ("ToTensor() + Normalize(0.5, 0.5)", T.Compose([T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])),
                 ("ToTensor() + Normalize(ImageNet mean, std)", T.Compose([T.ToTensor(), T.Normalize(*IMAGENET)]))]
    pictures = [Image.fromarray(np.ascontiguousarray(img)) for img in x]

    def through(transform, as_array):
        def batch(i, j):
            items = [transform(np.asarray(p) if as_array else p) for p in pictures[i:j]]
            if not all(isinstance(t, torch.Tensor) for t in items):
                raise TypeError(f"the transform returns {type(items[0]).__name__}, not a tensor")
            return torch.stack(items)
        return batch

    rounds = (transforms_in(namespace)[:MAX_CANDIDATES], fallbacks)
    return [[(where, through(t, False), through(t, True)) for where, t in r] for r in rounds], len(pictures)


def predict_all(model, make, n):
    import torch
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    labels = []
    for i in range(0, n, PREDICT_BATCH):
        batch = make(i, min(n, i + PREDICT_BATCH))
        out = model(batch.to(dtype) if batch.is_floating_point() else batch)
        if isinstance(out, (tuple, list)):
            out = out[0]
        labels.append(out.reshape(out.shape[0], -1).argmax(dim=1).to(torch.int64).numpy())
    return np.concatenate(labels) if labels else np.zeros(0, np.int64)


def do_predict(req):
    import torch
    state = load_state(req["file"])
    label, model = matching_model(state, req["file"])
    model.load_state_dict(state, strict=True)
    model.eval()
    if req["inputs"] == "nist":
        candidates, n = nist_candidates(np.asarray(req["x"], dtype=np.float32))
        rounds = [[(name, make, None) for name, make in candidates]]
    else:
        rounds, n = image_candidates(np.asarray(req["x"], dtype=np.uint8), LAST_SCRIPT.get("namespace", {}))
    predictions, problems = {}, {}
    with torch.no_grad():
        for candidates in rounds:
            for name, make, on_arrays in candidates:
                torch.manual_seed(req.get("seed", 0))     # transforms with random augmentation
                for label_, maker in ((name, make), (name + " (on arrays)", on_arrays)):
                    if maker is None:
                        continue
                    try:
                        predictions[label_] = predict_all(model, maker, n)
                        problems.pop(name, None)
                        break
                    except Exception as exc:  # noqa: BLE001 -- this preprocessing does not suit the model
                        problems.setdefault(name, f"{type(exc).__name__}: {first_line(exc)}")
            if predictions:     # predicting costs seconds per candidate (SqueezeNet): fallbacks only if needed
                break
    return {"predictions": predictions, "problems": problems, "model": describe_model(label, model)}


def do_state(req):
    import torch
    state = load_state(req["file"])
    return {k: v.detach().to(torch.float32).cpu().numpy() for k, v in state.items()}


# autograd nodes of layers with weights: a path through one of them is a layer bypassed
WEIGHTED_NODES = ("Convolution", "Addmm", "Mm", "Bmm", "Linear", "Matmul")


def do_joins(req):
    """How the saved model joins tensors: one forward pass of the grader's first held-out inputs
    (under the first preprocessing that suits the model), then, for every addition and
    concatenation in the autograd graph of its output, the most weighted layers on a path from
    one of its inputs back to another (None: its inputs are unrelated, as a bias is). x + F(x)
    is an addition bypassing F's layers; torch.cat([a, g(a)]) a concatenation bypassing g's."""
    import torch
    state = load_state(req["file"])
    label, model = matching_model(state, req["file"])
    model.load_state_dict(state, strict=True)
    model.eval()
    candidates, _ = nist_candidates(np.asarray(req["x"], dtype=np.float32))
    out, problems = None, {}
    for name, make in candidates:
        try:
            batch = make(0, 4).clone().requires_grad_(True)
            out = model(batch)
            out = out[0] if isinstance(out, (tuple, list)) else out
            break
        except Exception as exc:  # noqa: BLE001 -- this preprocessing does not suit the model
            problems[name] = f"{type(exc).__name__}: {first_line(exc)}"
    if out is None or getattr(out, "grad_fn", None) is None:
        raise Refusal("no_graph", "the model could not be run on the held-out inputs: "
                      + ("; ".join(f"{k}: {v}" for k, v in problems.items()) or "its output has no gradient"))
    nodes, stack = {}, [out.grad_fn]
    while stack and len(nodes) < 20000:
        node = stack.pop()
        if node is None or id(node) in nodes:
            continue
        nodes[id(node)] = node
        stack.extend(f for f, _ in node.next_functions)
    weighted = {i: any(w in type(n).__name__ for w in WEIGHTED_NODES) for i, n in nodes.items()}
    memo = {}

    def bypassed(start, target):
        """The most weighted nodes on a path from start down to target, start counted and target
        not (None: no path)."""
        if start is target:
            return 0
        key = (id(start), id(target))
        if key not in memo:
            memo[key] = None
            below = [bypassed(f, target) for f, _ in start.next_functions if f is not None]
            below = [n for n in below if n is not None]
            memo[key] = max(below) + weighted.get(id(start), False) if below else None
        return memo[key]

    joins = []
    for node in nodes.values():
        kind = type(node).__name__
        if not kind.startswith(("AddBackward", "CatBackward", "StackBackward")):
            continue
        inputs = [f for f, _ in node.next_functions if f is not None]
        layers = [bypassed(b, a) for a in inputs for b in inputs if a is not b]
        layers = [n for n in layers if n is not None]
        joins.append({"op": kind, "layers_bypassed": max(layers) if layers else None})
    return {"joins": joins, "model": describe_model(label, model)}


def do_arrays(req):
    """The script's variables that are numeric arrays of the asked shapes, whatever the student
    named them (the PCA's projection and reconstructions), within a byte budget."""
    import numpy as np
    shapes = {tuple(shape) for shape in req["shapes"]}
    found, budget = {}, req["max_bytes"]
    for name, value in LAST_SCRIPT["namespace"].items():
        if (isinstance(value, np.ndarray) and value.shape in shapes and value.dtype.kind in "fiub"
                and value.nbytes <= budget and not name.startswith("__")):
            found[name] = np.array(value)
            budget -= value.nbytes
    return found


def follow_up(req, answer):
    if not LAST_SCRIPT:
        return {"ok": False, "error": "protocol", "message": f"{req['op']} needs a script run first"}
    seed_everything(req.get("seed", 0))
    set_limits(req["limits"])
    try:
        return {"ok": True, "value": answer(req)}
    except Refusal as refusal:
        return {"ok": False, "error": "refused", "message": refusal.message, "value": {"reason": refusal.reason}}
    except ImportError as exc:
        return {"ok": False, "error": "refused", "message": f"PyTorch is not usable here ({first_line(exc)})",
                "value": {"reason": "no_torch"}}
    except BaseException as exc:  # noqa: BLE001 -- the student's model failed
        culprit, text, tb = describe(exc, LAST_SCRIPT.get("name", "the script"))
        return {"ok": False, "error": "exception", "message": f"{culprit} raised {text}", "traceback": tb}


def serve():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # too-large writes raise OSError instead
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    set_limits(CONFIG["limits"], hard=True)
    os.chdir(WORK)
    if CONFIG.get("offline_torch"):
        offline_torch.install(CONFIG["offline_torch"])
    protocol.write_frame(RESP, {"ok": True, "ready": True})
    req = next_request()
    # A spare worker (graders.sandbox.keep_spares) is started before the submission is copied
    # in, which happens before its first request: what the import system listed of the folder
    # until now may miss the student's files.
    importlib.invalidate_caches()
    while True:
        op = req.get("op")
        if op == "call":
            response = do_call(req)
        elif op == "script":
            response = do_script(req)
        elif op == "predict":
            response = follow_up(req, do_predict)
        elif op == "state":
            response = follow_up(req, do_state)
        elif op == "arrays":
            response = follow_up(req, do_arrays)
        elif op == "joins":
            response = follow_up(req, do_joins)
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
        req = next_request()


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
