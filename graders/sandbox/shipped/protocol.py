"""Plain-data codec shared by the trusted side and the sandboxed worker.

This file is copied into the sandbox and imported there on its own, so it must depend on the
standard library and NumPy only (never on the `graders` package).

A message is a JSON header plus binary blobs (NumPy arrays written with ``np.save`` and raw
bytes).  Decoding uses ``json.loads`` and ``np.load(allow_pickle=False)`` only, so a message from
an untrusted worker can never execute code on the trusted side.

Wire format of one frame: 8-byte big-endian payload length, then the payload:
4-byte header length, header JSON (UTF-8), then for each blob an 8-byte length and its bytes.

The header is bounded before it is parsed (MAX_HEADER_BYTES, and MAX_JSON_DEPTH measured by a
scan without recursion), so a forged frame cannot make the reader parse hundreds of megabytes of
JSON or recurse 100,000 levels deep: bulk data crosses as blobs, never in the header.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import struct

import numpy as np
from numpy.lib import format as npformat

# Marker keys.  A plain dict that happens to use one of them as its only key is sent in the
# pair form, so no student value can be mistaken for a marker.
_ARRAY, _BYTES, _TUPLE, _SET, _PAIRS, _COMPLEX, _FLOAT, _REF, _UNSUPPORTED = (
    "__ndarray__", "__bytes__", "__tuple__", "__set__", "__dict__", "__complex__", "__float__",
    "__ref__", "__unsupported__")
_MARKERS = {_ARRAY, _BYTES, _TUPLE, _SET, _PAIRS, _COMPLEX, _FLOAT, _REF, _UNSUPPORTED}

MAX_DEPTH = 64
# Every container level of an encoded value is at most two JSON levels (a tuple is a dict holding
# a list), and a message wraps its values in a few more.
MAX_JSON_DEPTH = 2 * MAX_DEPTH + 16
MAX_HEADER_BYTES = 32 << 20
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_LEN = struct.Struct(">Q")
_HLEN = struct.Struct(">I")


class ProtocolError(Exception):
    """A frame or message that does not follow the protocol."""


class Ref:
    """Names a callable of the submission (functions cannot cross the boundary as data)."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str):
        self.module, self.name = str(module), str(name)

    def __repr__(self):
        return f"Ref({self.module!r}, {self.name!r})"

    def __eq__(self, other):
        return isinstance(other, Ref) and (self.module, self.name) == (other.module, other.name)

    def __hash__(self):
        return hash((self.module, self.name))


def unsupported(obj) -> dict:
    return {_UNSUPPORTED: type(obj).__name__}


