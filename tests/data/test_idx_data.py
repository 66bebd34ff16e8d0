"""The MNIST and EMNIST (balanced) stand-ins: real IDX files where torchvision 0.28 looks, read
offline by download=True, white on black, EMNIST transposed, deterministic, held-out sets apart."""
import struct
import urllib.request

import numpy as np
import pytest

from fixtures import idx_data

SMALL = {"train": 3, "test": 1}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Both stand-ins at their real sizes, built once for the module (the slow part)."""
    root = tmp_path_factory.mktemp("idx") / "data"
    idx_data.write_mnist(root, seed=0, workers=1)
    idx_data.write_emnist(root, seed=0, workers=1)
    return root


@pytest.fixture
def offline(monkeypatch):
    """Any download torchvision attempts fails the test."""
    tv_mnist = pytest.importorskip("torchvision.datasets.mnist")
    from torchvision.datasets import utils

    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request, "urlretrieve", refuse)
    for module in (tv_mnist, utils):
        for name in ("download_and_extract_archive", "download_url", "extract_archive"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refuse)
    return tv_mnist


def _ink_box(img: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(img > 64)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _upright_template(set_name: str, char: str, n: int = 40) -> np.ndarray:
    """The mean of freshly drawn upright `char`s (a stream the files do not use)."""
    rng = np.random.default_rng(12345)
    return np.mean([idx_data._sample(char, rng, idx_data.STYLES[set_name]) for _ in range(n)], axis=0)


def test_files_are_where_torchvision_looks_in_idx_format(root):
    raw = root / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        f"{s}-{k}-ubyte{gz}" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1")
        for gz in ("", ".gz"))
    assert sorted(p.name for p in (root / "EMNIST" / "raw").iterdir()) == sorted(
        f"emnist-balanced-{s}-{k}-ubyte" for s in ("train", "test") for k in ("images-idx3", "labels-idx1"))
    assert not (root / "MNIST" / "processed").exists() and not (root / "EMNIST" / "processed").exists()
    files = idx_data.mnist_files(root)
    head = files["train-images"].read_bytes()[:16]
    assert head == struct.pack(">IIII", 0x00000803, 6000, 28, 28)
    assert files["test-labels"].read_bytes()[:8] == struct.pack(">II", 0x00000801, 1000)
    head = idx_data.emnist_files(root)["test-images"].read_bytes()[:16]
    assert head == struct.pack(">IIII", 0x00000803, 1880, 28, 28)
    for path in files.values():
        assert np.array_equal(idx_data.read_idx(path), idx_data.read_idx(path.with_name(path.name + ".gz")))


@pytest.mark.parametrize("train, n", [(True, 6000), (False, 1000)])
def test_torchvision_mnist_reads_offline(root, offline, train, n):
    from torchvision.datasets import MNIST

    ds = MNIST(root=str(root), train=train, download=True)
    assert len(ds) == n and tuple(ds.data.shape) == (n, 28, 28)
    assert str(ds.data.dtype) == "torch.uint8" and len(ds.classes) == 10
    assert np.bincount(ds.targets.numpy()).tolist() == [n // 10] * 10
    image, label = ds[0]
    assert image.mode == "L" and image.size == (28, 28) and 0 <= label < 10
    split = "train" if train else "test"
    assert np.array_equal(ds.data.numpy(), idx_data.read_idx(idx_data.mnist_files(root)[f"{split}-images"]))


@pytest.mark.parametrize("train, n", [(True, 9400), (False, 1880)])
def test_torchvision_emnist_balanced_reads_offline(root, offline, train, n):
    from torchvision.datasets import EMNIST

    ds = EMNIST(root=str(root), split="balanced", train=train, download=True)
    assert len(ds) == n and tuple(ds.data.shape) == (n, 28, 28) and str(ds.data.dtype) == "torch.uint8"
    assert ds.classes == list(idx_data.EMNIST_BALANCED) and len(ds.classes) == 47
    assert np.bincount(ds.targets.numpy()).tolist() == [n // 47] * 47
    image, label = ds[0]
    assert image.mode == "L" and image.size == (28, 28) and 0 <= label < 47


def test_missing_split_still_fails_without_network(root, offline):
    from torchvision.datasets import EMNIST

    with pytest.raises(AssertionError, match="download was attempted"):
        EMNIST(root=str(root), split="letters", train=True, download=True)


@pytest.mark.parametrize("set_name", ["mnist", "emnist"])
def test_white_ink_on_black(root, set_name):
    files = idx_data.mnist_files(root) if set_name == "mnist" else idx_data.emnist_files(root)
    x = idx_data.read_idx(files["test-images"])
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)
    border = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)
    assert border.mean() < 2, "the background is black"
    assert (x.max(axis=(1, 2)) == 255).all(), "every character's strokes saturate"
    assert 0.05 < (x > 128).mean() < 0.3, "ink covers a minority of the pixels"


def test_mnist_digits_fit_20px_and_are_centred_by_mass(root):
    x = idx_data.read_idx(idx_data.mnist_files(root)["test-images"]).astype(float)
    rows = np.arange(28)
    mass = x.sum(axis=(1, 2))
    com_y = (x.sum(axis=2) * rows).sum(axis=1) / mass
    com_x = (x.sum(axis=1) * rows).sum(axis=1) / mass
    assert np.abs(com_y - 13.5).max() < 0.7 and np.abs(com_x - 13.5).max() < 0.7
    boxes = np.array([_ink_box(img) for img in x[:200]])
    assert boxes.max() <= 22 and np.median(boxes.max(axis=1)) >= 18


def test_emnist_is_stored_transposed(root):
    x = idx_data.read_idx(idx_data.emnist_files(root)["train-images"])
    y = idx_data.read_idx(idx_data.emnist_files(root)["train-labels"])
    for char in "F7":
        stored = x[y == idx_data.EMNIST_BALANCED.index(char)].astype(float).mean(axis=0)
        upright = _upright_template("emnist", char)
        assert _corr(stored.T, upright) > 0.8, char
        assert _corr(stored.T, upright) > _corr(stored, upright) + 0.15, char
    # most characters are taller than wide: so are the transposed images, not the stored ones
    boxes = np.array([_ink_box(img) for img in x[:500]])
    assert np.mean(boxes[:, 1] > boxes[:, 0]) > 0.6
    # MNIST is stored upright
    m = idx_data.read_idx(idx_data.mnist_files(root)["train-images"])
    my = idx_data.read_idx(idx_data.mnist_files(root)["train-labels"])
    stored = m[my == 7].astype(float).mean(axis=0)
    upright = _upright_template("mnist", "7")
    assert _corr(stored, upright) > _corr(stored.T, upright) + 0.15


def test_builds_are_byte_identical_whatever_the_workers(root, tmp_path):
    for write, files in ((idx_data.write_mnist, idx_data.mnist_files),
                         (idx_data.write_emnist, idx_data.emnist_files)):
        write(tmp_path / "a", seed=0, workers=1, per_class=SMALL)
        write(tmp_path / "b", seed=0, workers=2, per_class=SMALL)
        write(tmp_path / "c", seed=1, workers=1, per_class=SMALL)
        a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
        for key in a:
            assert a[key].read_bytes() == b[key].read_bytes(), key
        assert a["train-images"].read_bytes() != c["train-images"].read_bytes(), "the seed matters"
        # each class's stream is the same in any build: a small build's images are the first
        # ones of the full build's
        full = {bytes(img) for img in idx_data.read_idx(files(root)["train-images"])}
        small = idx_data.read_idx(a["train-images"])
        assert len(small) == SMALL["train"] * (10 if write is idx_data.write_mnist else 47)
        assert all(bytes(img) in full for img in small)


@pytest.mark.parametrize("name, per_class, classes", [
    ("mnist", 30, "0123456789"), ("emnist", 10, idx_data.EMNIST_BALANCED)])
def test_heldout_sets_are_apart_from_the_files(root, name, per_class, classes):
    held = idx_data.heldout(name, seed=0)
    x, y = held["x"], held["y"]
    assert x.dtype == np.uint8 and x.shape == (per_class * len(classes), 28, 28)
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [per_class] * len(classes)
    assert held["classes"].dtype.kind == "U" and "".join(held["classes"]) == classes
    files = idx_data.mnist_files(root) if name == "mnist" else idx_data.emnist_files(root)
    seen = {bytes(img) for split in ("train", "test") for img in idx_data.read_idx(files[f"{split}-images"])}
    assert not any(bytes(img) in seen for img in x)
    assert len({bytes(img) for img in x}) == len(x)
    # stored as in the files: EMNIST transposed
    char = "F" if name == "emnist" else "7"
    mean = x[y == classes.index(char)].astype(float).mean(axis=0)
    upright = _upright_template(name, char)
    view = mean.T if name == "emnist" else mean
    assert _corr(view, upright) > _corr(view.T, upright)
    first_class = idx_data._block(name, 0, idx_data._HELDOUT_SPLIT, 0, per_class)
    assert np.array_equal(first_class, x[:per_class]), "the same seed draws the same held-out set"


OWN_ROOT_SCRIPT = """
import os, urllib.request
def refuse(*args, **kwargs):
    raise RuntimeError("a download was attempted")
