"""Q5 accepts every honest reading of the handout (issue 15) and judges training by its result
(issue 14).

Unit tests of the trusted pieces (layers found by their shapes, the loss readings, the grader's
own gradients, accumulators under any name in any dict of the run, the result against fresh
networks), then honest variants of run_q5.py graded end to end: each folder of
tests/q5_readings/ holds a patch against the reference (so it follows every change of the
reference) and a README saying which reading it takes; each must earn every Q5 point, and the
check says which loss reading it found.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from graders.checks import evaluation
from graders.results import messages
from graders.checks import training_runs
from graders.suites import q5_autoencoder as q5
from support import check, grade_cli, not_passed

READINGS = Path(__file__).resolve().parents[1] / "q5_readings"
Q5_QUESTIONS = ("Q5.1.1", "Q5.1.2", "Q5.2", "Q5.3.2")
SIZES = list(zip(evaluation.AUTOENCODER_SIZES, evaluation.AUTOENCODER_SIZES[1:]))

# name -> the loss reading the check must report for it
HONEST = {
    "underscore_names_mean_per_image": "the mean per image",
    "dict_inplace_batch_means": "a sum of per-batch means (per image)",
    "rebinds_params_from_pickle": "the total over the training set",
    "velocity_dict_batch_totals": "a mean of per-batch totals",
    "layerwise_half_delta": "the total over the training set",
    "train_function_own_print": "the total over the training set",
}


@pytest.fixture(scope="module")
def reference_nn():
    from graders.staff.staff_solution import load_reference_module
    return load_reference_module("nn", requires=("util",))


def trained_like(reference_nn, names, rng, batch=20):
    """params after one forward and backwards pass of a batch through the reference's nn.py,
    in the handout's order, with the entries the training would hold (m_, grad_, cache_)."""
    params = Counter()
    for name, (n_in, n_out) in zip(names, SIZES):
        reference_nn.initialize_weights(n_in, n_out, params, name)
        params["b" + name] = rng.normal(0, 0.1, n_out)
        params["m_W" + name] = np.zeros((n_in, n_out))
    x = rng.random((batch, 1024))
    h = x
    for name in names[:-1]:
        h = reference_nn.forward(h, params, name, reference_nn.relu)
    out = reference_nn.forward(h, params, names[-1], reference_nn.sigmoid)
    return params, x, out


def backpropagate(reference_nn, params, names, delta):
    delta = reference_nn.backwards(delta, params, names[-1], reference_nn.sigmoid_deriv)
    for name in reversed(names[:-1]):
        delta = reference_nn.backwards(delta, params, name, reference_nn.relu_deriv)


# ---------------------------------------------------------------------------------------------
# layers by their shapes

def test_layers_found_by_shapes_whatever_the_names(reference_nn):
    """Names holding '_' are layers like any other (the grader's forward pass used to drop them),
    and accumulators named after their layer are not layers."""
    rng = np.random.default_rng(0)
    names = ["layer_in", "hidden_layer1", "hidden_layer2", "layer_out"]
    params, x, out = trained_like(reference_nn, names, rng)
    for name in names:
        params["W" + name + "_m"] = np.zeros_like(params["W" + name])
        params["b" + name + "_m"] = np.zeros_like(params["b" + name])
    assert evaluation.layers_in_order(params) == names
    np.testing.assert_allclose(evaluation.autoencoder_forward(dict(params), x), out, rtol=1e-10)


def test_accumulator_named_like_a_layer_is_not_a_layer_without_caches():
    """hidden_m beside hidden is hidden's accumulator; hidden2 beside hidden is a layer."""
    shapes = {"layer1": (1024, 32), "hidden": (32, 32), "hidden_m": (32, 32), "hidden2": (32, 32),
              "output": (32, 1024)}
    params = {}
    for name, (a, b) in shapes.items():
        params["W" + name], params["b" + name] = np.ones((a, b)), np.ones(b)
    assert evaluation.layer_candidates(params) == ["layer1", "hidden", "hidden2", "output"]
    assert evaluation.layers_in_order(params) == ["layer1", "hidden", "hidden2", "output"]


