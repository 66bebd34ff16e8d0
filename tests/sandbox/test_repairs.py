"""Repairs (graders/sandbox/shipped/repairs.py): code written for older libraries and other machines runs in the
sandbox, each repair is recorded with the student's file and line, gives the modern call's
result, and costs what the rubric says (free, a deduction, refused; --strict refuses all).

Whole grades of realistic submissions, with their TA verdicts, are in test_realistic.py.
"""
from __future__ import annotations

import importlib.util

import re
import textwrap

import numpy as np
import pytest
import scipy.io
import skimage
import skimage.color
import skimage.filters
import skimage.measure
import skimage.metrics
import skimage.morphology
import skimage.restoration
import skimage.transform

from graders.sandbox.shipped import repairs
from graders.checks import rubric as rubric_mod
from graders.checks import static
from graders.sandbox.sandbox import Sandbox
from support import grade_cli, not_passed
from test_realistic import submission


OLD = textwrap.dedent('''\
    import numpy as np
    import matplotlib
    import matplotlib.pyplot as plt
    import skimage.color
    import skimage.filters
    import skimage.measure
    import skimage.morphology
    import skimage.restoration
    import skimage.transform
    from skimage.measure import compare_psnr


    def np_names(a):
        return (np.zeros(2, dtype=np.float).dtype.str, np.asscalar(a[:1]), np.product(a), np.alltrue(a > -1),
                np.cumproduct(a), np.NaN, np.Inf, np.round_(a + 0.4), np.in1d(a, [1.0]), np.trapz(a),
                np.array([1], dtype=np.int).dtype.kind, np.array([1], dtype=np.bool8).dtype.kind)


    def psnr(a, b):
        return compare_psnr(a, b)


    def ssim(a, b):
        return skimage.measure.compare_ssim(a, b, multichannel=True, data_range=1.0)


    def mse(a, b):
        return skimage.measure.compare_mse(a, b)


    def noise(img):
        return skimage.restoration.estimate_sigma(img, multichannel=True, average_sigmas=True)


    def bilateral(img):
        return skimage.restoration.denoise_bilateral(img, multichannel=True)


    def tv(img):
        return skimage.restoration.denoise_tv_chambolle(img, weight=0.1, multichannel=True)


    def blur(img):
        return skimage.filters.gaussian(img, sigma=2, multichannel=True)


    def blur_grey(img):
        return skimage.filters.gaussian(img[..., 0], sigma=2, multichannel=False)


    def smaller(img):
        return skimage.transform.rescale(img, 0.5, multichannel=True)


    def grey(img):
        return skimage.color.rgb2grey(img)


    def closing(mask):
        return skimage.morphology.binary_closing(mask, selem=skimage.morphology.square(3))


    def label4(mask):
        return skimage.measure.label(mask, neighbors=4)


    def label8(mask):
        return skimage.measure.label(mask, neighbors=8)


    def imresize(img):
        from scipy.misc import imresize
        return imresize(img, (10, 12))


    def hist(x):
        plt.figure()
        plt.hold(True)
        n, _, _ = plt.hist(x, bins=5, normed=True)
        return n


    def colormap():
        return matplotlib.cm.get_cmap('gray')(0.5)
''')

RNG = np.random.default_rng(7)
IMG = RNG.random((24, 20, 3))
OTHER = np.clip(IMG + RNG.normal(0, 0.05, IMG.shape), 0, 1)
MASK = RNG.random((20, 20)) > 0.6
VALUES = np.array([0.5, 1.0, 2.0, 3.0])


def _modern_np_names(a):
    return (np.zeros(2, dtype=float).dtype.str, a[:1].item(), np.prod(a), np.all(a > -1), np.cumprod(a),
            np.nan, np.inf, np.round(a + 0.4), np.isin(a, [1.0]).ravel(), np.trapezoid(a), "i", "b")


