"""Restricted unpickler for a student's weights file (q3_weights.pickle).

A pickle can name any importable callable and call it while loading, so an ordinary
pickle.load of a student's file runs the student's code in the grader.  This loader resolves
only the globals NumPy needs to rebuild arrays, dtypes and scalars, and then checks that what it
built is plain data: dict, list, tuple, int, float, str, bool, None and NumPy arrays of a numeric
dtype.  Anything else is refused with UnsafePickleError before any of it is used.

The work is bounded before it is done, since a few kilobytes can describe a huge structure: the
array constructors refuse sizes above MAX_BYTES before allocating, and the check walks the
structure counting every node as often as it is referenced (a list of lists of the same list is
exponentially many nodes in a 4 KB file) and gives up past MAX_NODES, iteratively.
"""
from __future__ import annotations

import functools
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
# A network's weights are a few arrays with names (and perhaps momentum copies and settings):
# a few dozen nodes and some megabytes. Shared references count once per reference, as every
# consumer of the loaded structure would walk them.
MAX_NODES = 100_000
MAX_BYTES = 512 << 20


class UnsafePickleError(ValueError):
    """The pickle holds something other than plain data and NumPy arrays."""


def _too_big(what, nbytes) -> UnsafePickleError:
    return UnsafePickleError(f"{what} holds arrays of more than {MAX_BYTES >> 20} MB in all "
                             f"({nbytes >> 20} MB or more); it was not loaded")


class _NdarrayName:
    """Stands for numpy.ndarray while loading: a direct call is size-checked, and _reconstruct
    accepts it for the class (no other class may be reconstructed)."""

    __slots__ = ("loader",)

    def __init__(self, loader):
        self.loader = loader

    def __call__(self, shape, dtype=float, *args, **kwargs):
        self.loader.reserve(shape, dtype)
        return np.ndarray(shape, dtype, *args, **kwargs)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, what):
        super().__init__(file)
        self.what = what
        self.allocated = 0

    def reserve(self, shape, dtype):
        """Refuse an array before it is allocated when it would pass MAX_BYTES in all."""
        try:
            shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
            itemsize = np.dtype(dtype).itemsize
        except (TypeError, ValueError, OverflowError) as exc:
            raise UnsafePickleError(f"{self.what} holds an array of an invalid shape or dtype ({exc})") from None
        count = 1
        for n in shape:
            if n < 0:
                raise UnsafePickleError(f"{self.what} holds an array of negative size")
            count *= n
        self.allocated += count * itemsize
        if self.allocated > MAX_BYTES:
            raise _too_big(self.what, self.allocated)

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            real = super().find_class(module, name)
            if name == "ndarray":
                return _NdarrayName(self)
            if name == "_reconstruct":
                return functools.partial(self._reconstruct, real)
            if name == "_frombuffer":
                return functools.partial(self._frombuffer, real)
            if name == "encode":
                return self._latin1
            return real
        raise UnsafePickleError(
            f"{self.what} refers to {module}.{name}, which a weights file may not contain: it can "
            "hold only dicts, lists, tuples, numbers, strings and NumPy arrays (it was not loaded)")

    def _reconstruct(self, real, subtype, shape, dtype):
        if not isinstance(subtype, _NdarrayName):
            raise UnsafePickleError(f"{self.what} reconstructs an array of another class; only plain "
                                    "NumPy arrays are allowed")
        self.reserve(shape, dtype)
        return real(np.ndarray, shape, dtype)

    def _frombuffer(self, real, buf, dtype, shape, order):
        self.reserve(shape, dtype)
        return real(buf, dtype, shape, order)

    def _latin1(self, text, encoding):
        # What NumPy's protocol-2 pickles use it for: the bytes of an array as a latin-1 string.
        if type(text) is not str or encoding not in ("latin1", "latin-1"):
            raise UnsafePickleError(f"{self.what} calls _codecs.encode other than as NumPy does")
        return text.encode("latin-1")

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.what} uses persistent ids, which a weights file may not contain")


def _check(obj, what):
    """Plain data only, walked without recursion, every reference counted (see MAX_NODES)."""
    todo, nodes, nbytes = [(obj, 0)], 1, 0
    while todo:
        obj, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise UnsafePickleError(f"{what} is nested more than {MAX_DEPTH} levels deep")
        if obj is None or type(obj) in (bool, int, float, str):
            continue
        if type(obj) in (list, tuple, dict):
            # counted before they are visited, so the walk's own list stays within the bound
            nodes += len(obj) * (2 if type(obj) is dict else 1)
            if nodes > MAX_NODES:
                raise UnsafePickleError(
                    f"{what} holds more than {MAX_NODES:,} values (counting each shared reference): "
                    "a weights file is a few named arrays; it was not loaded")
            items = obj if type(obj) is not dict else [v for pair in obj.items() for v in pair]
            todo += [(item, depth + 1) for item in items]
            continue
        if type(obj) is np.ndarray or isinstance(obj, np.generic):
            if obj.dtype.kind in _NUMERIC_KINDS and obj.dtype.fields is None:
                nbytes += obj.nbytes
                if nbytes > MAX_BYTES:
                    raise _too_big(what, nbytes)
                continue
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
