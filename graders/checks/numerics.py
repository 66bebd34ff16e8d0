"""Trusted mathematics used by the public checks.

Public checks ship to students, so nothing here comes from the reference solution: the forward
pass and loss are written with scipy's expit and softmax, and gradients are checked against
central differences of those.
"""
from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax

ACTIVATIONS = {"sigmoid": expit, "linear": lambda z: z, "relu": lambda z: np.maximum(z, 0),
               "tanh": np.tanh}


def layer_forward(X, W, b, activation: str = "sigmoid"):
    """(pre_act, post_act) of one fully connected layer, X @ W + b then the activation."""
    pre = X @ W + b
    return pre, ACTIVATIONS[activation](pre)


def row_softmax(x):
    return softmax(x, axis=1)


def cross_entropy_sum(y, probs) -> float:
    """Cross-entropy summed over the examples, natural log (the handout's loss)."""
    return float(-np.sum(y * np.log(probs)))


def accuracy(y, probs) -> float:
    return float(np.mean(np.argmax(y, axis=1) == np.argmax(probs, axis=1)))


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function f with respect to every entry of x (in place,
    restored afterwards)."""
    grad = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        plus = f()
        x[index] = original - eps
        minus = f()
        x[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def two_layer_loss(params: dict, x, y, hidden: str = "layer1", output: str = "output") -> float:
    """run_q2's network: a sigmoid hidden layer, a softmax output, summed cross-entropy."""
    _, h = layer_forward(x, params["W" + hidden], params["b" + hidden], "sigmoid")
    pre = h @ params["W" + output] + params["b" + output]
    return cross_entropy_sum(y, row_softmax(pre))


def two_layer_gradients(params: dict, x, y, eps: float = 1e-6) -> dict:
    """Central-difference gradients of two_layer_loss for every real parameter (no '_')."""
    work = {k: np.array(v, dtype=np.float64) for k, v in params.items()
            if "_" not in k and isinstance(v, np.ndarray)}
    return {k: numerical_gradient(lambda: two_layer_loss(work, x, y), work[k], eps) for k in work}


def relative_error(a, b) -> float:
    """A scale-free distance: ||a-b|| / (||a|| + ||b||), 0 when both are zero.

    Infinity (which no at_most passes) unless both are finite real arrays of one shape with at
    least one entry: a NaN, a complex or an empty array never agrees with anything."""
    a, b = real_array(a), real_array(b)
    if a is None or b is None or a.shape != b.shape or a.size == 0:
        return float("inf")
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / denom) if denom > 0 else 0.0


# --- numbers from the student's process: nothing passes unless it is a finite real number -----
# One helper for every check: a comparison with NaN is False, so `not (err > bound)` lets NaN
# through; complex, object and string dtypes slip past np.allclose's casts. Every threshold is
# therefore judged as at_most/at_least of a value that real_array or finite_number accepted.

def real_array(x) -> np.ndarray | None:
    """x as a float64 array when it is a real numeric array (or number) whose entries are all
    finite; None for NaN, infinity, complex, bool, object, string or ragged data."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (np.ndarray, int, float, np.number)):
        return None
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf":
        return None
    arr = arr.astype(np.float64, copy=False)
    return arr if np.isfinite(arr).all() else None


def finite_number(x) -> float | None:
    """x as a float when it is one finite real number (a 0-d or 1-element array counts)."""
    arr = real_array(x)
    return float(arr.reshape(-1)[0]) if arr is not None and arr.size == 1 else None


def at_most(value, bound) -> bool:
    """value <= bound, and value a finite real number (NaN, inf, complex: False)."""
    v = finite_number(value)
    return v is not None and v <= bound


def at_least(value, bound) -> bool:
    """value >= bound, and value a finite real number (NaN, inf, complex: False)."""
    v = finite_number(value)
    return v is not None and v >= bound


def defect(x) -> str | None:
    """What keeps x from being a finite real array, in the student's words ("NaN", "complex
    numbers", ...), or None when real_array accepts it. Messages read "<what> holds <defect>"."""
    if real_array(x) is not None:
        return None
    if x is None:
        return "None"
    if isinstance(x, (bool, np.bool_)):
        return "a boolean"
    if isinstance(x, (str, bytes)):
        return "text"
    if isinstance(x, complex):
        return "a complex number"
    if isinstance(x, dict) and "__unsupported__" in x:
        # what graders.sandbox.shipped.protocol sends in place of data it does not carry (object arrays above all)
        kind = x["__unsupported__"]
        return "Python objects (dtype object), not numbers" if kind == "ndarray" else f"a {kind}"
    if not isinstance(x, (np.ndarray, np.number, int, float)):
        return f"a {type(x).__name__}, not a NumPy array"
    kind = np.asarray(x).dtype.kind
    if kind == "c":
        return "complex numbers"
    if kind == "b":
        return "booleans"
    if kind in "USa":
        return "text"
    if kind == "O":
        return "Python objects (dtype object), not numbers"
    if kind != "f":
        return f"values of dtype {np.asarray(x).dtype} (not real numbers)"
    arr = np.asarray(x)
    return "NaN" if np.isnan(arr).any() else "infinity"