def test_layers_chain_in_creation_order_even_when_created_out_of_order():
    params = {}
    for name, (a, b) in (("dec", (32, 1024)), ("enc", (1024, 32)), ("mid1", (32, 32)), ("mid2", (32, 32))):
        params["W" + name], params["b" + name] = np.ones((a, b)), np.ones(b)
    names = evaluation.layers_in_order(params)
    assert names == ["enc", "mid1", "mid2", "dec"] and evaluation.chains(params, names)
    assert not evaluation.chains(params, ["enc", "dec", "mid1"])


# ---------------------------------------------------------------------------------------------
# the loss readings

def test_loss_readings_are_the_handouts_image_loss_printed_several_ways():
    readings = q5.loss_readings(10800, 36)
    assert readings == {"the total over the training set": 1.0, "the mean per image": 1 / 10800,
                        "a sum of per-batch means (per image)": 1 / 36, "a mean of per-batch totals": 36 / 10800}
    # a batch size that is not a plausible count adds no reading (it could match any number)
    for batch in (None, float("nan"), 0.5, 10800, 1e12, "36", np.array([36, 2])):
        assert set(q5.loss_readings(10800, batch)) == {"the total over the training set", "the mean per image"}


def test_printed_losses_in_the_handouts_and_students_formats():
    printed = ("itr: 00 \t loss: 400000.00\nEpoch 3/100 - loss: 1.2e5\nepoch 4: training loss 99.5\n"
               "Average validation PSNR: 14.20\nloss = 7\n")
    assert q5.printed_losses(printed) == [(0, 400000.0), (3, 120000.0), (4, 99.5), (3, 7.0)]
    assert np.isnan(q5.printed_losses("itr: 5 loss: nan")[0][1])
    # the epoch after the word loss is not the loss; underscores and thousands separators
    students = ("Loss at epoch 0: 400,000.5\nTraining loss (epoch 1): 300000\nloss for epoch 2 : 2e5\n"
                "epoch=3 avg_loss=99.5\ntrain_loss=7\nlosses: [1, 2]\nepoch   5  avg loss per image 12.345\n")
    assert q5.printed_losses(students) == [(0, 400000.5), (1, 300000.0), (2, 200000.0), (3, 99.5), (4, 7.0),
                                           (5, 12.345)]
    # lines that name the loss but print no loss value
    for line in ("Using loss CrossEntropyLoss with lr=0.001", "Plotting loss and accuracy for 30 epochs",
                 "loss went down by 50%", "loss curve saved to loss_1.png"):
        assert q5.printed_losses(line) == [], line


# ---------------------------------------------------------------------------------------------
# the grader's own gradients of the squared error

def test_squared_error_gradients_match_the_handouts_backwards(reference_nn):
    rng = np.random.default_rng(1)
    names = ["layer1", "hidden", "hidden2", "output"]
    params, x, out = trained_like(reference_nn, names, rng)
    backpropagate(reference_nn, params, names, 2 * (out - x))
    want = q5.squared_error_gradients(dict(params), names, ["relu"] * 3 + ["sigmoid"])
    for key, grad in want.items():
        np.testing.assert_allclose(params["grad_" + key], grad, rtol=1e-9, atol=1e-12)


def fake_run(params, snapshot=None, seen=()):
    training = training_runs.SeenDict(params, {}, snapshot if snapshot is not None else dict(params),
                                "a dict passed to nn.py's functions")
    return SimpleNamespace(weights=params, training=training, seen=[training, *seen],
                           outcome=SimpleNamespace(globals={}, stdout=""))


