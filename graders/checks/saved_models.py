"""The trusted side of measuring a PyTorch script's saved models (Q6, 2019's Q7).

The worker that ran a script is never asked to measure anything: the script could have rewritten
that process's answers. So, after the script's worker has ended:

- the saved file is read HERE from the sandbox's private copy (never through a link) with
  PyTorch's weights-only loader, which builds tensors and plain containers and nothing else
  (`state_dict`); a frozen-features check compares those tensors with the pretrained weights,
  read the same way (`tensors_file`);
- a fresh measuring worker (Sandbox.measure, graders/sandbox/shipped/torch_measure.py inside the sandbox)
  rebuilds the script's model from the script's own definitions and the modules its worker
  captured (`models_request`), loads those tensors, and predicts the held-out inputs it is sent
  (`predict_request`);
- the inputs go in a secret order (and, under the course key, a secret subset: `heldout_order`),
  so predictions are worth something only if the model really classified each input; the
  predictions are mapped back and scored here (`plain_predictions`).
"""
from __future__ import annotations

import io
import math
import os
import stat
from pathlib import Path

import numpy as np

from graders.checks import secret

MAX_FILE_BYTES = 512 << 20
MAX_TENSORS = 10_000
MAX_ELEMENTS = 200_000_000      # all tensors together (a view may claim far more than its bytes)
MAX_PREDICTIONS = 16            # preprocessings scored per model (the worker tries at most 13)
STAFF_SUBSET = 0.8              # the share of each held-out set a staff grading measures


