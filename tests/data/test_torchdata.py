"""The PyTorch part's offline data: real formats the real library reads, held-out sets apart
from what students see, the SqueezeNet stand-in where torchvision looks, deterministic bytes."""
import hashlib
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from fixtures import cache, torchdata
from support import REPO


@pytest.fixture(scope="module")
def profile():
    pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    return cache.build_torch(seed=0, log=lambda *_: None)


def run_python(code: str, **env) -> str:
    """Run code in a fresh interpreter (so torchvision is patched only there); its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO), **env))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_cifar_batches_are_python2_pickles_read_both_ways(profile):
    folder = profile.data_dir / "cifar-10-batches-py"
    with open(folder / "data_batch_1", "rb") as f:
        latin1 = pickle.load(f, encoding="latin1")  # what torchvision does
    with open(folder / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="bytes")      # the CIFAR website's recipe
    assert set(latin1) == {"batch_label", "labels", "data", "filenames"}
    assert set(raw) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert latin1["data"].dtype == np.uint8 and latin1["data"].shape == (1000, 3072)
    assert np.array_equal(latin1["data"], raw[b"data"])
    assert sorted(set(latin1["labels"])) == list(range(10))
    manifest = json.loads((folder / "STANDIN.json").read_text())
    for name in ("data_batch_1", "data_batch_5", "test_batch", "batches.meta"):
        assert manifest[name] == hashlib.md5((folder / name).read_bytes()).hexdigest()


CIFAR_SCRIPT = """
import sys, os, collections
from graders.sandbox.shipped import offline_torch
offline_torch.install({data!r})
import torchvision
assert "torch" in sys.modules
from torchvision.datasets import CIFAR10
train = CIFAR10(root={data!r}, train=True, download=True)
test = CIFAR10(root={data!r}, train=False, download=True)
print("sizes", len(train), len(test), train.data.shape)
print("classes", ",".join(train.classes))
print("counts", sorted(collections.Counter(train.targets).values()))
fresh = CIFAR10(root={empty!r}, train=False, download=True)       # copies the offline folder
print("copied", os.path.isfile(os.path.join({empty!r}, "cifar-10-batches-py", "test_batch")), len(fresh))
try:
    CIFAR10(root={missing!r}, train=False, download=False)
except RuntimeError as err:
    print("missing", err)