def _modern_imresize(img):
    from PIL import Image
    scaled = ((img - img.min()) * (255.0 / (img.max() - img.min()))).clip(0, 255) + 0.5
    return np.array(Image.fromarray(scaled.astype(np.uint8)).resize((12, 10), resample=Image.BILINEAR))


# function of OLD -> (args, the modern call's result, words of the recorded old spelling, kind)
CASES = {
    "np_names": ((VALUES,), _modern_np_names(VALUES), ("np.float", "np.asscalar", "np.product", "np.alltrue",
                                                       "np.cumproduct", "np.NaN", "np.Inf", "np.round_",
                                                       "np.in1d", "np.trapz", "np.int", "np.bool8"), "numpy"),
    "psnr": ((IMG, OTHER), skimage.metrics.peak_signal_noise_ratio(IMG, OTHER), ("compare_psnr",), "scikit-image"),
    "ssim": ((IMG, OTHER), skimage.metrics.structural_similarity(IMG, OTHER, channel_axis=-1, data_range=1.0),
             ("compare_ssim", "structural_similarity(multichannel=True)"), "scikit-image"),
    "mse": ((IMG, OTHER), skimage.metrics.mean_squared_error(IMG, OTHER), ("compare_mse",), "scikit-image"),
    "noise": ((IMG,), skimage.restoration.estimate_sigma(IMG, channel_axis=-1, average_sigmas=True),
              ("estimate_sigma(multichannel=True)",), "scikit-image"),
    "bilateral": ((IMG,), skimage.restoration.denoise_bilateral(IMG, channel_axis=-1),
                  ("denoise_bilateral(multichannel=True)",), "scikit-image"),
    "tv": ((IMG,), skimage.restoration.denoise_tv_chambolle(IMG, weight=0.1, channel_axis=-1),
           ("denoise_tv_chambolle(multichannel=True)",), "scikit-image"),
    "blur": ((IMG,), skimage.filters.gaussian(IMG, sigma=2, channel_axis=-1), ("gaussian(multichannel=True)",),
             "scikit-image"),
    "blur_grey": ((IMG,), skimage.filters.gaussian(IMG[..., 0], sigma=2, channel_axis=None),
                  ("gaussian(multichannel=False)",), "scikit-image"),
    "smaller": ((IMG,), skimage.transform.rescale(IMG, 0.5, channel_axis=-1), ("rescale(multichannel=True)",),
                "scikit-image"),
    "grey": ((IMG,), skimage.color.rgb2gray(IMG), ("rgb2grey",), "scikit-image"),
    "closing": ((MASK,), skimage.morphology.binary_closing(MASK, footprint=skimage.morphology.square(3)),
                ("binary_closing(selem=...)",), "scikit-image"),
    "label4": ((MASK,), skimage.measure.label(MASK, connectivity=1), ("label(neighbors=4)",), "scikit-image"),
    "label8": ((MASK,), skimage.measure.label(MASK, connectivity=2), ("label(neighbors=8)",), "scikit-image"),
    "imresize": ((IMG,), _modern_imresize(IMG), ("scipy.misc.imresize",), "scipy"),
    "hist": ((VALUES,), np.histogram(VALUES, bins=5, density=True)[0], ("matplotlib.pyplot.hold", "hist(normed=True)"),
             "matplotlib"),
    "colormap": ((), __import__("matplotlib").colormaps["gray"](0.5), ("matplotlib.cm.get_cmap",), "matplotlib"),
}


def _same(got, want) -> bool:
    if isinstance(want, tuple):
        return isinstance(got, (tuple, list)) and len(got) == len(want) and all(map(_same, got, want))
    if isinstance(want, str):
        return got == want
    got, want = np.asarray(got), np.asarray(want)
    return got.shape == want.shape and np.allclose(got, want, equal_nan=True)


OLD_DIR: list = []