class Unreadable(Exception):
    """A saved file that cannot be measured, in the student's terms; reason: "missing",
    "pickled" (a torch.save archive of pickled Python objects, such as a whole model: honest, but
    never unpickled here), "not_state_dict" (anything else that is not a state_dict), "unchanged"."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


def how_to_save(name: str) -> str:
    return f"torch.save(model.state_dict(), {name!r})"


def write_fresh(work: Path, name: str, text: str) -> None:
    """Write work/name anew, whatever the student's processes left there: never through a
    symlink (one planted at that name, or in place of work, would point at the grader's files)."""
    if not name or os.sep in name or name in (".", ".."):
        raise ValueError(f"not a plain file name: {name!r}")
    folder = os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        try:
            os.unlink(name, dir_fd=folder)
        except FileNotFoundError:
            pass
        # O_EXCL: fails on anything at that name, a link made since the unlink included
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder)
    finally:
        os.close(folder)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def read_written(work: Path, name: str, max_bytes: int = MAX_FILE_BYTES) -> tuple[bytes, tuple]:
    """The bytes of work/name, a plain file the script wrote, and its (mtime_ns, size); never
    through a symlink (a link to the grader's truth, or to /dev/zero, is refused) and never
    more than max_bytes."""
    if not name or os.sep in name or name in (".", ".."):
        raise ValueError(f"not a plain file name: {name!r}")
    try:
        folder = os.open(work, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        raise Unreadable("missing", f"{name} does not exist: the submission's folder is gone") from None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except FileNotFoundError:
        raise Unreadable("missing", f"{name} does not exist") from None
    except OSError as exc:
        raise Unreadable("not_state_dict", f"{name} could not be opened as a plain file ({exc.strerror}); "
                         f"save it with {how_to_save(name)}") from None
    finally:
        os.close(folder)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable("not_state_dict", f"{name} is not a plain file; save it with {how_to_save(name)}")
        if info.st_size > max_bytes:
            raise Unreadable("not_state_dict", f"{name} has {info.st_size} bytes, more than the "
                             f"{max_bytes >> 20} MB a saved model may have")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(max_bytes), (info.st_mtime_ns, info.st_size)
    finally:
        os.close(fd)


def state_dict(data: bytes, name: str) -> dict[str, np.ndarray]:
    """The saved state_dict as arrays {name: array}, read with PyTorch's weights-only loader (a
    pickle of any other object is refused unread); floating tensors come as float32, integer and
    boolean ones as they are. Raises Unreadable with the student's fix."""
    import torch
    how = how_to_save(name)
    problem = _not_a_plain_archive(data)
    if problem:
        raise Unreadable("not_state_dict", f"{name} is not a file torch.save writes ({problem}); save "
                         f"it with {how}")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- whatever it holds, it is not a state_dict
        text = str(exc).strip()
        pickled = "weights only" in text.lower() or "weights_only" in text.lower()
        why = ("it holds pickled Python objects, such as a whole model saved with torch.save(model)" if pickled
               else (text.splitlines()[0] if text else type(exc).__name__)[:300])
        raise Unreadable("pickled" if pickled else "not_state_dict", f"{name} could not be read as a state_dict: PyTorch's "
                         f"weights-only loader refused it ({why}). Save the weights, not the whole "
                         f"model: {how}") from None
    if not (isinstance(state, dict) and state and len(state) <= MAX_TENSORS and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        shown = (f"a dict with keys {', '.join(repr(k)[:60] for k in list(state)[:5])}" if isinstance(state, dict)
                 else f"a {type(state).__name__}")
        raise Unreadable("not_state_dict", f"{name} holds {shown}, not a model's state_dict (parameter "
                         f"names -> tensors). Save it with {how}")
    elements = sum(t.numel() for t in state.values())
    if elements > MAX_ELEMENTS:
        raise Unreadable("not_state_dict", f"{name} holds tensors of {elements} numbers in all, more than "
                         f"the {MAX_ELEMENTS} a model of this homework may have")
    arrays = {}
    for key, tensor in state.items():
        if tensor.layout != torch.strided or tensor.is_quantized or tensor.is_complex() or tensor.is_meta:
            raise Unreadable("not_state_dict", f"{name}: {key} is not a plain real tensor "
                             f"({tensor.dtype}, {tensor.layout}); save it with {how}")
        if tensor.untyped_storage().nbytes() < tensor.numel() * tensor.element_size():
            # an expand()ed view: a few bytes in the file that would take numel numbers here
            raise Unreadable("not_state_dict", f"{name}: {key} is a view of {tensor.numel()} numbers over "
                             f"{tensor.untyped_storage().nbytes()} bytes (expand() or a zero stride); save tensors "
                             f"that hold their values ({how})")
        tensor = tensor.detach().contiguous()
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        arrays[key] = tensor.numpy().copy()
    return arrays


def _not_a_plain_archive(data: bytes) -> str | None:
    """Why data is not an archive as torch.save writes it (a zip of stored records adding up to
    no more than the file), or None. Checked before PyTorch reads it: the legacy format, and a
    compressed record, would let a small file make PyTorch allocate without bound."""
    import zipfile
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            records = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return "not a zip archive: PyTorch's current format is one"
    if any(r.compress_type != zipfile.ZIP_STORED for r in records):
        return "it holds compressed records"
    if sum(r.file_size for r in records) > len(data):
        return "its records claim more bytes than the file has"
    return None


def tensors_file(path: Path, name: str | None = None) -> dict[str, np.ndarray]:
    """A weights file of the grader's (the pretrained SqueezeNet's) as arrays, read the same way."""
    return state_dict(Path(path).read_bytes(), name or Path(path).name)


def saved_state(work: Path, original: Path | None, name: str) -> dict[str, np.ndarray]:
    """The state_dict the script saved as work/name, refused when it is the copy the submission
    came with, untouched by the run (only what the run trains counts). original: the
    submission's own folder, copied into the sandbox with its files' times."""
    data, stamp = read_written(Path(work), name)
    if original is not None:
        try:
            info = os.lstat(Path(original) / name)
        except OSError:
            info = None
        if info is not None and stat.S_ISREG(info.st_mode) and (info.st_mtime_ns, info.st_size) == stamp:
            raise Unreadable("unchanged", f"{name} was not written by this run: it is the copy the "
                             "submission came with, and only what the run trains counts")
    return state_dict(data, name)


# ---------------------------------------------------------------------------------------------
# requests

def models_request() -> dict:
    """A follow-up for the worker that ran a script: its torch.nn.Modules and transforms,
    pickled for the measuring worker (opaque here: never unpickled on this side)."""
    return {"op": "models"}


def captured(outcome) -> dict:
    """The models_request's answer as it is passed on, or an empty capture (the measuring
    worker then says which models it lacks)."""
    value = outcome.value if outcome is not None and outcome.ok else None
    if not isinstance(value, dict):
        return {"models": [], "transforms": []}
    return {kind: [e for e in value.get(kind) or [] if isinstance(e, dict)][:40] for kind in ("models", "transforms")}


def captured_states(capture: dict) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(variable, tensors) of each model the script left, read here as a saved file is (the
    weights-only loader); models whose tensors cannot be read are left out."""
    out, elements = [], 0
    for entry in capture.get("models") or []:
        if isinstance(entry.get("state"), bytes):
            try:
                state = state_dict(entry["state"], "the captured model")
            except Unreadable:
                continue
            elements += sum(v.size for v in state.values())
            if elements > MAX_ELEMENTS:     # all of them are held at once: one model's cap in all
                break
            out.append((str(entry.get("name"))[:100], state))
    return out


def fits(state: dict, what: str, classes: int, inputs: str, channels: int = 3) -> bool:
    """Whether a model's tensors can be the question's: its last layer gives `classes` scores,
    it takes the question's inputs (NIST rows of 1024, or images of `channels` channels: 1 for
    MNIST and EMNIST, 3 for colour photos), and it is the kind the question asks for (a fully
    connected network has no convolution, a CNN has one, the fine-tuned SqueezeNet is
    torchvision's, the network from scratch is not)."""
    weights = [v for k, v in state.items() if k.endswith("weight") and v.ndim in (2, 4)]
    if not weights:
        return False
    last, first = weights[-1], weights[0]
    squeezenet = any(k.endswith("features.0.weight") for k in state) and any(
        k.endswith("classifier.1.weight") for k in state)
    convolutional = any(v.ndim == 4 for v in weights)
    if last.shape[0] != classes:
        return False
    if "SqueezeNet" in what:
        return squeezenet
    if squeezenet:
        return False
    if "fully connected" in what:
        return not convolutional and inputs == "nist" and first.shape[1] == 1024
    if first.ndim == 4:
        return first.shape[1] == (1 if inputs == "nist" else channels)
    return inputs == "nist" and first.shape[1] == 1024


def predict_request(script: str, capture: dict, file: str, state: dict, x, inputs: str,
                    probe_convolutions: bool = False) -> dict:
    """Predictions of the model saved in `file` (its tensors: state) for inputs x, in the
    measuring worker: inputs="nist" (rows of 1024 as in the .mat files) or "images" (uint8
    N x H x W x 3). Its Outcome's value: {"predictions": {preprocessing: int array}, "problems":
    {preprocessing: why it failed}, "model": {"name", "type", "parameters", "repr"}}, and with
    probe_convolutions {"without_convolutions": {"preprocessing", "predictions"}}: the first
    preprocessing's predictions with every convolution kernel replaced by noise."""
    if inputs not in ("nist", "images"):
        raise ValueError(f"inputs must be 'nist' or 'images', not {inputs!r}")
    return {"op": "predict", "script": str(script), "captured": capture, "file": str(file),
            "state": state, "inputs": inputs, "x": x, "probe_convolutions": probe_convolutions}


def trace_request(script: str, capture: dict, file: str, state: dict, x) -> dict:
    """The model saved in `file` as a TorchScript archive, traced on NIST rows x in the measuring
    worker (a claim: scripted_joins_request reads it where no student Python runs)."""
    return {"op": "trace", "script": str(script), "captured": capture, "file": str(file),
            "state": state, "x": x}


MAX_SCRIPTED_BYTES = 256 << 20


def scripted_joins_request(traced, state: dict, x) -> dict | None:
    """How the traced model joins tensors and which saved tensors it carries, asked of a fresh
    worker; None when the trace answer holds no archive of a sane size."""
    value = traced.value if traced is not None and traced.ok else None
    archive = value.get("scripted") if isinstance(value, dict) else None
    if not (isinstance(archive, np.ndarray) and archive.dtype == np.uint8 and archive.ndim == 1
            and 0 < archive.size <= MAX_SCRIPTED_BYTES):
        return None
    return {"op": "scripted_joins", "scripted": archive, "preprocessing": str(value.get("preprocessing"))[:200],
            "state": state, "x": x}


# ---------------------------------------------------------------------------------------------
# the held-out order, and the answers mapped back

def heldout_order(set_name: str, n: int, run_seed: int, key: bytes | None = None) -> np.ndarray:
    """Indices into a held-out set, in the order its inputs are sent: a permutation drawn from
    the run's seed (keyed by the course key when there is one, so a student cannot compute it),
    and under the course key only a secret subset of it."""
    rng = np.random.default_rng(secret.derive(key, "heldout-order", set_name, run_seed))
    order = rng.permutation(n)
    return order[:math.ceil(STAFF_SUBSET * n)] if key else order


def plain_predictions(value, n: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """({preprocessing: predicted classes}, {preprocessing: why it was left out}) of a predict
    answer: only integer arrays of shape (n,) count, and at most MAX_PREDICTIONS of them."""
    predictions = value.get("predictions") if isinstance(value, dict) else None
    kept, left = {}, {}
    for name, p in list(predictions.items() if isinstance(predictions, dict) else [])[:MAX_PREDICTIONS]:
        name = str(name)[:200]
        if not (isinstance(p, np.ndarray) and p.shape == (n,) and p.dtype.kind in "iu"):
            left[name] = (f"not {n} class indices ({getattr(p, 'dtype', type(p).__name__)}, "
                          f"shape {getattr(p, 'shape', None)})")
        else:           # indices outside 0..classes-1 are wrong answers, counted as such
            kept[name] = p.astype(np.int64)
    return kept, left