def test_backpropagation_check_passes_any_scale_and_fails_a_wrong_delta(reference_nn):
    rng = np.random.default_rng(2)
    names = ["layer1", "hidden", "hidden2", "output"]
    question = SimpleNamespace(threshold=lambda name: {"gradient_error": 0.05}[name])
    params, x, out = trained_like(reference_nn, names, rng)
    backpropagate(reference_nn, params, names, (out - x) / len(x))   # no factor 2, a mean: the same training
    props = []
    q5.test_q5_backpropagates_squared_error(fake_run(dict(params)), None, question, lambda k, v: props.append((k, v)))
    assert dict(props)["gradient_scale"] == pytest.approx(0.5 / len(x))

    # 'hidden' backpropagated from the output layer's delta instead of hidden2's
    d_out = reference_nn.backwards(2 * (out - x), params, "output", reference_nn.sigmoid_deriv)
    reference_nn.backwards(d_out, params, "hidden2", reference_nn.relu_deriv)
    d_h1 = reference_nn.backwards(d_out, params, "hidden", reference_nn.relu_deriv)
    reference_nn.backwards(d_h1, params, "layer1", reference_nn.relu_deriv)
    with pytest.raises(messages.CheckFailure, match="Whidden") as failure:
        q5.test_q5_backpropagates_squared_error(fake_run(dict(params)), None, question, lambda k, v: None)
    assert "'hidden'" in failure.value.hint


def test_backpropagation_check_refuses_nan_gradients(reference_nn):
    rng = np.random.default_rng(3)
    names = ["layer1", "hidden", "hidden2", "output"]
    question = SimpleNamespace(threshold=lambda name: {"gradient_error": 0.05}[name])
    params, x, out = trained_like(reference_nn, names, rng)
    backpropagate(reference_nn, params, names, 2 * (out - x))
    params["grad_Whidden"] = np.full_like(params["grad_Whidden"], np.nan)
    with pytest.raises(messages.CheckFailure, match="Whidden"):
        q5.test_q5_backpropagates_squared_error(fake_run(dict(params)), None, question, lambda k, v: None)



@pytest.mark.parametrize("spoil", ["W missing", "W NaN", "X of another width"])
def test_backpropagation_check_fails_an_unreadable_last_batch_with_a_message(reference_nn, spoil):
    """What the watch saw at the last backwards call is the student's process's: weights that are
    gone or not finite, or caches that do not fit the layers, fail the check; the grader's own
    gradients never raise on them."""
    rng = np.random.default_rng(5)
    names = ["layer1", "hidden", "hidden2", "output"]
    question = SimpleNamespace(threshold=lambda name: {"gradient_error": 0.05}[name])
    params, x, out = trained_like(reference_nn, names, rng)
    backpropagate(reference_nn, params, names, 2 * (out - x))
    snapshot = dict(params)
    if spoil == "W missing":
        del snapshot["Whidden"]
    elif spoil == "W NaN":
        snapshot["Whidden"] = np.full_like(params["Whidden"], np.nan)
    else:
        X, pre, post = snapshot["cache_hidden"]
        snapshot["cache_hidden"] = (X[:, :-1], pre, post)
    with pytest.raises(messages.CheckFailure, match="hidden"):
        q5.test_q5_backpropagates_squared_error(fake_run(dict(params), snapshot), None, question, lambda k, v: None)


# ---------------------------------------------------------------------------------------------
# accumulators under any name, in any dict the run used

def layered(names=("layer1", "hidden", "hidden2", "output")):
    rng = np.random.default_rng(4)
    params = {}
    for name, (a, b) in zip(names, SIZES):
        params["W" + name], params["b" + name] = rng.normal(size=(a, b)), rng.normal(size=b)
        params["cache_" + name] = (np.zeros((2, a)), np.zeros((2, b)), np.zeros((2, b)))
    return params, list(names)


def test_an_output_sigmoid_applied_by_hand_is_read_so_and_a_linear_output_is_not():
    """An output cache that shows no activation is measured both ways on the validation images:
    with a sigmoid after it when that reconstructs them better (the script applied the sigmoid
    itself), as it is otherwise (a linear output: the activation check fails)."""
    params, names = layered()
    rng = np.random.default_rng(6)
    for name in names:
        pre = rng.normal(size=params["cache_" + name][1].shape)
        params["cache_" + name] = (params["cache_" + name][0], pre, pre if name == names[-1] else np.maximum(pre, 0))
    course = SimpleNamespace(valid=(rng.random((20, 1024)), None))
    assert q5.student_activations(params, names)[-1] == "linear"
    assert q5.network_activations(params, names, course) == ["relu"] * 3 + ["sigmoid"]
    assert q5.sigmoid_outside(params, names, course)
    params["Woutput"], params["boutput"] = np.zeros_like(params["Woutput"]), np.full(1024, 0.5)
    assert q5.network_activations(params, names, course) == ["relu"] * 3 + ["linear"]
    assert not q5.sigmoid_outside(params, names, course)


