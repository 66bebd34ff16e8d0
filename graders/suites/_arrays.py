"""What a check does with the arrays and numbers a student's function returned: take them only
when they are finite real arrays of the right shape, and fail with what the student can act on
("sigmoid returned complex numbers", "params['Wlayer1'] has shape (64, 1024) ...: did you
transpose?"). Every number from the student's process passes through here (or
graders.checks.numerics.finite_number) before it is compared with anything. Shared by the Q2 suites,
public and hidden.
"""
from __future__ import annotations

import numpy as np

from graders.checks import numerics
from graders.results.messages import Failure, Mismatch, Missing, NotImplementedYet, describe



def finite(value, what: str, hint: str = "") -> np.ndarray:
    """value as a float64 array when it is a finite real array; otherwise the failure that says
    what it holds ("params['grad_Wlayer1'] holds NaN"). Every number from the student's process
    passes through here (or numerics.finite_number) before it is compared with anything."""
    arr = numerics.real_array(value)
    if arr is None:
        raise Failure(f"{what} holds {numerics.defect(value)}", hint=hint)
    return arr


def param(params, key: str, function: str) -> np.ndarray:
    """params[key] after a call, as a finite real array (Missing / not implemented otherwise)."""
    if not isinstance(params, dict):
        raise Failure(f"{function} replaced params with {describe(params)}",
                      hint="fill the dictionary you are given; do not rebind it")
    if key not in params:
        raise Missing(f"params[{key!r}]", f"params after {function}",
                      present=sorted(map(str, params)))
    value = params[key]
    if value is None:
        raise NotImplementedYet(function, f"params[{key!r}] is None")
    value = finite(value, f"params[{key!r}] after {function}")
    if value.ndim == 0:
        raise Mismatch(f"params[{key!r}]", "a NumPy array", describe(params[key]))
    return value


def as_array(value, what: str, hint: str = "") -> np.ndarray:
    """What a function returned, as a finite real array ("sigmoid returned complex numbers")."""
    if value is None:
        raise NotImplementedYet(what, "it returned None")
    trouble = numerics.defect(value)
    if trouble:
        raise Failure(f"{what} returned {trouble}", hint=hint)
    if not isinstance(value, np.ndarray):
        raise Mismatch(f"{what} returned", "a NumPy array", describe(value))
    return numerics.real_array(value)


def expect_shape(actual: np.ndarray, shape: tuple, what: str, like: str = "") -> None:
    if actual.shape == tuple(shape):
        return
    hint = ""
    if actual.shape == tuple(shape)[::-1] and len(shape) == 2:
        hint = "did you transpose?"
    elif actual.size == int(np.prod(shape)):
        hint = "right number of entries, wrong shape: check which axis is which"
    like = f"; it must match {like}, {tuple(shape)}" if like else f"; expected {tuple(shape)}"
    raise Failure(f"{what} has shape {actual.shape}{like}" + (f": {hint}" if hint else ""),
                  expected=str(tuple(shape)), actual=str(actual.shape))


def expect_close(actual: np.ndarray, expected: np.ndarray, what: str, *, rtol=1e-6, atol=1e-9,
                 hint: str = "") -> None:
    actual = finite(actual, what, hint=hint or "look for overflow in np.exp")
    if actual.shape != expected.shape:
        expect_shape(actual, expected.shape, what)
    if np.allclose(actual, expected, rtol=rtol, atol=atol):
        return
    bad = np.unravel_index(np.argmax(np.abs(actual - expected) - rtol * np.abs(expected)), expected.shape)
    where = f" at {list(map(int, bad))}" if expected.ndim else ""
    raise Failure(f"{what} is wrong{where}: expected {expected[bad]:.6g}, got {actual[bad]:.6g}",
                  hint=hint)


def scalar(value, what: str) -> float:
    """One finite real number (a 1-element array counts); the failure names what it was."""
    number = numerics.finite_number(value) if not isinstance(value, (list, tuple)) else None
    if number is None:
        trouble = numerics.defect(value)
        size = getattr(value, "size", 1)
        raise Mismatch(what, "a single finite number",
                       f"{describe(value)} ({trouble})" if trouble and size == 1 else describe(value))
    return number