@pytest.fixture(scope="module")
def old_code(tmp_path_factory):
    root = tmp_path_factory.mktemp("old")
    (root / "python").mkdir()
    (root / "python" / "old.py").write_text(OLD)
    OLD_DIR[:] = [root / "python"]
    (root / "data").mkdir()
    scipy.io.savemat(root / "data" / "nist36_train.mat", {"train_data": np.eye(3)})
    return root


@pytest.fixture(scope="module")
def repaired(old_code):
    with Sandbox(old_code / "python", old_code / "data") as box:
        yield box


@pytest.fixture(scope="module")
def refused(old_code):
    with Sandbox(old_code / "python", old_code / "data", repairs={"allowed": []}) as box:
        yield box


# a repair recorded under the modern name, on the line spelling the old one
SPELLED_AS = {"structural_similarity": "compare_ssim"}


def _line(function: str, words: str) -> int:
    """The line of OLD inside `function` that spells `words` (the recorded line must be it)."""
    lines = OLD.splitlines()
    start = next(i for i, text in enumerate(lines) if text.startswith(f"def {function}("))
    name = words.split("(")[0].split(".")[-1]
    key = re.compile(r"\b" + re.escape(SPELLED_AS.get(name, name)) + r"\b")
    return next(i + 1 for i in range(start + 1, len(lines)) if key.search(lines[i]))


@pytest.mark.parametrize("function", CASES)
def test_each_repair_fires_is_recorded_and_gives_the_modern_result(repaired, function):
    args, want, spellings, kind = CASES[function]
    if function == "psnr":
        # imported at the top of old.py: recorded by the call that imports the module
        with Sandbox(OLD_DIR[0], None) as fresh:
            outcome = fresh.call("old", function, *args, return_args=False)
    else:
        outcome = repaired.call("old", function, *args, return_args=False)
    assert outcome.ok, outcome.message
    assert _same(outcome.value, want), (outcome.value, want)
    mine = [r for r in outcome.repairs if r["kind"] == kind and r["file"] == "old.py"]
    for spelling in spellings:
        found = [r for r in mine if spelling in r["old"]]
        assert found, (spelling, outcome.repairs)
        if function != "psnr":          # compare_psnr's import is at the top of the file
            assert all(r["line"] == _line(function, spelling) for r in found), found
        assert all(r["new"] and r["new"] != r["old"] for r in found)


@pytest.mark.parametrize("function", ["np_names", "bilateral", "grey", "closing", "label8", "psnr", "imresize"])
def test_a_refused_repair_is_not_installed_and_the_code_fails_as_it_would(refused, function):
    outcome = refused.call("old", function, *CASES[function][0], return_args=False)
    assert not outcome.ok and outcome.repairs == []
    assert any(word in outcome.message for word in ("AttributeError", "TypeError", "ImportError")), outcome.message


def test_libraries_probing_removed_names_are_not_answered(old_code):
    """Only the student's own code is answered: library code asking for np.float_ (pydoc here,
    numpy's version probes elsewhere) learns the truth, so it takes the path for today's NumPy."""
    (old_code / "python" / "probe.py").write_text(
        "import pydoc\nimport numpy as np\n"
        "def probe():\n    return pydoc.locate('numpy.float_') is None, np.float_ is np.float64\n")
    with Sandbox(old_code / "python", old_code / "data") as box:
        outcome = box.call("probe", "probe", return_args=False)
    assert outcome.ok and list(outcome.value) == [True, True], outcome.message
    assert [(r["line"], r["old"]) for r in outcome.repairs] == [(4, "np.float_")]


def test_a_function_a_package_re_exports_is_wrapped_once(old_code):
    """skimage.color's rgb2gray is colorconv's: one keyword wrapper serves both names (each
    layer would add a frame to every call of the student's)."""
    (old_code / "python" / "reexport.py").write_text(
        "import skimage.color\nimport skimage.color.colorconv as cc\n"
        "def layers():\n    f, n = skimage.color.rgb2gray, 0\n"
        "    while getattr(f, '__hw5_repaired__', False):\n        f, n = f.__wrapped__, n + 1\n"
        "    return n, skimage.color.rgb2gray is cc.rgb2gray\n")
    with Sandbox(old_code / "python", old_code / "data") as box:
        outcome = box.call("reexport", "layers", return_args=False)
    assert outcome.ok and list(outcome.value) == [1, True], (outcome.message, outcome.value)