@pytest.mark.parametrize("style", ["m_{k}", "{k}_m", "M{k}", "v_{k}"])
def test_accumulators_found_under_any_name(style):
    params, names = layered()
    for k in [p + n for n in names for p in "Wb"]:
        params[style.format(k=k)] = np.full(params[k].shape, 0.5)
    found = q5.find_accumulators(fake_run(params), params, names)
    assert {k: a.key for k, a in found.items()} == {k: style.format(k=k) for k in found}


def test_accumulators_found_in_a_dict_of_their_own_but_not_in_a_copy_of_the_weights():
    params, names = layered()
    keys = [p + n for n in names for p in "Wb"]
    velocity = training_runs.SeenDict({k: np.full(params[k].shape, 0.1) for k in keys}, {}, {}, "the variable velocity")
    reloaded = training_runs.SeenDict({k: params[k].copy() for k in keys}, {}, {}, "the variable params")
    found = q5.find_accumulators(fake_run(params, seen=[reloaded, velocity]), params, names)
    assert all(a is not None and a.where == "the variable velocity" for a in found.values())
    found = q5.find_accumulators(fake_run(params, seen=[reloaded]), params, names)
    assert all(a is None for a in found.values())


def test_an_accumulator_of_hidden2_is_not_hiddens():
    params, names = layered()
    params["m_Whidden2"] = np.ones((32, 32))
    found = q5.find_accumulators(fake_run(params), params, names)
    assert found["Whidden2"].key == "m_Whidden2" and found["Whidden"] is None


# ---------------------------------------------------------------------------------------------
# the result against fresh networks

def test_a_fresh_network_is_not_trained_and_nan_never_is():
    params, names = layered()
    rng = np.random.default_rng(5)
    fresh = evaluation.xavier_autoencoder(params, names, rng)
    x = rng.random((50, 1024))
    run = SimpleNamespace(weights={**fresh, **{k: v for k, v in params.items() if k.startswith("cache_")}})
    result = q5.measure_result(run, SimpleNamespace(grader=(x, None), valid=(x, None), grader_note=""))
    assert 0.8 < result.ratio < 1.25 and not result.improved(0.5)
    assert evaluation.squared_error_per_image(x, np.full_like(x, np.nan)) == float("inf")
    assert not q5.Result(float("nan"), 1.0, None, "").improved(0.5)
    with pytest.raises(messages.CheckFailure, match="not judged"):
        q5.require_trained(result, {"Q5.2": SimpleNamespace(threshold=lambda name: 0.5)}, "the plots")


# ---------------------------------------------------------------------------------------------
# honest variants graded end to end

def test_every_honest_variant_exists():
    assert sorted(p.name for p in READINGS.iterdir() if p.is_dir()) == sorted(HONEST)
    for name in HONEST:
        assert (READINGS / name / "run_q5.py.diff").is_file() and (READINGS / name / "README").read_text().strip()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_reading_earns_every_q5_point(name, make_submission, tmp_path):
    results = grade_cli(make_submission(READINGS / name), tmp_path / "out", "-k", "q5_autoencoder")
    assert not_passed(results) == set(), [(c["name"], c["message"]) for c in results["checks"]
                                          if c["status"] != "passed" and not c.get("not_run")]
    for q in Q5_QUESTIONS:
        assert results["questions"][q]["score"] == results["questions"][q]["max_score"] > 0, q
    assert check(results, "q5_loss_is_total_squared_error")["data"]["loss_reading"] == HONEST[name]
    measured = check(results, "q5_training_improves_reconstruction")["data"]
    psnr = check(results, "q5_psnr")["data"]["psnr"]
    print(f"\n{name}: PSNR {psnr} dB, error ratio {measured['error_ratio']} "
          f"({measured['trained_error_per_image']} vs fresh {measured['fresh_error_per_image']})")


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1j])
def test_weights_that_are_not_finite_real_numbers_fail_with_a_message(bad):
    """Complex weights would make the grader's own forward pass raise: they fail as the student's."""
    params, names = layered()
    params["Whidden"] = params["Whidden"] + bad
    x = np.random.default_rng(6).random((10, 1024))
    result = q5.measure_result(SimpleNamespace(weights=params), SimpleNamespace(grader=(x, None), grader_note=""))
    assert not result.improved(0.5) and "not finite real" in q5.describe_result(result)
    with pytest.raises(messages.CheckFailure, match="Whidden are not finite real"):
        q5.chain_or_skip(params)


