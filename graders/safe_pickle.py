"""Restricted unpickler for a student's weights file (q3_weights.pickle).

A pickle can name any importable callable and call it while loading, so an ordinary
pickle.load of a student's file runs the student's code in the grader.  This loader resolves
only the globals NumPy needs to rebuild arrays, dtypes and scalars, and then checks that what it
built is plain data: dict, list, tuple, int, float, str, bool, None and NumPy arrays of a numeric
dtype.  Anything else is refused with UnsafePickleError before any of it is used.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

# Every spelling NumPy 1.x and 2.x write for the array, dtype and scalar constructors; the
# _codecs.encode entry rebuilds bytes in protocol-2 pickles (it only encodes a str).
_ALLOWED = {
    (mod, name)
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {
    (mod, "_frombuffer") for mod in ("numpy.core.numeric", "numpy._core.numeric")
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

_NUMERIC_KINDS = "biufc"          # bool, signed, unsigned, float, complex
MAX_DEPTH = 32


class UnsafePickleError(ValueError):
    """The pickle holds something other than plain data and NumPy arrays."""


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, what):
        super().__init__(file)
        self.what = what

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self.what} refers to {module}.{name}, which a weights file may not contain: it can "
            "hold only dicts, lists, tuples, numbers, strings and NumPy arrays (it was not loaded)")

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.what} uses persistent ids, which a weights file may not contain")


def _check(obj, what, depth=0):
    if depth > MAX_DEPTH:
        raise UnsafePickleError(f"{what} is nested more than {MAX_DEPTH} levels deep")
    if obj is None or type(obj) in (bool, int, float, str):
        return
    if type(obj) in (list, tuple):
        for item in obj:
            _check(item, what, depth + 1)
        return
    if type(obj) is dict:
        for key, value in obj.items():
            _check(key, what, depth + 1)
            _check(value, what, depth + 1)
        return
    if type(obj) is np.ndarray or isinstance(obj, np.generic):
        if obj.dtype.kind in _NUMERIC_KINDS and obj.dtype.fields is None:
            return
        raise UnsafePickleError(f"{what} holds a NumPy array of dtype {obj.dtype}; only numeric arrays are allowed")
    raise UnsafePickleError(f"{what} holds a value of type {type(obj).__name__}; only dicts, lists, tuples, "
                            "numbers, strings and NumPy arrays are allowed")


def load_weights(source, what: str | None = None):
    """Load a weights pickle from a path, bytes or a binary file, refusing anything unsafe."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, what = bytes(source), what or "the weights file"
    elif isinstance(source, (str, Path)):
        data, what = Path(source).read_bytes(), what or Path(source).name
    else:
        data, what = source.read(), what or "the weights file"
    try:
        obj = _Unpickler(io.BytesIO(data), what).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any malformed pickle is the student's file's fault
        raise UnsafePickleError(f"{what} could not be read as a pickle: {type(exc).__name__}: {exc}") from None
    _check(obj, what)
    return obj
