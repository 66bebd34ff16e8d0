"""Trusted evaluation of the weights a training script returned (Q3.1, Q4.4, Q5.x).

The grader holds the data (graders.suites.conftest's course_data) and runs its own forward pass
(graders.checks.numerics.layer_forward, built on scipy) over the student's arrays; student code is never
run again. PSNR is scikit-image's peak_signal_noise_ratio, as the handout asks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from skimage.metrics import peak_signal_noise_ratio

from graders.checks import numerics

CLASSIFIER = {"Wlayer1": (1024, 64), "blayer1": (64,), "Woutput": (64, 36), "boutput": (36,)}
AUTOENCODER_SIZES = (1024, 32, 32, 32, 1024)
CHARACTERS = [chr(ord("A") + i) for i in range(26)] + [str(d) for d in range(10)]

# The .mat files keep each image transposed (MATLAB's column order); a student may put the pixels
# back in row order once after loading and work on that. The map is its own inverse.
ROW_ORDER = np.arange(1024).reshape(32, 32).T.ravel()


@dataclass(frozen=True)
class Splits:
    """The NIST36 splits as (x, one-hot y) pairs, float64.

    `grader` is what verdicts are measured on (Q3.1's accuracy, Q5's PSNR): a split drawn like
    the validation set but never mounted in the sandbox, so a script cannot train on it. When the
    course gives none (`--data-dir` without DIR/grader/nist36_grader.mat) it is the validation
    set itself and `grader_note` says so; the note is empty when the split is held out."""
    train: tuple
    valid: tuple
    test: tuple
    grader: tuple | None = None
    grader_note: str = ""

    def __post_init__(self):
        if self.grader is None:
            object.__setattr__(self, "grader", self.valid)
            if not self.grader_note:
                object.__setattr__(self, "grader_note", FALLBACK_NOTE)


FALLBACK_NOTE = ("no grader-only split was given (grader/nist36_grader.mat beside the course's data/), so "
                 "this verdict was measured on the validation set, which the student's script could read")


def load_splits(data_dir, name: str = "nist36_{split}.mat", grader_path=None) -> Splits:
    """The splits stored at data_dir/name ({split}: train, valid, test; the edition's layout),
    and the grader-only split from grader_path (keys grader_data, grader_labels; outside the
    folder the sandbox mounts) when that file exists, else the validation set with a note."""
    data_dir = Path(data_dir)
    parts = {split: _read_split(data_dir / name.format(split=split), split)
             for split in ("train", "valid", "test")}
    if grader_path is not None and Path(grader_path).is_file():
        return Splits(**parts, grader=_read_split(Path(grader_path), "grader"), grader_note="")
    return Splits(**parts)


def _read_split(path: Path, split: str) -> tuple:
    mat = scipy.io.loadmat(path)
    return (np.asarray(mat[f"{split}_data"], dtype=np.float64),
            np.asarray(mat[f"{split}_labels"], dtype=np.float64))


# --- the 1024-64-36 classifier of run_q3 ------------------------------------------------------

def classifier_probs(weights: dict, x) -> np.ndarray:
    """Class probabilities: a sigmoid hidden layer 'layer1', a softmax output 'output'."""
    _, h = numerics.layer_forward(x, weights["Wlayer1"], weights["blayer1"], "sigmoid")
    pre, _ = numerics.layer_forward(h, weights["Woutput"], weights["boutput"], "linear")
    return numerics.row_softmax(pre)


AS_THEY_ARE = "the rows as they are"


def input_scalings(arrays: dict, train_x=None) -> list[tuple[str, object]]:
    """(label, transform of NIST rows) a saved classifier may expect: the rows as they are; rows
    standardised with arrays saved beside its weights (a mean and a spread, per pixel (1024,) or
    one number each), as a student who standardised the training set saves them for run_q4; and
    rows standardised with the training set's own statistics (per pixel or one number), which a
    student who saved none recomputes in run_q4. Each is an affine map before the first layer,
    which the layer could hold itself: it adds no power."""
    extra = [(str(k), value) for k, value in ((k, _statistic(v)) for k, v in arrays.items() if k not in CLASSIFIER)
             if value is not None][:4]
    found = [(AS_THEY_ARE, lambda x: x)]
    found += [(f"x - {k} (saved beside the weights)", lambda x, a=a: x - a) for k, a in extra]
    found += [(f"(x - {k}) / {j} (saved beside the weights)", lambda x, a=a, b=b: (x - a) / b)
              for k, a in extra for j, b in extra if j != k and np.all(b != 0)]
    if train_x is not None:
        found += [(f"x standardised by the training set's mean and spread{where}", lambda x, m=m, s=s: (x - m) / s)
                  for where, m, s in _training_statistics(np.asarray(train_x, dtype=np.float64))]
    return found


def _statistic(value) -> np.ndarray | None:
    """A saved mean or spread: a finite real (1024,) array or one finite real number."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray) or value.shape not in ((1024,), ()) or value.dtype.kind not in "fiu":
        return None
    value = value.astype(np.float64)
    return value if np.all(np.isfinite(value)) else None


def _training_statistics(train_x: np.ndarray) -> list[tuple[str, object, object]]:
    scalar = float(np.std(train_x))
    spread = np.std(train_x, axis=0)
    # a constant pixel has no spread: students add an epsilon or leave it; either gives (x - m) / eps
    # there, which only the same constant pixel of a new image reaches
    spread = np.where(spread > 0, spread, 1.0)
    found = [(" (one number each)", float(np.mean(train_x)), scalar)] if scalar > 0 else []
    return found + [(" (per pixel)", np.mean(train_x, axis=0), spread)]


def best_scaling(weights: dict, arrays: dict, x, y, train_x=None) -> tuple[str, object, float]:
    """(label, transform, accuracy) of the input scaling under which the classifier does best on
    x, y: a set other than the one the verdict is measured on, so that choosing among the
    scalings does not flatter the verdict."""
    best = None
    scalings = input_scalings(arrays, train_x)
    # a script that put the pixels in row order after loading trained on x[:, ROW_ORDER]
    scalings += [("pixels in row order" if label == AS_THEY_ARE else f"pixels in row order, then {label}",
                  lambda x, scale=scale: scale(x[:, ROW_ORDER]))
                 for label, scale in input_scalings(arrays, None if train_x is None else np.asarray(train_x)[:, ROW_ORDER])]
    with np.errstate(all="ignore"):
        for label, scale in scalings:
            accuracy = numerics.accuracy(y, classifier_probs(weights, scale(x)))
            if best is None or numerics.at_least(accuracy, best[2] + 1e-12):
                best = (label, scale, accuracy)
    return best


def confusion_matrix(y, probs) -> np.ndarray:
    """Counts, rows the true class and columns the predicted one (the handout's Q3.4 layout)."""
    n = y.shape[1]
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (np.argmax(y, axis=1), np.argmax(probs, axis=1)), 1)
    return matrix


