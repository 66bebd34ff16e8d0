"""Measuring a PyTorch script's models inside the sandbox (Q6, 2019's Q7): the worker's follow-ups.

Shipped into the sandbox's library folder as ``hw5sandbox_torch_measure`` (like offline_torch.py);
the `graders` package is not visible there. Standard library, NumPy, and torch/torchvision
imported only when needed (the script imported them already, or the measuring worker preloads them).

Two kinds of worker answer these requests, and neither is believed:

- The worker that ran the script answers only about what the script left: ``models`` (each
  torch.nn.Module and torchvision transform among its variables, pickled as torch.save pickles
  them: an architecture the measuring worker can rebuild) and ``arrays`` (its array variables).
- A fresh measuring worker (Sandbox.measure), which ran no script, answers ``predict`` and
  ``trace``: it executes the script's definitions only (imports, classes, functions, simple
  constants: `definitions`), rebuilds the captured modules from them, loads the tensors the
  trusted side read from the saved file (a tensors-only reader there), and returns only plain
  predictions for the inputs sent.

A student's class body or forward() runs in the measuring worker and can tamper with it, so the
verdict never rests on its honesty: the trusted side sends the held-out inputs in a secret order
(and, for staff, a secret subset) and scores the predictions itself. A model's connections
(2019's Q7.1.5) have no secret to hide behind, so ``trace`` only hands over a TorchScript archive,
and a second fresh worker that runs none of the student's Python answers ``scripted_joins`` from
it: the connections of its graph, and whether it carries the saved file's weights.

Why one file this long: it ships into the sandbox as one module; every PyTorch follow-up the worker
answers is here, so the trusted side can audit all it is told in one file.
"""
from __future__ import annotations

import ast
import io
import os
import sys
import types

import numpy as np

PREDICT_BATCH = 64
MAX_CANDIDATES = 10
MAX_CAPTURED = 40                 # modules and transforms each, per script
MAX_CAPTURED_BYTES = 512 << 20    # all captured pickles together
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
# Calls allowed in the "simple constant assignments" of `definitions` (a device a forward() uses).
SIMPLE_CALLS = {"torch.device", "torch.cuda.is_available", "len", "int", "float", "tuple", "range"}


class Refusal(Exception):
    """A follow-up that cannot be answered because of what the script did (said to the student)."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason, self.message = reason, message


def first_line(exc):
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def preload():
    """A measuring worker imports torch before the student's folder leads sys.path."""
    import torch  # noqa: F401
    import torchvision.transforms  # noqa: F401
    import PIL.Image  # noqa: F401


# ---------------------------------------------------------------------------------------------
# the script's definitions, without its training