class _Encoder:
    def __init__(self, ref_of=None):
        self.blobs: list[bytes] = []
        self.ref_of = ref_of      # maps an object back to the Ref it was resolved from
        self._active: set[int] = set()

    def blob(self, *parts) -> int:
        self.blobs.append(parts)
        return len(self.blobs) - 1

    def encode(self, obj, depth=0):
        # bool before int (bool is an int); numbers before containers.
        if obj is None or type(obj) in (bool, str):
            return obj
        if isinstance(obj, str):
            return str.__str__(obj)
        if isinstance(obj, int):
            return int.__index__(obj)
        if isinstance(obj, float):
            f = float(obj)
            return f if math.isfinite(f) else {_FLOAT: repr(f)}
        if isinstance(obj, complex):
            return {_COMPLEX: [self.encode(obj.real), self.encode(obj.imag)]}
        if isinstance(obj, np.generic):
            if isinstance(obj, (np.number, np.bool_)):
                return self.encode(obj.item(), depth)
            return unsupported(obj)
        if isinstance(obj, Ref):
            return {_REF: [obj.module, obj.name]}
        if self.ref_of is not None:
            ref = self.ref_of(obj)
            if ref is not None:
                return {_REF: [ref.module, ref.name]}
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return {_BYTES: self.blob(bytes(obj))}
        if isinstance(obj, np.ndarray):
            return self._array(obj)
        if not isinstance(obj, (list, tuple, dict, set, frozenset)):
            return unsupported(obj)
        if depth >= MAX_DEPTH or id(obj) in self._active:
            return unsupported(obj)    # too deep or self-referencing
        self._active.add(id(obj))
        try:
            return self._container(obj, depth + 1)
        finally:
            self._active.discard(id(obj))

    def _array(self, arr):
        arr = np.asarray(arr)       # subclasses (matrix, masked) lose their class, keep data
        if arr.dtype.hasobject:
            return unsupported(arr)
        # The .npy format (as np.save writes it), sent without copying the data.
        if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
            arr = np.ascontiguousarray(arr)
        header = io.BytesIO()
        npformat.write_array_header_2_0(header, npformat.header_data_from_array_1_0(arr))
        data = arr.T if not arr.flags.c_contiguous else arr
        return {_ARRAY: self.blob(header.getvalue(), memoryview(data.reshape(-1).view(np.uint8)))}

    def _container(self, obj, depth):
        if isinstance(obj, tuple):
            return {_TUPLE: [self.encode(v, depth) for v in obj]}
        if isinstance(obj, list):
            return [self.encode(v, depth) for v in obj]
        if isinstance(obj, (set, frozenset)):
            return {_SET: [self.encode(v, depth) for v in obj]}
        # dict and subclasses (Counter, OrderedDict, defaultdict) become a plain dict.
        if all(type(k) is str for k in obj) and not (len(obj) == 1 and next(iter(obj)) in _MARKERS):
            return {k: self.encode(v, depth) for k, v in obj.items()}
        return {_PAIRS: [[self._key(k, depth), self.encode(v, depth)] for k, v in obj.items()]}

    def _key(self, key, depth):
        if _plain_key(key):
            return self.encode(key, depth)
        return {_UNSUPPORTED: type(key).__name__, "repr": _short_repr(key)}


def _plain_key(key) -> bool:
    if key is None or isinstance(key, (bool, int, float, str, complex, np.number, np.bool_)):
        return True
    return isinstance(key, tuple) and all(_plain_key(k) for k in key)


def _short_repr(obj) -> str:
    try:
        text = repr(obj)
    except Exception:       # a hostile __repr__ must not break encoding
        text = "<unrepresentable>"
    return text[:200]