def test_other_machines_paths_and_missing_folders(old_code):
    (old_code / "python" / "paths.py").write_text(textwrap.dedent('''\
        import os
        import numpy as np
        import scipy.io
        import matplotlib.pyplot as plt


        def windows():
            return scipy.io.loadmat('C:\\\\Users\\\\me\\\\hw5\\\\data\\\\nist36_train.mat')['train_data']


        def rooted():
            return scipy.io.loadmat('data/nist36_train.mat')['train_data']


        def results():
            os.makedirs('../results', exist_ok=True)
            plt.plot([1, 2])
            plt.savefig('../results/curve.png')
            np.save('../results/x.npy', np.arange(3))
            return np.load('../results/x.npy')


        def pickle_from_an_earlier_run():
            import pickle
            with open('q3_weights.pickle', 'rb') as f:
                return pickle.load(f)
    '''))
    with Sandbox(old_code / "python", old_code / "data") as box:
        for function in ("windows", "rooted"):
            outcome = box.call("paths", function, return_args=False)
            assert outcome.ok and np.array_equal(outcome.value, np.eye(3)), outcome.message
            served = [r for r in outcome.repairs if r["kind"] == "data-path"]
            assert served and served[0]["new"] == "../data/nist36_train.mat" and served[0]["file"] == "paths.py"
            assert any(r["kind"] == repairs.DATA_READ and r["new"] == "nist36_train.mat" for r in outcome.repairs)
        outcome = box.call("paths", "results", return_args=False)
        assert outcome.ok and list(outcome.value) == [0, 1, 2], outcome.message
        assert {r["line"] for r in outcome.repairs if r["kind"] == "output-folder"} >= {16, 18, 19}
        outcome = box.call("paths", "pickle_from_an_earlier_run", return_args=False)
        assert not outcome.ok and outcome.repairs == []
        assert "q3_weights.pickle is not in the submission" in outcome.message
        assert "training = False" in outcome.message
    with Sandbox(old_code / "python", old_code / "data", repairs={"allowed": []}) as box:
        outcome = box.call("paths", "windows", return_args=False)
        assert not outcome.ok and "FileNotFoundError" in outcome.message


def test_another_machines_path_to_the_photos_lists_and_reads_them_from_images(old_code, tmp_path):
    """run_q4 written as os.listdir('C:\\...\\hw5\\images') then imread of each: served from
    ../images, as the data is from ../data, and said."""
    images = tmp_path / "images"
    images.mkdir()
    skimage.io.imsave(images / "01_list.png", np.arange(60, dtype=np.uint8).reshape(4, 5, 3) * 4)
    (old_code / "python" / "photos.py").write_text(textwrap.dedent('''\
        import os
        import skimage.io

        FOLDER = 'C:\\\\Users\\\\me\\\\hw5\\\\images'


        def read_all():
            return [(name, skimage.io.imread(os.path.join(FOLDER, name)).shape) for name in sorted(os.listdir(FOLDER))]
    '''))
    with Sandbox(old_code / "python", old_code / "data", images) as box:
        outcome = box.call("photos", "read_all", return_args=False)
    assert outcome.ok, outcome.message
    assert [(n, tuple(s)) for n, s in outcome.value] == [("01_list.png", (4, 5, 3))]
    served = {r["new"] for r in outcome.repairs if r["kind"] == "data-path"}
    assert served == {"../images", "../images/01_list.png"}, outcome.repairs


# --- policy -------------------------------------------------------------------------------------