def most_confused(matrix: np.ndarray, count: int = 5) -> list[tuple[str, str, int]]:
    """The commonest (true, predicted) mistakes, in characters."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:count]
    pairs = [np.unravel_index(i, off.shape) for i in order]
    return [(CHARACTERS[t], CHARACTERS[p], int(off[t, p])) for t, p in pairs if off[t, p] > 0]


# --- the autoencoder of run_q5 -----------------------------------------------------------------

# what is left of a W key's name once a layer's name is taken out, when that key is the layer's
# momentum and not a layer of its own (Whidden_m beside Whidden; Whidden2 is a layer)
_ACCUMULATOR_MARKS = {"m", "v", "mom", "momentum", "vel", "velocity", "prev", "old", "update", "delta", "acc"}


def layer_candidates(params: dict) -> list[str]:
    """Names with a 2D array params['W'+name], in creation order, that look like layers: where
    forward or backwards left a cache_ or grad_ entry for some names, only those; a name that is
    another's plus a momentum mark (hidden_m beside hidden) is that layer's accumulator."""
    names = [k[1:] for k, v in params.items() if isinstance(k, str) and k.startswith("W") and len(k) > 1
             and isinstance(v, np.ndarray) and v.ndim == 2]
    used = [n for n in names if "cache_" + n in params or "grad_W" + n in params]
    names = used or names

    def accumulator(n):
        for p in names:
            if p != n and p in n and n.replace(p, "", 1).strip("_").lower() in _ACCUMULATOR_MARKS:
                return True
        return False
    return [n for n in names if not accumulator(n)]


def layers_in_order(params: dict, inputs: int = AUTOENCODER_SIZES[0]) -> list[str]:
    """The layer names whose W and b chain `inputs` values back to `inputs` values (W (a, b),
    then b of b entries, then W (b, c)...), found by their shapes and taken in the order they
    were created (params keeps insertion order): the handout leaves the names free, '_' included.
    Without such a chain, every candidate name in creation order (the size check says why)."""
    names = layer_candidates(params)

    def bias_fits(n, width):
        b = params.get("b" + n)
        return isinstance(b, np.ndarray) and b.size == width

    best, budget = [], [10_000]

    def extend(dim, used):
        # every chain, in creation order; the longest wins (an output layer created first is
        # still the last one), the first found among equals
        budget[0] -= 1
        if budget[0] < 0 or len(used) >= 8:
            return
        for n in names:
            W = params["W" + n]
            if n in used or W.shape[0] != dim or not bias_fits(n, W.shape[1]):
                continue
            if W.shape[1] == inputs and len(used) + 1 > len(best):
                best[:] = used + [n]
            extend(W.shape[1], used + [n])
    extend(inputs, [])
    return best or names


def chains(params: dict, names: list[str], inputs: int = AUTOENCODER_SIZES[0]) -> bool:
    """Whether the named layers' shapes chain `inputs` values back to `inputs` values."""
    dim = inputs
    for n in names:
        W, b = params.get("W" + n), params.get("b" + n)
        if not isinstance(W, np.ndarray) or W.ndim != 2 or W.shape[0] != dim or not (
                isinstance(b, np.ndarray) and b.size == W.shape[1]):
            return False
        dim = W.shape[1]
    return bool(names) and dim == inputs


