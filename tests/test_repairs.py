"""Repairs (graders/repairs.py): code written for older libraries and other machines runs in the
sandbox, each repair is recorded with the student's file and line, gives the modern call's
result, and costs what the rubric says (free, a deduction, refused; --strict refuses all).

tests/realistic/ holds submissions written in real habits (each folder: the student's own files,
laid over the edition's reference for the files it does not hold, and a README with the TA's
verdict); each is graded with only the checks its habits touch (-k).
"""
from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

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

from graders import editions, repairs, rubric as rubric_mod, static
from graders.sandbox import Sandbox
from support import grade_cli, not_passed

REPO = Path(__file__).resolve().parent.parent
REALISTIC = REPO / "tests" / "realistic"

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


# --- whole grades -------------------------------------------------------------------------------

def _submission(tmp_path: Path, name: str, edition: str) -> Path:
    """The realistic submission's own files over the edition's reference (the files it lacks)."""
    base = editions.compose(REPO / "reference", edition, tmp_path / "composed") if edition != editions.BASE \
        else REPO / "reference" / "python"
    python_dir = tmp_path / name / "python"
    shutil.copytree(base, python_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pickle"))
    for path in (REALISTIC / name / "python").iterdir():
        shutil.copy(path, python_dir / path.name)
    return python_dir


# name -> (edition, -k selection, checks that must not pass, repair kinds fired, words of the
# messages: (check, words)); every other selected check must pass (see each folder's README)
REALISTIC_VERDICTS = {
    "np_float_nn": ("2022", "init_ or softmax or loss_acc or backwards or batches", {"ran_without_repairs"},
                    {"numpy"}, ("ran_without_repairs", "nn.py, line 14: np.float -> float")),
    "findletters_multichannel": ("2022", "find_letters and (recall or precision)", {"ran_without_repairs"},
                                 {"scikit-image"}, ("ran_without_repairs", "line 24: skimage.restoration."
                                                    "denoise_bilateral(multichannel=True)")),
    "rgb2grey_selem": ("2022", "find_letters and (recall or precision)", {"ran_without_repairs"}, {"scikit-image"},
                       ("ran_without_repairs", "label(neighbors=8) -> skimage.measure.label(connectivity=2)")),
    "psnr_windows_paths": ("2022", "run_q5_finishes or q5_psnr or q5_loss_falls", {"ran_without_repairs"},
                           {"scikit-image", "data-path", "output-folder"},
                           ("ran_without_repairs", "C:\\Users\\jdoe\\Documents\\16720\\hw5\\data\\nist36_train.mat "
                                                   "-> ../data/nist36_train.mat")),
    "training_false_pickle": ("2022", "q3_training", {"run_q3_finishes", "q3_weights_saved",
                                                      "q3_weights_keys_and_shapes", "q3_validation_accuracy",
                                                      "q3_plots_shown"},
                              set(), ("run_q3_finishes", "q3_weights.pickle is not in the submission")),
    "plain_names_2019": ("2019", "q3_training or q3_second_set", {"ran_without_repairs"}, {"output-folder"},
                         ("ran_without_repairs", "../results/q3_1_acc.png -> a scratch folder")),
    "data1_names_2019": ("2019", "q3_training or q3_second_set", set(), set(), None),
}
# what each 2019 submission read (the recording of data files opened)
DATA_READ = {"plain_names_2019": {"nist36_train.mat", "nist36_valid.mat", "nist36_test.mat"},
             "data1_names_2019": {"data1/nist36_train_set1.mat", "data1/nist36_valid_set1.mat",
                                  "data1/nist36_test_set1.mat"}}


def test_every_realistic_submission_has_a_verdict():
    folders = {p.name for p in REALISTIC.iterdir() if p.is_dir()}
    assert folders == set(REALISTIC_VERDICTS)
    for name in folders:
        assert (REALISTIC / name / "README").read_text().count("TA verdict") == 1


@pytest.mark.parametrize("name", REALISTIC_VERDICTS)
def test_realistic_submission_earns_its_verdict(tmp_path, name):
    edition, select, failing, kinds, says = REALISTIC_VERDICTS[name]
    results = grade_cli(_submission(tmp_path, name, edition), tmp_path / "out", "--edition", edition, "-k", select)
    assert not_passed(results) == failing, [(c["name"], c["message"][:300]) for c in results["checks"]
                                            if c["status"] not in ("passed", "skipped")]
    fired = results["repairs"]["fired"]
    assert {r["kind"] for r in fired} == kinds
    assert all(r["file"] and r["line"] > 0 and r["checks"] for r in fired), fired
    if says:
        check, words = says
        message = next(c for c in results["checks"] if c["name"] == "test_" + check)["message"]
        assert words in message, message
    if name in DATA_READ:
        assert set(results["repairs"]["data_read"]) == DATA_READ[name]
        assert any("course data files the scripts read" in n for n in results["notes"])
        data2 = next(c for c in results["checks"] if c["name"] == "test_network_learns_data2")
        assert data2["status"] == "passed" and data2["data"]["data2_accuracy"]["valid"] < 1


@pytest.mark.parametrize("name, select, lost", [
    ("np_float_nn", "init_shapes or loss_acc_returns", {"init_shapes", "loss_acc_returns_two_numbers"}),
    ("rgb2grey_selem", "find_letters and boxes_format and page_01", {"find_letters_boxes_format[page_01.jpg]"}),
])
def test_strict_refuses_every_repair(tmp_path, name, select, lost):
    results = grade_cli(_submission(tmp_path, name, "2022"), tmp_path / "out", "-k", select, "--strict")
    assert not_passed(results) == lost
    assert results["repairs"]["fired"] == [] and set(results["repair_policy"].values()) == {"refused"}
    advisory = next(c for c in results["checks"] if c["name"] == "test_ran_without_repairs")
    assert advisory["status"] == "passed" and "--strict" in advisory["description"]
