"""The training checks (Q3.1, Q5.x) judged on known submissions, and the trusted evaluation.

The reference is graded once per test session (shared by the xdist workers through a file
lock) with the Q3 and Q5 suites only; every wrong submission is graded with the suite of the
script it changes. Each wrong folder in tests/wrong/ holds a complete copy of the one script
it changes (its README says which real mistake it models); the table says exactly which checks
must not pass. A wrong copy lowers max_iters only where that cannot change which checks fail
(it says so in a comment), to keep the tests inside CI's budget.
"""
from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from graders.checks import evaluation, numerics
from graders.staff import stubs
from support import assert_fails_exactly, check, grade_cli, not_passed, ran, shared_grade

REPO = Path(__file__).resolve().parents[2]
WRONG = Path(__file__).resolve().parents[1] / "wrong"
HOSTILE = Path(__file__).resolve().parents[1] / "hostile"
SUITES = REPO / "graders" / "suites"
QUESTIONS = ("Q3.1", "Q5.1.1", "Q5.1.2", "Q5.2", "Q5.3.2")
Q3_ONLY, Q5_ONLY = "q3_training", "q5_autoencoder"


def checks_of(module: str) -> set[str]:
    return {node.name.removeprefix("test_") for node in ast.parse((SUITES / f"{module}.py").read_text()).body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


Q3_CHECKS, Q5_CHECKS = checks_of(Q3_ONLY), checks_of(Q5_ONLY)
Q3_AFTER_SAVE = {"q3_weights_saved", "q3_weights_keys_and_shapes", "q3_validation_accuracy"}
# what a run_q5 whose network never trained fails (training is judged by its result): all but its
# layer shapes and its activations (running to its end is credit for a run that trained)
Q5_UNTRAINED = Q5_CHECKS - {"q5_layer_sizes", "q5_activations"}

# name -> (suite graded, the checks (test_ dropped) that must NOT pass; the suite's others must pass)
EXPECTED = {
    # 5 epochs of a network whose updates are thrown away: still at chance, so neither running to
    # its end nor its plots are credit for training
    "q3_never_learns": (Q3_ONLY, {"q3_validation_accuracy", "run_q3_finishes", "q3_plots_shown"}),
    # the saved names are not the handout's: the grader cannot tell which array is which layer
    "q3_wrong_keys": (Q3_ONLY, {"q3_weights_keys_and_shapes", "q3_validation_accuracy"}),
    # hidden 32 is still evaluated (and stays below 75%); the shape check names the handout's 64
    "q3_hidden_32": (Q3_ONLY, {"q3_weights_keys_and_shapes", "q3_validation_accuracy"}),
    "q3_never_saves": (Q3_ONLY, Q3_AFTER_SAVE),
    # FileNotFoundError at the first line: nothing runs, nothing is saved, nothing is shown
    "q3_hardcoded_paths": (Q3_ONLY, {"run_q3_finishes", "q3_plots_shown"} | Q3_AFTER_SAVE),
    # tests/hostile/evil_pickle: weights whose unpickling would run os.mkdir; no plots
    "evil_pickle": (Q3_ONLY, Q3_AFTER_SAVE | {"q3_plots_shown", "run_q3_finishes"}),
    # plain gradient descent still reaches about 14.3 dB in 100 epochs: only momentum fails
    "ae_no_momentum": (Q5_ONLY, {"q5_momentum_accumulators", "q5_momentum_updated"}),
    # about 11 dB even through its own sigmoids; the grader's PSNR runs the handout's network
    "ae_sigmoid_hidden": (Q5_ONLY, {"q5_activations", "q5_psnr"}),
    # never backpropagated nor updated: the network is as fresh as it began (error ratio 1.0), so
    # nothing about its training is judged; its layers and activations are real
    "ae_never_trained": (Q5_ONLY, Q5_UNTRAINED),
    # 64 units in the middle reconstruct at least as well: only the sizes are wrong
    "ae_hidden_64": (Q5_ONLY, {"q5_layer_sizes"}),
    # the same training (the gradient is unchanged); only the reported loss is a mean
    "ae_mean_loss": (Q5_ONLY, {"q5_loss_is_total_squared_error"}),
    # FileNotFoundError at the first line: nothing to check behind it, nothing shown
    "ae_hardcoded_path": (Q5_ONLY, Q5_CHECKS),
    # the update loop skips keys holding '_', so hidden_1 and hidden_2 keep their initial weights
    # and zero accumulators; the other layers make up for much of it (13.5 dB here, see MAY_FAIL)
    "ae_hidden_never_updated": (Q5_ONLY, {"q5_momentum_accumulators", "q5_momentum_updated"}),
    # layer1 backpropagated from hidden2's delta: the loss still falls (13.6 dB here, see MAY_FAIL),
    # but layer1's gradients are not the squared error's (relative error 0.70)
    "ae_wrong_delta": (Q5_ONLY, {"q5_backpropagates_squared_error"}),
    # m_* updated every batch but the weights stepped by plain gradient descent: slower training
    # (13.8 dB on seed 0, see MAY_FAIL), and the last step does not follow m_*
    "ae_momentum_unused": (Q5_ONLY, {"q5_momentum_updated"}),
}
# name -> checks that pass or fail with the draw (the grading seed follows the submission's
# files): a knock-on of the mistake, neither required nor forbidden
MAY_FAIL = {"ae_hidden_never_updated": {"q5_psnr"}, "ae_wrong_delta": {"q5_psnr"}, "ae_momentum_unused": {"q5_psnr"}}
# data read by another machine's path: repaired by default (graders/sandbox/shipped/repairs.py, data-path), so a
# mistake only where the course refuses repairs; graded with --strict (tests/sandbox/test_repairs.py grades
# the same habit with the default policy)
STRICT = {"q3_hardcoded_paths", "ae_hardcoded_path"}
FOLDERS = {"evil_pickle": HOSTILE / "evil_pickle" / "python"}
# name -> {check: (field, words the failure must show)}
SAYS = {
    "q3_never_learns": {"q3_validation_accuracy": ("hint", "did not learn"),
                        "run_q3_finishes": ("message", "no better than an untrained one")},
    "q3_wrong_keys": {"q3_weights_keys_and_shapes": ("message", "lacks Wlayer1"),
                      "q3_validation_accuracy": ("message", "cannot be evaluated")},
    "q3_hidden_32": {"q3_weights_keys_and_shapes": ("message", "Wlayer1 is (1024, 32), expected (1024, 64)"),
                     "q3_validation_accuracy": ("message", "classifies")},
    "q3_never_saves": {"q3_weights_saved": ("message", "did not write q3_weights.pickle")},
    "q3_hardcoded_paths": {"run_q3_finishes": ("message", "FileNotFoundError"),
                           "q3_weights_saved": ("message", "stopped early")},
    "evil_pickle": {"q3_weights_saved": ("message", "mkdir, which a weights file may not contain")},
    "ae_no_momentum": {"q5_momentum_accumulators": ("message", "no momentum accumulator for Wlayer1")},
    "ae_sigmoid_hidden": {"q5_activations": ("message", "layer 'hidden' applies sigmoid, expected ReLU"),
                          "q5_psnr": ("hint", "your hidden layers used sigmoid")},
    "ae_hidden_64": {"q5_layer_sizes": ("message", "Wlayer1 (1024, 64)")},
    "ae_mean_loss": {"q5_loss_is_total_squared_error": ("message", "squared error summed")},
    "ae_hardcoded_path": {"run_q5_finishes": ("message", "FileNotFoundError"),
                          "q5_plots_shown": ("message", "showed no figure")},
    "ae_wrong_delta": {"q5_backpropagates_squared_error": ("message", "gradients of Wlayer1, blayer1 are not")},
    "ae_momentum_unused": {"q5_momentum_updated": ("message", "did not move it along m_Wlayer1")},
    "ae_hidden_never_updated": {"q5_momentum_accumulators": ("message", "m_Whidden_1"),
                                "q5_momentum_updated": ("message", "m_Whidden_1 is constant")},
    "ae_never_trained": {"q5_training_improves_reconstruction": ("message", "did not make the network clearly better"),
                         "q5_backpropagates_squared_error": ("message", "backwards was never called"),
                         "q5_momentum_updated": ("message", "not judged")},
}


grade = grade_cli


@pytest.fixture(scope="session")
def reference_results(tmp_path_factory, worker_id):
    """The reference graded once per test session with both training suites (-n 2: they train
    side by side)."""
    return shared_grade(tmp_path_factory, worker_id, "reference-training-grade", REPO / "reference" / "python",
                        "-n", "2", "-k", f"{Q3_ONLY} or {Q5_ONLY}")


# ---------------------------------------------------------------------------------------------
# the reference and the stubs

@pytest.mark.slow
def test_reference_scores_full_marks_on_training(reference_results):
    results, out = reference_results
    # and the advisory check of the repairs, which runs wherever student code ran
    assert {c["name"].removeprefix("test_") for c in ran(results)} == Q3_CHECKS | Q5_CHECKS | {"ran_without_repairs"}
    assert not_passed(results) == set()
    for q in QUESTIONS:
        assert results["questions"][q]["score"] == results["questions"][q]["max_score"] > 0, q
    print(f"\nreference, Q3+Q5 suites, -n 2: {results['timings']['wall_seconds']:.1f} s wall")


@pytest.mark.slow
def test_reference_report_data(reference_results):
    """Test accuracy, the confusion matrix, the PSNR and the figures reach grade.json."""
    results, out = reference_results
    data = check(results, "q3_validation_accuracy")["data"]
    matrix = np.array(data["confusion_matrix"])
    assert matrix.shape == (36, 36) and matrix.sum() == 1800 and np.all(matrix.sum(axis=1) == 50)
    assert data["test_accuracy"] == pytest.approx(np.trace(matrix) / 1800, abs=1e-4)
    assert 0.75 <= data["validation_accuracy"] <= 1 and 0.5 <= data["test_accuracy"] <= 1
    assert 0.75 <= data["graded_accuracy"] <= 1, "the verdict's split, held out of the sandbox"
    assert check(results, "q5_psnr")["data"]["psnr"] >= 13
    for script, name in (("run_q3", "q3_plots_shown"), ("run_q5", "q5_plots_shown")):
        figures = check(results, name)["data"]["figures"]
        assert figures and all((out / f).read_bytes().startswith(b"\x89PNG") for f in figures), script
    losses = check(results, "q5_loss_falls")["data"]["printed_losses"]
    assert losses[0][0] == 0 and losses[-1][1] < losses[0][1]


@pytest.mark.slow
def test_stubs_score_zero_with_messages(tmp_path):
    stubs.generate(REPO / "reference", tmp_path / "student")
    results = grade(tmp_path / "student" / "python", tmp_path / "out", "-k", f"{Q3_ONLY} or {Q5_ONLY}")
    for q in QUESTIONS:
        assert results["questions"][q]["score"] == 0, q
    for c in ran(results):
        if c["question"] == "Static":       # the repairs' advisory check (no points)
            continue
        assert c["status"] in ("failed", "skipped") and c["message"], c
    for name in ("run_q3_finishes", "run_q5_finishes"):
        assert "not implemented yet" in check(results, name)["message"]


# ---------------------------------------------------------------------------------------------
# wrong submissions

def test_every_training_wrong_submission_exists():
    for name in EXPECTED:
        folder = FOLDERS.get(name, WRONG / name)
        assert list(folder.glob("run_q*.py")) or list(folder.glob("run_q*.py.diff")), name
        assert name in FOLDERS or (folder / "README").read_text().strip(), name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrong_submission_fails_exactly_its_checks(name, make_submission, tmp_path):
    suite, expected = EXPECTED[name]
    results = grade(make_submission(FOLDERS.get(name, WRONG / name)), tmp_path / "out", "-k", suite,
                    *(("--strict",) if name in STRICT else ()))
    expected = expected | (not_passed(results) & MAY_FAIL.get(name, set()))
    assert_fails_exactly(results, expected, [(n, f, w) for n, (f, w) in SAYS.get(name, {}).items()])
    if name == "q3_hardcoded_paths":
        assert "../data/nist36_train.mat" in check(results, "run_q3_finishes")["hint"]
        assert check(results, "run_q3_finishes")["duration"] < 60
    if name == "evil_pickle":
        assert not list(REPO.rglob("PWNED")) and not list(tmp_path.rglob("PWNED"))


def test_grades_repeat_and_follow_the_seed(make_submission, tmp_path):
    """run_q3 is seeded from the run's seed: the same seed gives the same weights, another seed
    other weights (an untrained network's accuracy shows its initialization)."""
    python_dir = make_submission(WRONG / "q3_never_learns")
    runs = [grade(python_dir, tmp_path / f"out{i}", "-k", "q3_validation_accuracy", "--seed", str(seed))
            for i, seed in enumerate((11, 11, 12))]
    accuracy = [check(r, "q3_validation_accuracy")["data"]["validation_accuracy"] for r in runs]
    matrices = [check(r, "q3_validation_accuracy")["data"]["confusion_matrix"] for r in runs]
    assert accuracy[0] == accuracy[1] and matrices[0] == matrices[1]
    assert matrices[0] != matrices[2]


# ---------------------------------------------------------------------------------------------
# the trusted evaluation against the staff solution's own code

@pytest.fixture(scope="module")
def reference_nn():
    from graders.staff.staff_solution import load_reference_module
    return load_reference_module("nn", requires=("util",))


def test_classifier_matches_reference_forward(reference_nn):
    rng = np.random.default_rng(0)
    params = {}
    reference_nn.initialize_weights(1024, 64, params, "layer1")
    reference_nn.initialize_weights(64, 36, params, "output")
    params["blayer1"] += rng.normal(0, 0.1, 64)
    x = rng.random((50, 1024))
    want = reference_nn.forward(reference_nn.forward(x, params, "layer1"), params, "output", reference_nn.softmax)
    np.testing.assert_allclose(evaluation.classifier_probs(params, x), want, rtol=1e-10)


def test_verdicts_use_the_grader_split_or_say_they_fell_back_to_valid(tmp_path):
    """Q3.1 and Q5 are judged on Splits.grader: the held-out split when there is one, else the
    validation set with a note that the student's script could read it."""
    import scipy.io
    from fixtures import cache
    rng = np.random.default_rng(3)
    data = tmp_path / "course" / "data"
    data.mkdir(parents=True)
    for split in ("train", "valid", "test"):
        scipy.io.savemat(data / f"nist36_{split}.mat", {f"{split}_data": rng.random((4, 1024)),
                                                        f"{split}_labels": np.eye(36)[:4]})
    fallback = evaluation.load_splits(data, grader_path=cache.grader_split_path(data))
    assert fallback.grader is fallback.valid and "could read" in fallback.grader_note
    held = rng.random((6, 1024))
    cache.grader_split_path(data).parent.mkdir()
    scipy.io.savemat(cache.grader_split_path(data), {"grader_data": held, "grader_labels": np.eye(36)[:6]})
    splits = evaluation.load_splits(data, grader_path=cache.grader_split_path(data))
    assert splits.grader_note == "" and np.array_equal(splits.grader[0], held)
    assert cache.grader_split_path(data) == tmp_path / "course" / "grader" / "nist36_grader.mat"


def test_confusion_matrix_counts_true_rows_predicted_columns():
    y = np.eye(36)[[0, 0, 1, 35]]
    probs = np.eye(36)[[0, 1, 1, 0]]
    matrix = evaluation.confusion_matrix(y, probs)
    assert matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[1, 1] == 1 and matrix[35, 0] == 1
    assert matrix.sum() == 4
    assert evaluation.most_confused(matrix)[0][2] == 1
    assert {(t, p) for t, p, _ in evaluation.most_confused(matrix)} == {("A", "B"), ("9", "A")}


def test_autoencoder_forward_follows_creation_order_and_matches_reference(reference_nn):
    """Names are free (here 'z', 'a', 'm', 'b' created in that order); the layers are taken in
    the order they were created, as a Counter keeps them."""
    rng = np.random.default_rng(1)
    params = Counter()
    names = ["z", "a", "m", "b"]
    for name, (n_in, n_out) in zip(names, [(1024, 32), (32, 32), (32, 32), (32, 1024)]):
        reference_nn.initialize_weights(n_in, n_out, params, name)
        params["m_W" + name] = np.zeros((n_in, n_out))
    x = rng.random((20, 1024))
    h = x
    for name in names[:-1]:
        h = reference_nn.forward(h, params, name, reference_nn.relu)
    want = reference_nn.forward(h, params, "b", reference_nn.sigmoid)
    assert evaluation.layers_in_order(params) == names
    np.testing.assert_allclose(evaluation.autoencoder_forward(dict(params), x), want, rtol=1e-10)


def test_mean_psnr_is_skimage_per_image():
    rng = np.random.default_rng(2)
    x = rng.random((5, 1024))
    r = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    want = np.mean([peak_signal_noise_ratio(a, b, data_range=1.0) for a, b in zip(x, r)])
    assert evaluation.mean_psnr(x, r) == pytest.approx(want)
    assert evaluation.mean_psnr(x, np.full_like(x, np.nan)) == float("-inf")


def test_q3_fails_a_network_only_when_it_is_clearly_below_75_percent_on_the_grader_split():
    """The pass mark is 75% less what the draw of the grader's characters alone explains: 1.2 points
    on the 3600 of the grader split, wider on a small split a course gives, never more than 75%."""
    from graders.suites.q3_training import sampling_margin
    assert 0.0115 < sampling_margin(0.75, 3600, 0.95) < 0.0122
    assert sampling_margin(0.75, 360, 0.95) > 3 * sampling_margin(0.75, 3600, 0.95)
    assert sampling_margin(0.75, 3600, 0.5) == 0.0


@pytest.mark.parametrize("saved", ["nothing", "scalars", "pixels"])
def test_a_classifier_trained_on_standardised_inputs_is_run_on_inputs_scaled_the_same_way(saved):
    """A network trained on (x - mean) / std is the same network as one trained on x with its first
    layer rewritten; the grader finds the scaling from saved statistics (one number or per pixel)
    or, where none were saved, from the training set, and picks it on the set it is given."""
    rng = np.random.default_rng(5)
    train_x, x = rng.random((400, 1024)), rng.random((300, 1024))
    raw = {"Wlayer1": rng.normal(0, 0.1, (1024, 64)), "blayer1": rng.normal(0, 0.1, 64),
           "Woutput": rng.normal(0, 1, (64, 36)), "boutput": rng.normal(0, 0.1, 36)}
    raw["Wlayer1"] -= raw["Wlayer1"].mean(axis=0)      # so that the pixels' differences decide
    y = np.eye(36)[np.argmax(evaluation.classifier_probs(raw, x), axis=1)]
    per_pixel = saved == "pixels"
    mean = train_x.mean(axis=0) if per_pixel else train_x.mean()
    std = train_x.std(axis=0) if per_pixel else train_x.std()
    # the same network for inputs (x - mean) / std: x @ W = ((x - mean) / std) @ (std * W) + mean @ W
    standardised = dict(raw, Wlayer1=(std * np.ones(1024))[:, None] * raw["Wlayer1"],
                        blayer1=raw["blayer1"] + (mean * np.ones(1024)) @ raw["Wlayer1"])
    arrays = dict(standardised, **({} if saved == "nothing" else {"mean": mean, "std": std}))
    assert numerics.accuracy(y, evaluation.classifier_probs(standardised, x)) < 0.9
    label, scale, accuracy = evaluation.best_scaling(standardised, arrays, x, y, train_x)
    assert accuracy == pytest.approx(1.0), label
    assert ("training set" in label) == (saved == "nothing"), label
    label, _, accuracy = evaluation.best_scaling(standardised, {k: v for k, v in arrays.items()
                                                                if k in evaluation.CLASSIFIER}, x, y)
    assert label == evaluation.AS_THEY_ARE and accuracy < 0.9
    for junk in ({"mean": np.nan, "std": np.inf}, {"mean": True, "std": "x"}, {"mean": np.zeros(7), "std": [1.0]}):
        assert [lab for lab, _ in evaluation.input_scalings(junk)] == [evaluation.AS_THEY_ARE]