def _rubric_with(tmp_path, policy: str) -> rubric_mod.Rubric:
    text = (rubric_mod.RUBRICS / "2022.toml").read_text()
    start = text.index("[repairs]")
    end = text.index("\n[", start + 1)
    path = tmp_path / "2022.toml"
    path.write_text(text[:start] + "[repairs]\n" + policy + "\n" + text[end:])
    return rubric_mod.load("2022", path)


def _checks(rubric, kinds):
    qid = "Q2.2.1"
    return [{"question": qid, "name": "test_a", "status": "passed", "weight": 1.0,
             "repairs": [{"kind": k, "file": "nn.py", "line": 3, "old": f"old {k}", "new": "new"} for k in kinds]}]


def test_policy_free_deduction_refused_and_strict(tmp_path):
    default = rubric_mod.load("2022")
    assert set(default.repair_policy().values()) == {rubric_mod.FREE}
    assert default.sandbox_repairs()["allowed"] == sorted(repairs.KINDS)
    assert set(default.repair_policy(strict=True).values()) == {rubric_mod.REFUSED}
    assert default.sandbox_repairs(strict=True)["allowed"] == []
    free = default.score(_checks(default, ["numpy"]))
    assert free["score"] == default["Q2.2.1"].points and free["repairs"]["deductions"] == {}

    course = _rubric_with(tmp_path, 'numpy = 1.5\n"data-path" = "refused"')
    assert "data-path" not in course.sandbox_repairs()["allowed"]
    assert "numpy" in course.sandbox_repairs()["allowed"]
    scored = course.score(_checks(course, ["numpy", "numpy", "scikit-image"]))
    assert scored["repairs"]["deductions"] == {"numpy": 1.5}        # once per kind, not per use
    assert scored["score"] == course["Q2.2.1"].points - 1.5
    assert [r["checks"] for r in scored["repairs"]["fired"]] == [["test_a"], ["test_a"]]
    # a deduction never makes the score negative
    nothing = course.score([{**_checks(course, ["numpy"])[0], "status": "failed"}])
    assert nothing["score"] == 0.0

    for bad in ('numpy = "maybe"', "numpy = -1", 'unknown = "free"', "numpy = true"):
        with pytest.raises(rubric_mod.RubricError):
            _rubric_with(tmp_path, bad)


def test_the_graders_scan_backs_a_silenced_repairs_log(tmp_path):
    """The repairs' log comes from the student's process; a kind the grader's own scan finds
    costs its deduction even when the log is empty, and once only when both tell of it."""
    course = _rubric_with(tmp_path, "numpy = 1.5\nscipy = 0.5")
    scan = [{"kind": "numpy", "file": "nn.py", "line": 3, "text": "np.float"},
            {"kind": "scikit-image", "file": "q4.py", "line": 9, "text": "rgb2grey"}]
    silenced = course.score(_checks(course, []), scan)
    assert silenced["repairs"]["deductions"] == {"numpy": 1.5}          # scikit-image is free
    assert [r["kind"] for r in silenced["repairs"]["unreported"]] == ["numpy", "scikit-image"]
    assert silenced["score"] == course["Q2.2.1"].points - 1.5
    told = course.score(_checks(course, ["numpy"]), scan)
    assert told["repairs"]["deductions"] == {"numpy": 1.5} and told["score"] == silenced["score"]
    assert [r["kind"] for r in told["repairs"]["unreported"]] == ["scikit-image"]
    assert course.score(_checks(course, []))["repairs"]["deductions"] == {}


def test_static_check_and_repairs_share_one_table(tmp_path):
    """The static check names what the sandbox repairs, with the same modern spelling."""
    assert set(static.REMOVED_NUMPY_ALIASES) == set(repairs.NUMPY_REMOVED)
    for keyword in static.STATIC_KEYWORDS:
        assert keyword in repairs.KEYWORDS_REMOVED
    assert {old for _, old in repairs.NAMES_REMOVED} >= set(static.STATIC_NAMES)
    (tmp_path / "nn.py").write_text("import numpy as np\ndef f(x, max_iter=3):\n    return np.product(x)\n")
    found = static.drift_findings(tmp_path / "nn.py")
    assert [(f.line, f.text) for f in found] == [(3, "np.product was removed in NumPy 2.x (deprecated in 1.25): "
                                                     "use np.prod")]