def momentum_run(step_of):
    """A run whose last update moved each parameter by step_of(accumulator, rng)."""
    params, names = layered()
    rng = np.random.default_rng(7)
    before, first = dict(params), {}
    for k in [p + n for n in names for p in "Wb"]:
        first[k] = params[k] - rng.normal(size=params[k].shape)        # training moved every parameter
        params["m_" + k] = rng.normal(size=params[k].shape)
        first["m_" + k] = np.zeros_like(params[k])
        params[k] = params[k] + step_of(params["m_" + k], rng)
    training = training_runs.SeenDict(params, first, before, "a dict passed to nn.py's functions")
    return SimpleNamespace(weights=params, training=training, seen=[training]), params


@pytest.mark.parametrize("step_of, passes", [
    (lambda m, rng: m, True),                                   # W = W + m
    (lambda m, rng: -1e-3 * m, True),                           # W = W - lr * m (m the other sign)
    (lambda m, rng: rng.normal(size=m.shape) * 1e-3, False),    # a step that ignores the accumulator
])
def test_the_last_step_follows_the_accumulator(step_of, passes):
    run, params = momentum_run(step_of)
    trained_result = q5.Result(10.0, 226.0, 10 / 226, "")
    rubric = {"Q5.2": SimpleNamespace(threshold=lambda name: 0.5)}
    question = SimpleNamespace(threshold=lambda name: {"step_cosine": 0.9}[name])
    if passes:
        q5.test_q5_momentum_updated(run, trained_result, question, rubric)
    else:
        with pytest.raises(messages.CheckFailure, match="did not move it along m_Wlayer1"):
            q5.test_q5_momentum_updated(run, trained_result, question, rubric)


@pytest.mark.parametrize("width, measured", [(1024, False), (256, False), (64, True), (32, True)])
def test_the_psnr_is_measured_only_for_a_network_with_a_bottleneck(width, measured):
    """Layers as wide as the input copy it (tests/hostile review: 1024-wide "hidden" layers set to
    the identity reached 28 dB and earned Q5.3.2): the PSNR counts for a bottleneck of at most
    the rubric's widest_bottleneck (64, twice the handout's 32)."""
    rng = np.random.default_rng(8)
    sizes = (1024, width, width, width, 1024)
    params = {}
    for name, (n_in, n_out) in zip(("layer1", "hidden", "hidden2", "output"), zip(sizes, sizes[1:])):
        params["W" + name], params["b" + name] = rng.normal(0, 0.05, (n_in, n_out)), np.zeros(n_out)
    x = rng.random((10, 1024))
    course = SimpleNamespace(grader=(x, None), valid=(x, None), grader_note="")
    question = SimpleNamespace(threshold=lambda name: {"widest_bottleneck": 64, "psnr": 0.0}[name])
    config = SimpleNamespace(getoption=lambda *a, **k: None, option=SimpleNamespace())
    run = SimpleNamespace(weights=params)
    if measured:
        q5.test_q5_psnr(run, course, question, lambda k, v: None, config)
    else:
        with pytest.raises(messages.CheckFailure, match=f"narrowest layer of the autoencoder is {width} wide"):
            q5.test_q5_psnr(run, course, question, lambda k, v: None, config)