def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _simple(value) -> bool:
    """A value computed from constants and names, without running the script's work: no calls
    (but SIMPLE_CALLS), lambdas, comprehensions or assignments inside."""
    for node in ast.walk(value):
        if isinstance(node, ast.Call):
            if _dotted(node.func) not in SIMPLE_CALLS:
                return False
        elif isinstance(node, (ast.Lambda, ast.comprehension, ast.NamedExpr, ast.Await, ast.Yield,
                               ast.YieldFrom, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return False
    return True


def _kept(statements) -> list:
    """The statements of `definitions`: imports, classes, functions, simple constant assignments,
    and the same inside try blocks (`try: import x except ImportError: ...`); never an if block
    (`if __name__ == '__main__':` holds the training) or a loop."""
    kept = []
    for stmt in statements:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            kept.append(stmt)
        elif isinstance(stmt, ast.Assign) and _simple(stmt.value) and all(
                isinstance(t, (ast.Name, ast.Tuple)) for t in stmt.targets):
            kept.append(stmt)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None and _simple(stmt.value) \
                and isinstance(stmt.target, ast.Name):
            kept.append(stmt)
        elif isinstance(stmt, ast.Try):
            kept += _kept(stmt.body)
    return kept


def definitions(path: str, name: str = "__main__") -> tuple[types.ModuleType, list[str]]:
    """A module holding the script's definitions, executed without its training: its imports,
    classes, functions and simple constant assignments, each statement on its own (one failing,
    such as an import of a library that is missing here, does not stop the others). Returns the
    module and what failed. Models the script made at its top level come from its captured
    modules (`capture`), whose classes this module provides."""
    with open(path, "rb") as f:
        source = f.read()
    module = types.ModuleType(name)
    module.__file__ = path
    module.__builtins__ = __builtins__
    problems = []
    tree = ast.parse(source, path)
    for stmt in _kept(tree.body):
        code = compile(ast.Module(body=[stmt], type_ignores=[]), path, "exec")
        try:
            exec(code, module.__dict__)
        except Exception as exc:  # noqa: BLE001 -- the student's statement: said, not fatal
            problems.append(f"line {stmt.lineno}: {type(exc).__name__}: {first_line(exc)}")
    return module, problems


# ---------------------------------------------------------------------------------------------
# in the worker that ran the script: what it left

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

    def look(name, value):
        if (type(value).__module__ or "").startswith("torchvision.transforms"):
            add(name, value)
        dataset = attr(value, "dataset")
        for where, obj in ((name, value), (f"{name}.dataset", dataset),
                           (f"{name}.dataset.dataset", attr(dataset, "dataset"))):
            if obj is not None and not isinstance(obj, (types.ModuleType, type)):
                add(f"{where}.transform", attr(obj, "transform"))

    for name, value in list(namespace.items()):
        if name.startswith("_") or isinstance(value, (types.ModuleType, type)):
            continue
        look(name, value)
        # the fine-tuning tutorial's habit: data_transforms = {'train': ..., 'val': ...}, and
        # datasets and loaders kept in dicts the same way
        if isinstance(value, dict) and len(value) <= MAX_CANDIDATES:
            for key, item in list(value.items()):
                if not isinstance(item, (types.ModuleType, type)):
                    look(f"{name}[{str(key)[:40]!r}]", item)
    return list(found.values())


def _pickled(obj) -> bytes:
    import torch
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _state_bytes(model) -> bytes:
    """The module's state_dict as torch.save writes it, on the CPU: plain tensors, which the
    trusted side reads with the weights-only loader (a script that saved no file is measured
    from the model it left)."""
    import torch
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()


def capture(namespace) -> dict:
    """The script's models and transforms as torch.save pickles them (classes by reference, so
    the measuring worker rebuilds them from the script's definitions), each model's tensors
    apart ("state"), with why any could not be: {"models": [{"name", "type", "pickle", "state"}
    or {"name", "type", "problem"}], "transforms": [...]}."""
    if "torch" not in sys.modules:      # a script without torch made no model
        return {"models": [], "transforms": []}
    budget = MAX_CAPTURED_BYTES
    out = {}
    for kind, found in (("models", models_in(namespace)), ("transforms", transforms_in(namespace))):
        out[kind] = []
        for label, obj in found[:MAX_CAPTURED]:
            entry = {"name": label, "type": type(obj).__name__}
            try:
                parts = {"pickle": _pickled(obj)}
                if kind == "models":
                    parts["state"] = _state_bytes(obj)
            except Exception as exc:  # noqa: BLE001 -- e.g. a lambda inside: this one is left out
                entry["problem"] = f"{type(exc).__name__}: {first_line(exc)}"
            else:
                size = sum(map(len, parts.values()))
                if size > budget:
                    entry["problem"] = f"too large to capture ({size} bytes)"
                else:
                    budget -= size
                    entry.update(parts)
            out[kind].append(entry)
    return out


def script_arrays(namespace, req):
    """The script's variables that are numeric arrays of the asked shapes, whatever the student
    named them (the PCA's projection and reconstructions), within a byte budget."""
    shapes = {tuple(shape) for shape in req["shapes"]}
    found, budget = {}, req["max_bytes"]
    for name, value in namespace.items():
        if (isinstance(value, np.ndarray) and value.shape in shapes and value.dtype.kind in "fiub"
                and value.nbytes <= budget and not name.startswith("__")):
            found[name] = np.array(value)
            budget -= value.nbytes
    return found


# ---------------------------------------------------------------------------------------------
# in the measuring worker: the captured modules rebuilt, the trusted side's tensors loaded

_DEFINED: dict = {}         # script path -> (module, problems): executed once per worker


def script_module(work: str, script: str):
    path = os.path.join(work, script)
    if path not in _DEFINED:
        if not os.path.isfile(path):
            raise Refusal("no_script", f"{script} is gone: the model's classes cannot be defined")
        try:
            _DEFINED[path] = definitions(path)
        except SyntaxError as exc:
            raise Refusal("no_script", f"{script} cannot be parsed any more ({first_line(exc)})") from None
    module, problems = _DEFINED[path]
    # captured classes pickled as __main__.Net are found in the script's definitions
    sys.modules["__main__"] = module
    return module, problems


def rebuilt(req, work):
    """(name, object) of the captured entries of req["captured"][kind] that load back, and the
    problems of the others."""
    import torch
    module, problems = script_module(work, req["script"])
    models, transforms, failed = [], [], list(problems)
    captured = req.get("captured") if isinstance(req.get("captured"), dict) else {}
    for kind, into in (("models", models), ("transforms", transforms)):
        for entry in captured.get(kind) or []:
            if not isinstance(entry, dict):
                continue
            name = str(entry.get("name"))
            if not isinstance(entry.get("pickle"), bytes):
                failed.append(f"{name} ({entry.get('type')}) could not be captured: {entry.get('problem')}")
                continue
            try:
                obj = torch.load(io.BytesIO(entry["pickle"]), map_location="cpu", weights_only=False)
            except Exception as exc:  # noqa: BLE001 -- a class the definitions lack, for one
                failed.append(f"{name} could not be rebuilt from {req['script']}'s definitions: "
                              f"{type(exc).__name__}: {first_line(exc)}")
                continue
            if kind == "transforms" or isinstance(obj, torch.nn.Module):
                into.append((name, obj))
    return models, transforms, failed


def shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


def matching_model(req, work):
    """The captured model whose state_dict has exactly the tensors of the saved file (names and
    shapes), with the file's tensors loaded (strict); and the script's transforms."""
    import torch
    state = {k: torch.from_numpy(np.array(v)) for k, v in req["state"].items()}
    want = shapes(state)
    models, transforms, failed = rebuilt(req, work)
    seen = []
    for label, model in models:
        try:
            have = shapes(model.state_dict())
        except Exception:  # noqa: BLE001 -- a module whose state_dict fails matches nothing
            continue
        if have == want:
            model.load_state_dict(state, strict=True)
            model.eval()
            return label, model, transforms
        seen.append(f"{label} ({type(model).__name__}, {len(have)} tensors)")
    saved = ", ".join(f"{k} {list(v)}" for k, v in list(want.items())[:4])
    where = (f"the models among its variables are {'; '.join(seen[:8])}" if seen
             else "it left no torch.nn.Module in a global variable")
    if failed:
        where += f" (not measurable: {'; '.join(failed[:4])})"
    raise Refusal("no_model", f"no model of {req['script']} has the tensors saved in {req['file']} "
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


def image_candidates(x, transforms):
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
    # grey square characters (EMNIST stores its images transposed): a script may have turned them
    # upright in a way the measuring cannot rebuild (a lambda in its Compose, its dataset's .data
    # transposed once), so each preprocessing is also tried on the transposed images; best counts
    grey = x.ndim in (3, 4) and x.shape[1] == x.shape[2] and (x.ndim == 3 or bool(np.all(x[..., :1] == x)))
    turned = [p.transpose(Image.TRANSPOSE) for p in pictures] if grey else []

    def through(transform, as_array, source):
        def batch(i, j):
            items = [transform(np.asarray(p) if as_array else p) for p in source[i:j]]
            if not all(isinstance(t, torch.Tensor) for t in items):
                raise TypeError(f"the transform returns {type(items[0]).__name__}, not a tensor")
            return torch.stack(items)
        return batch

    rounds = (transforms[:MAX_CANDIDATES // 2 if grey else MAX_CANDIDATES], fallbacks)
    return [[(where + label, through(t, False, source), through(t, True, source))
             for label, source in ((("", pictures), (", images transposed", turned)) if grey else (("", pictures),))
             for where, t in r] for r in rounds], len(pictures)


def outputs(model, batch):
    """The model's scores for a batch, one row per input."""
    import torch
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    out = model(batch.to(dtype) if batch.is_floating_point() else batch)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out.reshape(out.shape[0], -1)


def predict_all(model, make, n):
    import torch
    labels = []
    for i in range(0, n, PREDICT_BATCH):
        labels.append(outputs(model, make(i, min(n, i + PREDICT_BATCH))).argmax(dim=1).to(torch.int64).numpy())
    return np.concatenate(labels) if labels else np.zeros(0, np.int64)


def without_convolutions(model, make, n):
    """The classes the model predicts for the inputs with every convolution kernel (a 4-D
    parameter) replaced by noise of its own size, then restored: the trusted side scores them
    to see whether the answers rest on the convolutions. None when the model has no kernel;
    {"failed": why} when it stops working with other kernel values of the same shapes, which no
    network computing with them does (a model that raises once its kernels change hides what it
    does without them)."""
    import torch
    kernels = [p for p in model.parameters() if p.dim() == 4]
    if not kernels:
        return None
    kept = [k.detach().clone() for k in kernels]
    generator = torch.Generator().manual_seed(0)
    try:
        for k in kernels:
            noise = torch.randn(k.shape, generator=generator, dtype=torch.float64)
            k.copy_((noise * (float(k.detach().double().abs().mean()) + 1e-3)).to(k.dtype))
        return predict_all(model, make, n)
    except Exception as exc:  # noqa: BLE001 -- judged on the trusted side
        return {"failed": f"{type(exc).__name__}: {first_line(exc)}"}
    finally:
        for k, value in zip(kernels, kept):
            k.copy_(value)


def predict(req, work):
    """The class each preprocessing makes the saved model predict for the inputs sent (in the
    order sent: only the trusted side knows which input is which)."""
    import torch
    label, model, transforms = matching_model(req, work)
    if req["inputs"] == "nist":
        candidates, n = nist_candidates(np.asarray(req["x"], dtype=np.float32))
        rounds = [[(name, make, None) for name, make in candidates]]
    else:
        rounds, n = image_candidates(np.asarray(req["x"], dtype=np.uint8), transforms)
    predictions, problems, first = {}, {}, None
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
                        first = first or (label_, maker)
                        break
                    except Exception as exc:  # noqa: BLE001 -- this preprocessing does not suit the model
                        problems.setdefault(name, f"{type(exc).__name__}: {first_line(exc)}")
            if predictions:     # predicting costs seconds per candidate (SqueezeNet): fallbacks only if needed
                break
        answer = {"predictions": predictions, "problems": problems, "model": describe_model(label, model)}
        if req.get("probe_convolutions") and first is not None:
            torch.manual_seed(req.get("seed", 0))
            noised = without_convolutions(model, first[1], n)
            if isinstance(noised, dict):
                answer["without_convolutions"] = {"preprocessing": first[0], **noised}
            elif noised is not None:
                answer["without_convolutions"] = {"preprocessing": first[0], "predictions": noised}
    return answer


# autograd nodes of layers with weights: a path through one of them is a layer bypassed
WEIGHTED_NODES = ("Convolution", "Addmm", "Mm", "Bmm", "Linear", "Matmul")


def trace(req, work):
    """The saved model as TorchScript (torch.jit.trace of one forward pass of the grader's
    held-out inputs, under the first preprocessing that suits it), for `scripted_joins` to read
    in a worker that runs none of the student's Python. This worker rebuilt the model from the
    student's classes, so what it answers is only a claim: the trusted side believes the
    connections and weights that the clean worker finds in the archive."""
    import torch
    label, model, _ = matching_model(req, work)
    candidates, _ = nist_candidates(np.asarray(req["x"], dtype=np.float32))
    problems = {}
    for name, make in candidates:
        batch = make(0, 4).clone()
        try:
            model(batch)
        except Exception as exc:  # noqa: BLE001 -- this preprocessing does not suit the model
            problems[name] = f"{type(exc).__name__}: {first_line(exc)}"
            continue
        try:
            traced = torch.jit.trace(model, batch, check_trace=False, strict=False)
            buffer = io.BytesIO()
            torch.jit.save(traced, buffer)
        except Exception as exc:  # noqa: BLE001 -- said to the student: the connections cannot be read
            raise Refusal("no_trace", f"the model runs on the held-out inputs ({name}) but torch.jit.trace "
                          f"cannot record its forward pass: {type(exc).__name__}: {first_line(exc)}") from None
        return {"scripted": np.frombuffer(buffer.getvalue(), dtype=np.uint8), "preprocessing": name,
                "model": describe_model(label, model)}
    raise Refusal("no_graph", "the model could not be run on the held-out inputs: "
                  + "; ".join(f"{k}: {v}" for k, v in problems.items()))


def scripted_joins(req, work):
    """How the traced model joins tensors, read in a worker that has run none of the student's
    Python (a TorchScript archive runs TorchScript only): one forward pass, then, for every
    addition and concatenation in the autograd graph of its output, the most weighted layers on
    a path from one of its inputs back to another (None: its inputs are unrelated, as a bias is).
    x + F(x) is an addition bypassing F's layers; torch.cat([a, g(a)]) a concatenation bypassing
    g's. Also which of the saved file's tensors the archive carries: the archive must be the
    saved model, not another one."""
    import torch
    # nothing of the student's folder may be imported here, not even by a lazy import of torch's
    sys.path[:] = [p for p in sys.path if p not in ("", ".") and os.path.realpath(p) != os.path.realpath(work)]
    try:
        model = torch.jit.load(io.BytesIO(np.asarray(req["scripted"], dtype=np.uint8).tobytes()), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 -- the archive came from the student's process
        raise Refusal("no_trace", f"the traced model cannot be read back ({type(exc).__name__}: "
                      f"{first_line(exc)})") from None
    model.eval()
    make = dict(nist_candidates(np.asarray(req["x"], dtype=np.float32))[0]).get(req.get("preprocessing"))
    if make is None:
        raise Refusal("no_graph", f"no preprocessing named {str(req.get('preprocessing'))[:80]!r}")
    out = model(make(0, 4).clone().requires_grad_(True))
    out = out[0] if isinstance(out, (tuple, list)) else out
    if getattr(out, "grad_fn", None) is None:
        raise Refusal("no_graph", "the traced model's output has no gradient")
    carrying, alive = gradient_edges(out)   # alive: the nodes, so that no id is reused meanwhile
    carried = [t.detach().cpu().numpy() for t in model.state_dict().values()]
    saved = [np.asarray(v) for v in req["state"].values() if np.asarray(v).ndim >= 2]     # layers' weights
    found = sum(any(c.shape == w.shape and np.array_equal(c, w) for c in carried) for w in saved)
    # layers of its own beside the saved ones: a wrapper whose joins the saved model never makes
    extra = sum(c.ndim >= 2 and not any(c.shape == w.shape and np.array_equal(c, w) for w in saved) for c in carried)
    joins = graph_joins(out, carrying)
    del alive
    return {"joins": joins, "weights": {"saved": len(saved), "carried": int(found), "extra": int(extra)},
            "output": [int(n) for n in out.shape]}


def gradient_edges(out) -> tuple[dict, list]:
    """({id(node): for each of its inputs, whether a gradient of the output reached it}, from one
    backward pass of a random output gradient: an edge carrying none is an input the output does
    not depend on (the side of a concatenation sliced away after it, a branch multiplied by 0)),
    and the nodes, held while their ids are used."""
    import torch
    carrying, hooked, alive, stack = {}, set(), [], [out.grad_fn]
    while stack and len(hooked) < 20000:
        node = stack.pop()
        if node is None or id(node) in hooked:
            continue
        hooked.add(id(node))
        alive.append(node)
        node.register_hook(lambda grads_in, grads_out, key=id(node): carrying.__setitem__(
            key, [g is not None and bool(torch.count_nonzero(g)) for g in grads_in]))
        stack.extend(f for f, _ in node.next_functions)
    generator = torch.Generator().manual_seed(0)
    try:
        out.backward(torch.randn(out.shape, generator=generator, dtype=torch.float64).to(out.dtype))
    except Exception as exc:  # noqa: BLE001 -- the archive came from the student's process
        raise Refusal("no_graph", f"the traced model's output cannot be differentiated ({type(exc).__name__}: "
                      f"{first_line(exc)})") from None
    return carrying, alive


def graph_joins(out, carrying: dict) -> list[dict]:
    """The joins of the output's autograd graph and the most weighted layers each bypasses,
    following only the edges that carried a gradient (gradient_edges)."""
    def inputs_of(node):
        flows = carrying.get(id(node), ())
        return [f for i, (f, _) in enumerate(node.next_functions)
                if f is not None and i < len(flows) and flows[i]]

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
            below = [bypassed(f, target) for f in inputs_of(start)]
            below = [n for n in below if n is not None]
            memo[key] = max(below) + weighted.get(id(start), False) if below else None
        return memo[key]

    found = []
    for node in nodes.values():
        kind = type(node).__name__
        if not kind.startswith(("AddBackward", "CatBackward", "StackBackward")):
            continue
        inputs = inputs_of(node)
        layers = [bypassed(b, a) for a in inputs for b in inputs if a is not b]
        layers = [n for n in layers if n is not None]
        found.append({"op": kind, "layers_bypassed": max(layers) if layers else None})
    return found


# which worker answers which follow-up: "script" (the one that ran it), "measure" (a fresh one)
OPS = {"models": ("script", lambda req, last, work: capture(last["namespace"])),
       "arrays": ("script", lambda req, last, work: script_arrays(last["namespace"], req)),
       "predict": ("measure", lambda req, last, work: predict(req, work)),
       "trace": ("measure", lambda req, last, work: trace(req, work)),
       "scripted_joins": ("measure", lambda req, last, work: scripted_joins(req, work))}