# --- --strict on realistic submissions ------------------------------------------------------

@pytest.mark.parametrize("name, select, lost", [
    ("np_float_nn", "init_shapes or loss_acc_returns", {"init_shapes", "loss_acc_returns_two_numbers"}),
    ("rgb2grey_selem", "find_letters and boxes_format and page_01", {"find_letters_boxes_format[page_01.jpg]"}),
])
def test_strict_refuses_every_repair(tmp_path, name, select, lost):
    results = grade_cli(submission(tmp_path, name, "2022"), tmp_path / "out", "-k", select, "--strict")
    assert not_passed(results) == lost
    assert results["repairs"]["fired"] == [] and set(results["repair_policy"].values()) == {"refused"}
    advisory = next(c for c in results["checks"] if c["name"] == "test_ran_without_repairs")
    assert advisory["status"] == "passed" and "--strict" in advisory["description"]


GPU_CODE = """import torch
import torchvision.transforms as transforms
from torchvision.datasets import CIFAR10


def on_gpu():
    device = torch.device('cuda:0')
    net = torch.nn.Linear(3, 2).cuda()
    x = torch.ones(4, 3).to(device)
    y = torch.zeros(4, 2, device='cuda') + net(x)
    return str(y.device), float(y.sum())


def loader():
    data = torch.utils.data.TensorDataset(torch.arange(10.0))
    batches = torch.utils.data.DataLoader(data, batch_size=5, num_workers=4, persistent_workers=True)
    return [b[0].tolist() for b in batches], batches.num_workers


def scale():
    return type(transforms.Scale(8)).__name__


def cifar_names():
    c = CIFAR10.__new__(CIFAR10)
    c.data, c.targets = [1, 2], [0, 1]
    return c.train_data, c.test_labels
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None,
                    reason="torch and torchvision are not installed (tox -e tests installs them)")
def test_pytorch_for_a_gpu_machine_runs_on_the_cpu_and_is_recorded(tmp_path):
    """CUDA asked for without a GPU, DataLoader workers, transforms.Scale and CIFAR10's old
    names: repaired (kind "pytorch") on the line that spells them; refused, the code fails."""
    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "gpu.py").write_text(GPU_CODE)
    lines = GPU_CODE.splitlines()
    with Sandbox(tmp_path / "python") as box:
        gpu = box.call("gpu", "on_gpu")
        assert gpu.ok and gpu.value[0] == "cpu", gpu.message
        assert [(r["old"], lines[r["line"] - 1].strip()[:12]) for r in gpu.repairs] == [
            (".cuda()", "net = torch."), (".to('cuda')", "x = torch.on"), ("device='cuda'", "y = torch.ze")]
        loader = box.call("gpu", "loader")
        assert loader.ok and loader.value == ([[0.0, 1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0, 9.0]], 0)
        assert [r["old"] for r in loader.repairs] == ["DataLoader(num_workers=4)"]
        scale = box.call("gpu", "scale")
        assert scale.ok and scale.value == "Resize" and scale.repairs[0]["new"] == "torchvision.transforms.Resize"
        cifar = box.call("gpu", "cifar_names")
        assert cifar.ok and cifar.value == ([1, 2], [0, 1]) and {r["kind"] for r in cifar.repairs} == {"pytorch"}
    with Sandbox(tmp_path / "python", repairs={"allowed": []}) as box:
        gpu = box.call("gpu", "on_gpu")
        assert not gpu.ok and not gpu.repairs and ("NVIDIA" in gpu.message or "CUDA" in gpu.message), gpu.message