class _Decoder:
    def __init__(self, blobs, make_ref):
        self.blobs = blobs
        self.make_ref = make_ref

    def blob(self, index):
        if not isinstance(index, int) or not 0 <= index < len(self.blobs):
            raise ProtocolError(f"bad blob index {index!r}")
        return self.blobs[index]

    def decode(self, obj):
        if isinstance(obj, list):
            return [self.decode(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        if len(obj) == 1:
            (key, val), = obj.items()
            if key in _MARKERS:
                return self._marker(key, val)
        if _UNSUPPORTED in obj:       # an unsupported dict key carries its repr too
            return dict(obj)
        return {k: self.decode(v) for k, v in obj.items()}

    def _marker(self, key, val):
        if key == _ARRAY:
            return load_array(self.blob(val))
        if key == _BYTES:
            return bytes(self.blob(val))
        if key == _TUPLE:
            return tuple(self.decode(v) for v in val)
        if key == _SET:
            return set(self._hashable(self.decode(v)) for v in val)
        if key == _COMPLEX:
            return complex(*val)
        if key == _FLOAT:
            return float(val)
        if key == _REF:
            return self.make_ref(*val)
        if key == _PAIRS:
            return {self._hashable(self.decode(k)): self.decode(v) for k, v in val}
        return {key: val}              # _UNSUPPORTED: kept as the marker dict itself

    @staticmethod
    def _hashable(key):
        try:
            hash(key)
            return key
        except TypeError:
            return _short_repr(key)


def load_array(view: memoryview) -> np.ndarray:
    """An array from .npy bytes, as np.load(allow_pickle=False) reads it, in a single copy."""
    try:
        if bytes(view[:6]) != npformat.MAGIC_PREFIX:
            raise ValueError("not an .npy blob")
        major = view[6]
        hlen_size = 2 if major == 1 else 4
        hlen = int.from_bytes(view[8:8 + hlen_size], "little")
        start = 8 + hlen_size + hlen
        head = io.BytesIO(bytes(view[:start]))
        npformat.read_magic(head)
        read_header = {1: npformat.read_array_header_1_0, 2: npformat.read_array_header_2_0}[major]
        shape, fortran, dtype = read_header(head)
        if dtype.hasobject:
            raise ValueError("object arrays need pickle")
        count = math.prod(shape)
        if len(view) - start != count * dtype.itemsize:
            raise ValueError("array data of the wrong length")
        flat = np.frombuffer(view[start:], dtype=dtype, count=count)
        arr = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
        return arr.copy(order="K")
    except (ValueError, KeyError, IndexError, TypeError, SyntaxError) as exc:
        raise ProtocolError(f"bad array: {exc}") from None


def encode_parts(obj, ref_of=None) -> list:
    """A message payload (without the frame length) as a list of buffers; arrays not copied."""
    enc = _Encoder(ref_of)
    header = json.dumps(enc.encode(obj), allow_nan=False, separators=(",", ":")).encode()
    parts = [_HLEN.pack(len(header)), header]
    for blob in enc.blobs:
        parts.append(_LEN.pack(sum(memoryview(p).nbytes for p in blob)))
        parts += blob
    return parts


def encode(obj, ref_of=None) -> bytes:
    """Serialize plain data to a message payload (without the frame length)."""
    return b"".join(encode_parts(obj, ref_of))


def check_header_length(hlen: int) -> None:
    """Refuse a header longer than MAX_HEADER_BYTES (before reading it)."""
    if hlen > MAX_HEADER_BYTES:
        raise ProtocolError(f"its header of plain values is {hlen:,} bytes long, more than the "
                            f"{MAX_HEADER_BYTES >> 20} MB allowed (arrays cross separately); it was not read")


def json_depth(text: bytes) -> int:
    """How deeply the JSON text nests, counted without parsing it (strings set aside)."""
    bare = np.frombuffer(_STRING.sub(b'""', text), np.uint8)
    brackets = bare[(bare == 91) | (bare == 123) | (bare == 93) | (bare == 125)]
    if not brackets.size:
        return 0
    steps = np.where((brackets == 91) | (brackets == 123), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max())


def decode(payload, make_ref=Ref):
    """Inverse of encode; raises ProtocolError on anything malformed.  Nothing is unpickled."""
    view = memoryview(payload)
    try:
        (hlen,) = _HLEN.unpack_from(view, 0)
        check_header_length(hlen)
        text = bytes(view[4:4 + hlen])
        if json_depth(text) > MAX_JSON_DEPTH:
            raise ProtocolError(f"its header nests more than {MAX_JSON_DEPTH} levels deep; it was not parsed")
        header = json.loads(text)
        pos, blobs = 4 + hlen, []
        while pos < len(view):
            (n,) = _LEN.unpack_from(view, pos)
            pos += 8
            if pos + n > len(view):
                raise ProtocolError("truncated blob")
            blobs.append(view[pos:pos + n])
            pos += n
    except (struct.error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(f"malformed message: {exc}") from None
    try:
        return _Decoder(blobs, make_ref).decode(header)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise ProtocolError(f"malformed value: {exc}") from None


def frame_parts(obj, ref_of=None) -> list:
    """One framed message (its length, then the payload) as a list of buffers."""
    parts = encode_parts(obj, ref_of)
    parts.insert(0, _LEN.pack(sum(memoryview(p).nbytes for p in parts)))
    return parts


def write_frame(fd: int, obj, ref_of=None) -> None:
    """Blocking write of one framed message to a file descriptor."""
    for part in frame_parts(obj, ref_of):
        data = memoryview(part).cast("B")
        while data:
            data = data[os.write(fd, data):]


def read_exact(fd: int, n: int) -> bytearray:
    """Blocking read of exactly n bytes; EOFError if the pipe closes first."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = os.readv(fd, [view[got:got + (1 << 20)]])
        if not k:
            raise EOFError
        got += k
    return buf


def read_frame(fd: int, make_ref=Ref):
    """Blocking read of one framed message (the worker side; the trusted side adds deadlines)."""
    (n,) = _LEN.unpack(read_exact(fd, 8))
    return decode(read_exact(fd, n), make_ref)


FRAME_HEADER = _LEN