urllib.request.urlopen = urllib.request.urlretrieve = refuse
from graders.sandbox.shipped import offline_torch
offline_torch.install({data!r})
from torchvision.datasets import EMNIST, MNIST
mnist = MNIST(root={own!r}, train=False, download=True)
emnist = EMNIST(root={own!r}, split="balanced", train=False, download=True)
print("sizes", len(mnist), len(emnist))
print("copied", os.path.isfile(os.path.join({own!r}, "MNIST", "raw", "t10k-images-idx3-ubyte")))
offline_torch.install({nowhere!r})
try:
    MNIST(root={other!r}, train=False, download=True)
except Exception as err:
    print("no copy:", type(err).__name__)
"""


def test_a_root_of_the_scripts_own_is_served_the_offline_copy(root, tmp_path):
    """MNIST(root='./mnist_data', download=True), the tutorials' spelling: with offline_torch
    installed the grader's copy is put there instead of a download (run in a fresh interpreter,
    so that torchvision is patched only there); with no offline copy, torchvision downloads."""
    pytest.importorskip("torchvision")
    from test_torchdata import run_python
    out = run_python(OWN_ROOT_SCRIPT.format(data=str(root), own=str(tmp_path / "mnist_data"),
                                            nowhere=str(tmp_path / "none"), other=str(tmp_path / "other")))
    assert "sizes 1000 1880" in out and "copied True" in out
    assert "no copy: RuntimeError" in out