def xavier_autoencoder(params: dict, names: list[str], rng) -> dict:
    """A freshly initialised network of the same shapes, as the handout's initialize_weights
    draws it: W uniform in +-sqrt(6 / (in + out)), b zero."""
    fresh = {}
    for n in names:
        n_in, n_out = params["W" + n].shape
        bound = np.sqrt(6.0 / (n_in + n_out))
        fresh["W" + n] = rng.uniform(-bound, bound, (n_in, n_out))
        fresh["b" + n] = np.zeros(np.shape(params["b" + n]))
    return fresh


def autoencoder_forward(params: dict, x, activations=None, names=None) -> np.ndarray:
    """The reconstruction of x through the layers (layers_in_order unless named); activations
    (names in numerics.ACTIVATIONS, one per layer) default to the handout's: ReLU hidden,
    sigmoid output."""
    names = names or layers_in_order(params)
    activations = activations or ["relu"] * (len(names) - 1) + ["sigmoid"]
    h = x
    for name, activation in zip(names, activations):
        _, h = numerics.layer_forward(h, params["W" + name], np.reshape(params["b" + name], -1), activation)
    return h


def squared_error_per_image(x, reconstruction) -> float:
    """The handout's loss of an image (squared error summed over its pixels), averaged over the
    images; infinity when the reconstruction is not finite."""
    recon = numerics.real_array(reconstruction)
    if recon is None or recon.shape != np.shape(x):
        return float("inf")
    return float(np.sum((recon - x) ** 2) / len(x))


def mean_psnr(x, reconstruction) -> float:
    """Mean over images of skimage's PSNR (data range 1, images in [0, 1])."""
    recon = np.clip(np.asarray(reconstruction, dtype=np.float64), 0.0, 1.0)
    if not np.all(np.isfinite(recon)):
        return float("-inf")
    return float(np.mean([peak_signal_noise_ratio(a, b, data_range=1.0) for a, b in zip(x, recon)]))


# --- PCA (the 2019 edition's Q6) ----------------------------------------------------------------

def principal_subspaces(x, k: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"centred": (mean, basis), "uncentred": (zeros, basis)}: the top-k principal directions
    of x (rows are examples) as an orthonormal (dims, k) basis, with and without the mean taken
    off first (the handout says only "run SVD on the training data"). From the eigenvectors of
    the (dims x dims) scatter matrix: the right singular vectors of x, in a second, not the
    several of an SVD of the whole set."""
    rows = np.asarray(x, dtype=float)
    mean = rows.mean(axis=0)
    out = {}
    for name, centre in (("centred", mean), ("uncentred", np.zeros_like(mean))):
        xc = rows - centre
        _, vectors = np.linalg.eigh(xc.T @ xc)
        out[name] = (centre, vectors[:, ::-1][:, :k])
    return out


def column_space(matrix) -> tuple[np.ndarray, int]:
    """(orthonormal basis of the columns' span, numerical rank) of a (dims, r) matrix."""
    matrix = np.asarray(matrix, dtype=np.float64)
    u, s, _ = np.linalg.svd(matrix, full_matrices=False)
    # numpy.linalg.matrix_rank's own tolerance, from the one SVD
    rank = int(np.sum(s > s.max(initial=0.0) * max(matrix.shape) * np.finfo(np.float64).eps))
    return u[:, :rank], rank


def subspace_cosine(a, b) -> float:
    """The cosine of the largest principal angle between the spans of two orthonormal bases
    (1: the same subspace; 0: some direction of one is orthogonal to the other)."""
    if a.shape[1] == 0 or b.shape[1] == 0:
        return 0.0
    return float(np.linalg.svd(a.T @ b, compute_uv=False).min()) if a.shape[1] == b.shape[1] else 0.0


def project(x, mean, basis) -> np.ndarray:
    """x reconstructed from its coordinates in the subspace (through the mean)."""
    return (np.asarray(x, dtype=np.float64) - mean) @ basis @ basis.T + mean


def psnr_values(x, reconstruction) -> set[float]:
    """The mean PSNR of the reconstructions, clipped to [0, 1] and as they are: a script may
    print either."""
    recon = np.asarray(reconstruction, dtype=np.float64)
    if not np.all(np.isfinite(recon)):
        return set()
    raw = float(np.mean([peak_signal_noise_ratio(a, b, data_range=1.0) for a, b in zip(x, recon)]))
    return {mean_psnr(x, recon), raw}
