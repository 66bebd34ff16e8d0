"""The restricted unpickler for weights files: plain data and numeric arrays in, nothing else."""
import collections
import os
import pickle
import pickletools
import time

import numpy as np
import pytest

from graders.checks.safe_pickle import UnsafePickleError, load_weights


def weights():
    rng = np.random.default_rng(0)
    return {"Wlayer1": rng.standard_normal((1024, 64)), "blayer1": np.zeros(64, np.float32),
            "m_Wlayer1": np.zeros((1024, 64)), "epochs": 50, "lr": np.float64(1e-2),
            "sizes": (1024, 64, 36), "names": ["layer1", "output"], "flag": np.bool_(True),
            "mask": np.ones(3, bool), "c": np.complex128(1j), "nothing": None}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_weights_load_in_every_protocol(protocol):
    original = weights()
    loaded = load_weights(pickle.dumps(original, protocol=protocol))
    assert loaded.keys() == original.keys()
    for key, value in original.items():
        assert type(loaded[key]) is type(value)
        assert np.array_equal(loaded[key], value) if isinstance(value, np.ndarray) else loaded[key] == value
    assert loaded["Wlayer1"].dtype == np.float64 and loaded["blayer1"].dtype == np.float32


def test_loads_from_a_path_and_a_file(tmp_path):
    path = tmp_path / "q3_weights.pickle"
    path.write_bytes(pickle.dumps({"W": np.eye(2)}))
    assert np.array_equal(load_weights(path)["W"], np.eye(2))
    with open(path, "rb") as f:
        assert np.array_equal(load_weights(f)["W"], np.eye(2))


class _RunsCode:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_code_in_a_pickle_is_refused_and_not_run(tmp_path):
    target = str(tmp_path / "PWNED")
    payload = pickle.dumps({"W": np.eye(2), "trap": _RunsCode(target)})
    pickle.loads(pickle.dumps(_RunsCode(target + "_control")))     # the payload works ...
    assert os.path.isdir(target + "_control")
    with pytest.raises(UnsafePickleError, match=r"refers to posix\.mkdir.*was not loaded"):
        load_weights(payload, "q3_weights.pickle")                  # ... but not here
    assert not os.path.exists(target)


@pytest.mark.parametrize("global_name", [
    b"builtins\neval", b"os\nsystem", b"subprocess\nPopen", b"numpy\nload",
    b"numpy.testing\nassert_allclose", b"collections\nOrderedDict", b"builtins\ngetattr"])
def test_any_other_global_is_refused(global_name):
    # protocol 0: c<module>\n<name>\n then call it with an empty tuple
    payload = b"c" + global_name + b"\n(tR."
    with pytest.raises(UnsafePickleError, match="may not contain"):
        load_weights(payload)


@pytest.mark.parametrize("value, culprit", [
    (np.array([1, "a"], dtype=object), "dtype object"),
    (np.array(["text"]), "dtype <U4"),
    (np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]), "dtype"),
    ({1, 2}, "set"),
    (b"raw", "bytes"),
    (collections.Counter("ab"), "refers to collections.Counter"),
    (np.ma.masked_array([1, 2]), "refers to numpy.ma"),
])
def test_anything_but_plain_data_is_refused(value, culprit):
    with pytest.raises(UnsafePickleError, match=culprit):
        load_weights(pickle.dumps(value))


def test_garbage_is_a_clear_error():
    with pytest.raises(UnsafePickleError, match="could not be read as a pickle"):
        load_weights(b"\x80\x04not a pickle", "q3_weights.pickle")


def test_only_allowed_globals_appear_in_a_numpy_pickle():
    # Guards the allowlist against NumPy renaming its reconstructors.
    names = {arg for op, arg, _ in pickletools.genops(pickle.dumps(weights(), protocol=2))
             if op.name == "GLOBAL"}
    assert names <= {"numpy._core.multiarray _reconstruct", "numpy._core.multiarray scalar",
                     "numpy.core.multiarray _reconstruct", "numpy.core.multiarray scalar",
                     "numpy ndarray", "numpy dtype", "_codecs encode"}


def test_shared_references_load_but_count_each_time():
    w = np.ones((4, 3))
    loaded = load_weights(pickle.dumps({"W": w, "m_W": w, "layers": [w, w]}))
    assert loaded["W"] is loaded["m_W"]        # shared as pickled, and allowed
    row = [0.0] * 1000
    start = time.perf_counter()
    with pytest.raises(UnsafePickleError, match="more than 100,000 values"):
        load_weights(pickle.dumps({"W": [row] * 1000}))     # 8 KB, a million values
    assert time.perf_counter() - start < 0.5


def test_nesting_is_bounded_without_recursion():
    # 100,000 empty lists, each appended to the one below (pickle itself would recurse to write it)
    deep = b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b"."
    with pytest.raises(UnsafePickleError, match="nested more than 32 levels"):
        load_weights(deep)


@pytest.mark.parametrize("shape, dtype", [((10**10,), "f8"), ((1 << 20, 1 << 20), "u1"), ((10**6,), "(1000,)f8")])
def test_arrays_too_large_are_refused_before_they_are_allocated(shape, dtype):
    # what a 100-byte pickle can ask numpy.ndarray for
    with pytest.raises(UnsafePickleError, match="more than 512 MB"):
        load_weights(_reduce(b"numpy\nndarray\n", pickle.dumps((shape, np.dtype(dtype)), protocol=2)))


def _reduce(global_name: bytes, args_pickle: bytes) -> bytes:
    """A protocol-2 pickle calling global_name(*args) with args pickled in args_pickle."""
    body = args_pickle[2:-1]          # without PROTO and STOP
    return b"\x80\x02c" + global_name + body + b"R."