from torchvision.datasets import cifar
real = os.path.join({empty!r}, "other.bin")
open(real, "wb").write(b"real file")
import hashlib
print("real md5 passes", cifar.check_integrity(real, hashlib.md5(b"real file").hexdigest()))
print("wrong md5 fails", not cifar.check_integrity(real, "0" * 32))
"""


def test_torchvision_cifar10_reads_the_standin_offline(profile, tmp_path):
    out = run_python(CIFAR_SCRIPT.format(data=str(profile.data_dir), empty=str(tmp_path / "data"),
                                         missing=str(tmp_path / "nowhere")))
    assert "sizes 5000 1000 (5000, 32, 32, 3)" in out
    assert f"classes {','.join(torchdata.CIFAR_CLASSES)}" in out
    assert "counts [500, 500, 500, 500, 500, 500, 500, 500, 500, 500]" in out
    assert "copied True 1000" in out
    assert "missing Dataset not found" in out, "download=False on an empty root must fail as before"
    assert "real md5 passes True" in out and "wrong md5 fails True" in out


def test_install_imports_no_torch():
    out = run_python("import sys\nfrom graders.sandbox.shipped import offline_torch\noffline_torch.install('/nonexistent')\n"
                     "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))")
    assert out.strip() == "[]"


@pytest.mark.parametrize("tree, splits, classes", [
    ("sun_scenes", torchdata.SUN_SPLITS, torchdata.SUN_CLASSES),
    ("oxford-flowers17", torchdata.FLOWER_SPLITS, torchdata.FLOWER_CLASSES),
])
def test_imagefolder_reads_the_trees(profile, tree, splits, classes):
    from torchvision.datasets import ImageFolder

    for split, per_class in splits.items():
        ds = ImageFolder(str(profile.data_dir / tree / split))
        assert ds.classes == sorted(classes) and len(ds.classes) == len(classes)
        assert np.bincount(ds.targets).tolist() == [per_class] * len(classes)
        image, label = ds[len(ds) - 1]
        assert image.mode == "RGB" and min(image.size) >= 100 and label == len(classes) - 1


def test_squeezenet_standin_loads_through_torchvision(profile):
    code = ("import numpy as np\n"
            "from torchvision.models import squeezenet1_1, SqueezeNet1_1_Weights\n"
            "m = squeezenet1_1(weights=SqueezeNet1_1_Weights.IMAGENET1K_V1)\n"
            f"ref = np.load({str(profile.truth_dir / 'squeezenet1_1_standin.npz')!r})\n"
            "sd = m.state_dict()\n"
            "print(sorted(sd) == sorted(ref.files), all(np.array_equal(sd[k].numpy(), ref[k]) for k in ref.files))\n")
    assert run_python(code, TORCH_HOME=str(profile.torch_home)).split() == ["True", "True"]
    assert "squeezenet1_1" in profile.standins and "cifar10" in profile.standins


@pytest.mark.parametrize("name, shape, classes", [
    ("nist36", (1024,), 36), ("cifar10", (32, 32, 3), 10),
    ("sun_scenes", (128, 128, 3), 8), ("flowers17", (160, 160, 3), 17),
])
def test_heldout_sets_have_shapes_and_labels(profile, name, shape, classes):
    with np.load(profile.truth_dir / f"heldout_{name}.npz") as z:
        x, y, names = z["x"], z["y"], z["classes"]
    assert x.shape[1:] == shape and len(x) == len(y)
    assert np.bincount(y).tolist() == [len(y) // classes] * classes
    if name in ("sun_scenes", "flowers17"):
        assert list(names) == sorted(names), "labels must follow ImageFolder's (sorted) order"
    if name == "cifar10":
        assert list(names) == list(torchdata.CIFAR_CLASSES)
        assert x.dtype == np.uint8


def test_heldout_sets_stay_out_of_data(profile):
    assert not list(profile.data_dir.rglob("heldout*")) and not list(profile.data_dir.rglob("*.npz"))
    assert profile.truth_dir.parent == profile.data_dir.parent
    with np.load(profile.truth_dir / "heldout_cifar10.npz") as z:
        held = {row.tobytes() for row in z["x"].transpose(0, 3, 1, 2).reshape(len(z["x"]), -1)}
    with open(profile.data_dir / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        seen = {row.tobytes() for row in pickle.load(f, encoding="latin1")["data"]}
    assert not held & seen, "held-out pictures must be drawn apart from the training ones"


def test_building_again_gives_identical_bytes(profile, tmp_path):
    nist = cache.synthetic(0).data_dir
    torchdata.write_torch_data(tmp_path, nist, seed=0, log=lambda *_: None)
    built = sorted(p.relative_to(profile.root) for p in profile.root.rglob("*") if p.is_file())
    again = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert again == [p for p in built if p.name != "COMPLETE"]
    differ = [str(p) for p in again if (tmp_path / p).read_bytes() != (profile.root / p).read_bytes()]
    assert not differ


@pytest.mark.slow
def test_staff_heldout_sets_come_from_the_key(profile, tmp_path, monkeypatch):
    """Under a course key the held-out sets are drawn from it: same sizes and classes as the
    public ones, other inputs (which a student cannot draw with the handout's generators)."""
    monkeypatch.setattr(cache, "cache_root", lambda: tmp_path)
    staff = torchdata.staff_heldout(bytes(range(32)), log=lambda *_: None)
    assert staff.parent.parent == tmp_path
    assert sorted(p.name for p in staff.iterdir()) == sorted(f"heldout_{s}.npz" for s in torchdata.HELDOUT_SETS)
    for name in torchdata.HELDOUT_SETS:
        with np.load(staff / f"heldout_{name}.npz") as mine, np.load(profile.truth_dir / f"heldout_{name}.npz") as public:
            assert mine["x"].shape == public["x"].shape and mine["x"].dtype == public["x"].dtype, name
            assert np.array_equal(mine["y"], public["y"]) and np.array_equal(mine["classes"], public["classes"])
            assert not np.array_equal(mine["x"], public["x"]), name
