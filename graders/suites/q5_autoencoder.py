"""Q5: run_q5.py's autoencoder (layers, activations, loss, backpropagation, momentum, training, PSNR).

run_q5.py runs once per grading (the q5_run fixture, in the data sandbox, seeded by the run's
seed). The worker's watch (graders.sandbox.shipped.worker.ParamsWatch) reports the dict the script's training
handed to nn.py's functions (its params, whatever the script bound to `params` at its end): the
arrays at the end, the first value of each, and the entries when the last backwards call began.
Every verdict is computed here, and training is judged by its result, never by what the script
printed or plotted:
- layers by the shapes of their W and b, chaining 1024 -> ... -> 1024 in creation order (any names);
- activations from the caches forward stored, params['cache_'+name] = (X, pre_act, post_act);
  an output cache with no activation is also read with a sigmoid after it (applied by hand),
  whichever reconstructs the validation images better;
- backpropagation: the last batch's gradients against the grader's own gradients of the squared
  error, computed from that batch's caches;
- the result: the final weights' squared error on the grader-only split (evaluation.Splits.grader)
  against freshly initialised networks of the same shapes; the printed losses, the plots and the
  momentum count only for a network that training made clearly better;
- momentum: an accumulator of each parameter's shape (any name, in params or a dict of its own),
  changed by training, not constant, along which the last update moved the parameter;
- PSNR by the grader's own forward pass of the handout's network (ReLU hidden layers, sigmoid
  output) over the final weights, with skimage's peak_signal_noise_ratio.

Why one file this long: a suite is one question group of the rubric; Q5's checks share one training
run of run_q5.py and its readings.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from graders.checks import artifacts
from graders.checks import evaluation
from graders.results import messages
from graders.checks import numerics
from graders.checks import printed
from graders.results.messages import Failure, describe
from graders.suites._scripts import script_failure

pytestmark = pytest.mark.xdist_group("q5")

# activations the grader recognises in a cache (numerics.ACTIVATIONS names), with their names in messages
_KNOWN = {"relu": "ReLU", "sigmoid": "sigmoid", "tanh": "tanh", "linear": "linear (no activation)"}


def params_or_skip(q5_run) -> dict:
    if q5_run.weights is None:
        pytest.skip(f"no parameters to check: {q5_run.problem.rationale}")
    return q5_run.weights


def layers_or_skip(params: dict) -> list[str]:
    names = evaluation.layers_in_order(params)
    if not names or any(not isinstance(params.get("b" + n), np.ndarray) for n in names):
        pytest.skip("params does not hold a W and a b for each layer (see the layer check)")
    return names


def chain_or_skip(params: dict) -> list[str]:
    """The layer names when their shapes chain 1024 -> ... -> 1024 (any widths) and every W and
    b holds finite real numbers (NaN, infinity, complex or objects fail here, with a message)."""
    names = layers_or_skip(params)
    if not evaluation.chains(params, names):
        pytest.skip("the layers' shapes do not chain from 1024 inputs back to 1024 outputs")
    bad = not_real(params, names)
    if bad:
        raise Failure(f"the trained weights {', '.join(bad)} are not finite real numbers",
                      hint="a NaN or inf weight usually means the learning rate is too high")
    return names


def not_real(params: dict, names: list[str]) -> list[str]:
    return [p + n for n in names for p in ("W", "b") if numerics.real_array(params[p + n]) is None]


def printed_losses(stdout: str) -> list[tuple[int, float]]:
    """(epoch, loss) per printed line with a loss (graders.checks.printed); a line naming no epoch
    counts by its place."""
    return [(epoch if epoch is not None else k, v) for k, (epoch, v) in enumerate(printed.losses(stdout))]


def student_activations(params: dict, names: list[str]) -> list[str] | None:
    """The activations the student's network applied (from its caches), None where unknown."""
    used = [cache_activation_or_none(params, n) for n in names]
    return used if all(used) else None


def network_activations(params: dict, names: list[str], course_data) -> list[str] | None:
    """The activations to measure the network with: those its caches show, except an output layer
    run through forward(..., linear) whose outputs the script passed through a sigmoid of its own
    (by hand, outside nn.py): read as sigmoid when that reconstructs the validation images better,
    a choice made on a set other than the one verdicts are measured on."""
    used = student_activations(params, names)
    if used is None or used[-1] != "linear":
        return used
    outside = used[:-1] + ["sigmoid"]
    x = course_data.valid[0]
    with np.errstate(all="ignore"):
        linear, sigmoid = (min(evaluation.squared_error_per_image(v, evaluation.autoencoder_forward(
            params, v, reading, names)) for v in (x, x[:, evaluation.ROW_ORDER])) for reading in (used, outside))
    return outside if numerics.at_most(sigmoid, linear) and sigmoid < linear else used


def sigmoid_outside(params: dict, names: list[str], course_data) -> bool:
    """Whether the output layer's sigmoid was applied by the script after forward(..., linear)."""
    used = student_activations(params, names)
    return used is not None and used[-1] == "linear" and network_activations(params, names, course_data)[-1] == "sigmoid"


# ---------------------------------------------------------------------------------------------
# the result of training, measured once per grading

FRESH_DRAWS = 3


@dataclass(frozen=True)
class Result:
    """The final weights against fresh networks of the same shapes, on the grader-only split:
    squared error per image (the handout's loss of an image), averaged over the images."""
    trained_error: float
    fresh_error: float
    ratio: float | None            # trained / fresh, None when not a finite number
    note: str                      # where it was measured, when that is not the grader-only split

    def improved(self, bound: float) -> bool:
        return numerics.at_most(self.ratio, bound)


@pytest.fixture(scope="session")
def q5_result(q5_run, course_data) -> Result | None:
    """None when the run left no network of chaining layers to measure."""
    return measure_result(q5_run, course_data)


def measure_result(q5_run, course_data) -> Result | None:
    params = q5_run.weights
    names = evaluation.layers_in_order(params) if params else []
    if not params or not evaluation.chains(params, names):
        return None
    if not_real(params, names):
        return Result(float("inf"), float("nan"), None, course_data.grader_note)
    used = network_activations(params, names, course_data)
    x = arranged(course_data.grader[0], pixel_order(params, names, used, course_data))
    rng = np.random.default_rng(0)      # the same fresh networks for every submission of these shapes
    with np.errstate(all="ignore"):
        trained = evaluation.squared_error_per_image(x, evaluation.autoencoder_forward(params, x, used, names))
        fresh = float(np.mean([evaluation.squared_error_per_image(x, evaluation.autoencoder_forward(
            evaluation.xavier_autoencoder(params, names, rng), x, used, names)) for _ in range(FRESH_DRAWS)]))
        ratio = numerics.finite_number(trained / fresh) if fresh > 0 else None
    return Result(trained, fresh, ratio, course_data.grader_note)


def pixel_order(params: dict, names: list[str], used, course_data) -> np.ndarray | None:
    """evaluation.ROW_ORDER when the network reconstructs the validation images better with their
    pixels in row order (a script that untransposed the images after loading trained on those),
    else None: the choice is made on a set other than the one verdicts are measured on."""
    x = course_data.valid[0]
    with np.errstate(all="ignore"):
        stored, rows = (evaluation.squared_error_per_image(v, evaluation.autoencoder_forward(params, v, used, names))
                        for v in (x, x[:, evaluation.ROW_ORDER]))
    return evaluation.ROW_ORDER if numerics.at_most(rows, stored) and rows < stored else None


def arranged(x: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    return x if order is None else x[:, order]


def require_trained(q5_result, rubric, what: str) -> None:
    """Fail `what` unless training made the network clearly better than a fresh one: printed
    numbers, plots and accumulators count only for a network that was trained."""
    if q5_result is None:
        raise Failure(f"{what}: not judged, as run_q5.py left no network whose layers chain 1024 -> ... -> 1024 "
                      "(see the layer check)")
    if not q5_result.improved(rubric["Q5.2"].threshold("trained_error_ratio")):
        raise Failure(f"{what}: not judged, because training did not make the network clearly better than "
                      f"an untrained one: {describe_result(q5_result)}",
                      hint="train every layer: forward, loss, backwards, then the momentum update of every W and b")


def describe_result(result: Result) -> str:
    if numerics.finite_number(result.trained_error) is None:
        return "the trained weights are not finite real numbers, or reconstruct no finite image"
    ratio = f"{result.ratio:.3f}" if result.ratio is not None else "not a finite number"
    return (f"squared error per image {result.trained_error:.6g} after training against {result.fresh_error:.6g} "
            f"for freshly initialised networks of the same shapes (ratio {ratio})")


# ---------------------------------------------------------------------------------------------
# Q5.1.1 layers, activations, loss, backpropagation

@pytest.mark.rubric("Q5.1.1", weight=2)
def test_q5_layer_sizes(q5_run):
    """the autoencoder's layers, in the order they are created, are 1024-32-32-32-1024 (a W and a b each)"""
    params = params_or_skip(q5_run)
    names = evaluation.layers_in_order(params)
    sizes = evaluation.AUTOENCODER_SIZES
    want = [((a, b), (b,)) for a, b in zip(sizes, sizes[1:])]
    got = []
    for n in names:
        b = params.get("b" + n)
        got.append((params["W" + n].shape, b.shape if isinstance(b, np.ndarray) else describe(b)))
    if got == want:
        return
    shown = ", ".join(f"W{n} {w} b{n} {b}" for n, (w, b) in zip(names, got)) or "no W arrays"
    hint = "four layers: 1024->32, 32->32, 32->32 (ReLU) and 32->1024 (sigmoid); b is 1D, one entry per output"
    if len(got) == len(want) and all(w[0] == g[0] for w, g in zip(want, got)):
        hint = "the W shapes are right; b should be a 1D array of shape (out_size,)"
    raise Failure(f"the autoencoder's layers are {shown}",
                  expected=", ".join(f"W {w} b {b}" for w, b in want), actual=shown, hint=hint)


def cache_activation(params: dict, name: str):
    """The activation (a numerics.ACTIVATIONS name) the layer's cache shows, or None."""
    cache = params.get("cache_" + name)
    if not isinstance(cache, (tuple, list)) or len(cache) != 3 or not all(
            isinstance(c, np.ndarray) for c in cache[1:]):
        raise Failure(f"params holds no cache for layer {name!r} (params['cache_{name}'] = (X, pre_act, post_act))",
                      hint="run every layer through forward(x, params, name, activation), which stores the cache "
                           "that backwards needs")
    pre, post = numerics.real_array(cache[1]), numerics.real_array(cache[2])
    if pre is None or post is None or pre.shape != post.shape:
        return None
    with np.errstate(all="ignore"):
        for key in _KNOWN:
            if np.allclose(post, numerics.ACTIVATIONS[key](pre), rtol=1e-5, atol=1e-7):
                return key
    return None


@pytest.mark.rubric("Q5.1.1", weight=2)
def test_q5_activations(q5_run, course_data, record_property):
    """the hidden layers apply ReLU and the output layer a sigmoid (read from the caches forward stored)"""
    params = params_or_skip(q5_run)
    names = layers_or_skip(params)
    wrong = []
    for i, n in enumerate(names):
        want = "sigmoid" if i == len(names) - 1 else "relu"
        got = cache_activation(params, n)
        if got == "linear" and want == "sigmoid" and sigmoid_outside(params, names, course_data):
            record_property("output_activation", f"sigmoid, applied by the script after forward(..., linear) of {n!r}")
            got = want
        if got != want:
            wrong.append((n, _KNOWN[want], _KNOWN.get(got, "an activation the grader does not recognise")))
    if not wrong:
        return
    text = "; ".join(f"layer {n!r} applies {g}, expected {w}" for n, w, g in wrong)
    hint = ("forward uses sigmoid unless it is given another activation: pass relu for the hidden layers, "
            "and relu_deriv to their backwards" if any(g == "sigmoid" for _, _, g in wrong)
            else "hidden layers: forward(h, params, name, relu); output: forward(h, params, name, sigmoid)")
    raise Failure(f"the autoencoder's activations are wrong: {text}", hint=hint,
                  expected="ReLU in the hidden layers, sigmoid at the output", actual=text)


def loss_readings(n_images: int, batch_size) -> dict[str, float]:
    """What the printed loss may be, as a fraction of the total squared error over the training
    set: the handout asks for the squared error summed over an image's pixels as the loss of
    that image, and leaves how the epoch's number is printed to the student."""
    readings = {"the total over the training set": 1.0, "the mean per image": 1.0 / n_images}
    b = numerics.finite_number(batch_size)
    if b is not None and b == int(b) and 1 < b < n_images:
        readings["a sum of per-batch means (per image)"] = 1.0 / b
        readings["a mean of per-batch totals"] = b / n_images
    return readings


def last_batch_size(q5_run, names) -> int | None:
    cache = (q5_run.training.at_last_backwards.get("cache_" + names[0]) if q5_run.training else None)
    return int(np.shape(cache[0])[0]) if isinstance(cache, (tuple, list)) and cache and np.ndim(cache[0]) == 2 else None


@pytest.mark.rubric("Q5.1.1")
def test_q5_loss_is_total_squared_error(q5_run, q5_result, course_data, question, rubric, record_property):
    """the loss run_q5.py prints is the squared error summed over images' pixels (in total, per image or per batch)"""
    params = params_or_skip(q5_run)
    names = chain_or_skip(params)
    losses = printed_losses(q5_run.outcome.stdout)
    if not losses:
        raise Failure("run_q5.py printed no loss (the handout's line 'itr: .. loss: ..')",
                      hint="keep the handout's print of total_loss in the training loop")
    require_trained(q5_result, rubric, "the printed loss")
    train_x = course_data.train[0]
    # the network as the student built it (activations read from its caches), so that a wrong
    # activation costs the activation check only
    with np.errstate(all="ignore"):
        out = evaluation.autoencoder_forward(params, train_x, network_activations(params, names, course_data), names)
        total = evaluation.squared_error_per_image(train_x, out) * len(train_x)
    got = losses[-1][1]
    n, pixels = train_x.shape
    batch = q5_run.outcome.globals.get("batch_size")
    readings = loss_readings(n, batch if numerics.finite_number(batch) is not None else last_batch_size(q5_run, names))
    low, high = question.threshold("loss_ratio_low"), question.threshold("loss_ratio_high")
    ratio = numerics.finite_number(got / total) if numerics.finite_number(got) is not None and total > 0 else None
    record_property("loss_ratio", round(ratio, 8) if ratio is not None else str(got))
    for reading, factor in readings.items():
        if ratio is not None and numerics.at_least(ratio / factor, low) and numerics.at_most(ratio / factor, high):
            record_property("loss_reading", reading)
            return
    hint = "total_loss adds np.sum((out - xb) ** 2) of every batch"
    if ratio is not None and ratio > 0:
        for factor, why in ((1 / (n * pixels), "a mean over images and pixels"), (1 / pixels, "a mean over pixels"),
                            (0.5, "half the squared error"), (1 / (36 * pixels), "a mean over a batch's pixels")):
            if abs(np.log(ratio / factor)) < np.log(2):
                hint = f"yours looks like {why}: the handout's loss of an image is the SUM of its squared errors"
    raise Failure(f"the last printed loss (epoch {losses[-1][0]}) is {got:.6g}, but the final weights' squared "
                  f"error summed over the {n} training images is {total:.6g} ({total / n:.6g} per image)",
                  hint=hint, expected=" or ".join(f"about {total * f:.6g} ({r})" for r, f in readings.items()),
                  actual=f"{got:.6g}")


_DERIVATIVES = {"relu": lambda pre, post: (pre > 0).astype(np.float64), "sigmoid": lambda pre, post: post * (1 - post),
                "tanh": lambda pre, post: 1 - post ** 2, "linear": lambda pre, post: np.ones_like(pre)}


def misfits(snapshot: dict, params: dict, names: list[str]) -> list[str]:
    """The layers whose weights and cache, as the last backwards call found them (the student's
    process's report), cannot give the grader's gradients: W not a finite real array of the
    trained W's shape, or a cache whose X, pre_act, post_act are not the batch's rows by the
    layer's input and output sizes. Caches are known to be three finite real arrays."""
    rows = np.shape(snapshot["cache_" + names[0]][0])[:1]
    unfit = []
    for n in names:
        W = numerics.real_array(snapshot.get("W" + n))
        n_in, n_out = np.shape(params["W" + n])
        X, pre, post = (np.shape(a) for a in snapshot["cache_" + n])
        if W is None or W.shape != (n_in, n_out) or X != rows + (n_in,) or not pre == post == rows + (n_out,):
            unfit.append(n)
    return unfit


def squared_error_gradients(snapshot: dict, names: list[str], activations: list[str],
                            outside: bool = False) -> dict[str, np.ndarray]:
    """The gradients of the batch's summed squared error with respect to every W and b, from the
    batch's caches (X, pre_act, post_act) and the weights it was run with; `outside`: the output
    layer's cache is linear and the script applied the sigmoid after it."""
    caches = {n: [numerics.real_array(a) for a in snapshot["cache_" + n]] for n in names}
    if outside:
        X, pre, _ = caches[names[-1]]
        caches[names[-1]] = [X, pre, numerics.ACTIVATIONS["sigmoid"](pre)]
    x, out = caches[names[0]][0], caches[names[-1]][2]
    delta = 2 * (out - x)
    grads = {}
    for n, activation in zip(reversed(names), reversed(activations)):
        X, pre, post = caches[n]
        d_pre = delta * _DERIVATIVES[activation](pre, post)
        grads["W" + n], grads["b" + n] = X.T @ d_pre, d_pre.sum(axis=0)
        delta = d_pre @ numerics.real_array(snapshot["W" + n]).T
    return grads


@pytest.mark.rubric("Q5.1.1")
def test_q5_backpropagates_squared_error(q5_run, course_data, question, record_property):
    """each layer's gradients in the last batch are those of the squared error (from the delta of the layer above)"""
    params = params_or_skip(q5_run)
    names = chain_or_skip(params)
    snapshot = q5_run.training.at_last_backwards if q5_run.training else {}
    missing = [n for n in names if not isinstance(snapshot.get("cache_" + n), (tuple, list))
               or len(snapshot["cache_" + n]) != 3
               or any(numerics.real_array(a) is None for a in snapshot["cache_" + n])]
    if missing:
        raise Failure("the grader could not read the last training batch: nn.py's backwards was never called with "
                      f"params holding the caches of {', '.join(missing)}",
                      hint="backpropagate with nn.py's backwards(delta, params, name, activation_deriv), which "
                           "keeps each layer's gradients in params['grad_W'+name] and params['grad_b'+name]")
    unfit = misfits(snapshot, params, names)
    if unfit:
        raise Failure(f"the last training batch, as backwards found it, does not fit the layers {', '.join(unfit)}: "
                      "their W is not a finite real array of the layer's shape, or their cache is not "
                      "(X, pre_act, post_act) of one batch's rows and the layer's sizes",
                      hint="let forward store params['cache_'+name] = (X, pre_act, post_act) and backwards read it")
    activations = student_activations(snapshot, names) or ["relu"] * (len(names) - 1) + ["sigmoid"]
    outside = activations[-1] == "linear" and sigmoid_outside(params, names, course_data)
    if outside:
        activations = activations[:-1] + ["sigmoid"]
    with np.errstate(all="ignore"):
        want = squared_error_gradients(snapshot, names, activations, outside)
    got = {k: numerics.real_array(params.get("grad_" + k)) for k in want}
    absent = [k for k, g in got.items() if g is None or g.size != want[k].size]
    if absent:
        raise Failure(f"params holds no finite gradient of the right shape for {', '.join(absent)} after training",
                      hint="backwards stores params['grad_W'+name] and params['grad_b'+name] for every layer")
    got = {k: g.reshape(want[k].shape) for k, g in got.items()}
    # any positive scale of the whole chain is the same training (a delta of out - x, or a mean):
    # the output layer's, which no other layer's delta feeds, sets it for all
    top = "W" + names[-1]
    scale = float(np.sum(got[top] * want[top])) / max(float(np.sum(want[top] ** 2)), 1e-300)
    errors = {k: numerics.relative_error(got[k], scale * want[k]) for k in want}
    record_property("gradient_scale", scale)
    record_property("gradient_errors", {k: round(e, 6) for k, e in errors.items()})
    bound = question.threshold("gradient_error")
    wrong = [k for k, e in errors.items() if not numerics.at_most(e, bound)]
    if scale > 0 and not wrong:
        return
    layers = [n for n in reversed(names) if "W" + n in wrong or "b" + n in wrong]
    raise Failure(f"the last batch's gradients of {', '.join(wrong) or 'every layer'} are not those of the squared "
                  f"error (relative error {', '.join(f'{errors[k]:.3g}' for k in wrong or want)})",
                  hint=(f"check the delta each layer's backwards receives: layer {layers[0]!r} should get what "
                        "backwards returned for the layer above it") if layers and layers[0] != names[-1] else
                  "the output layer's delta is 2 * (out - x), through the sigmoid's derivative")


# ---------------------------------------------------------------------------------------------
# Q5.1.2 momentum, judged from the dicts the training used

@dataclass(frozen=True)
class Accumulator:
    key: str                  # its name in the dict that holds it
    where: str                # that dict (SeenDict.label)
    final: np.ndarray
    first: np.ndarray | None  # its first value in the run, when the watch saw one


def find_accumulators(q5_run, params: dict, names: list[str]) -> dict[str, Accumulator | None]:
    """Parameter key -> its momentum accumulator: an array of its shape whose name holds the
    parameter's (m_Wlayer1, Wlayer1_m, MWlayer1, or Wlayer1 in a dict of its own), or the layer's
    name in a dict of its own (mW['layer1'], W or b told by shape), in the training's params or any
    other dict of the run, that is not a copy of the parameter."""
    keys = [p + n for n in names for p in ("W", "b")]
    dicts = ([q5_run.training] if q5_run.training else []) + [d for d in q5_run.seen if d is not q5_run.training]
    if not q5_run.training:
        from graders.checks.training_runs import SeenDict
        dicts.insert(0, SeenDict(params, {}, {}, "params"))
    found = dict.fromkeys(keys)
    for seen in dicts:
        is_params = seen is dicts[0]
        for k, v in seen.final.items():
            if (not isinstance(v, np.ndarray) or k.startswith(("grad", "cache")) or (is_params and k in keys)):
                continue
            owners = [p for p in keys if p in k and np.shape(params[p]) == v.shape]
            if not owners and not is_params and k in names:
                # a dict per kind keyed by the layer's name (mW[name], mb[name]): W or b by shape
                owners = [p + k for p in ("W", "b") if np.shape(params[p + k]) == v.shape]
            if not owners:
                continue
            owner = max(owners, key=len)
            if found[owner] is not None or is_copy_of(v, params[owner]):
                continue
            first = seen.first.get(k)
            found[owner] = Accumulator(k, seen.label, v, first if isinstance(first, np.ndarray) else None)
    return found


def is_copy_of(value: np.ndarray, parameter) -> bool:
    """A copy of the weights (params reloaded from a pickle), not an accumulator; a constant array
    equal to a constant parameter (both still zero) is an accumulator, judged as constant."""
    return (isinstance(parameter, np.ndarray) and value.shape == parameter.shape and np.array_equal(value, parameter)
            and bool(np.ptp(parameter) > 0))


@pytest.mark.rubric("Q5.1.2")
def test_q5_momentum_accumulators(q5_run, q5_result, rubric):
    """training keeps a momentum accumulator shaped like each W and b (params['m_'+key], or a name holding the key)"""
    params = params_or_skip(q5_run)
    names = layers_or_skip(params)
    found = find_accumulators(q5_run, params, names)
    absent = [k for k, a in found.items() if a is None]
    # a velocity of all-equal entries (zeros never updated, a constant put there) is not one kept
    still = [a.key for a in found.values() if a is not None and not varies(a.final)]
    if not absent and not still:
        require_trained(q5_result, rubric, "the momentum accumulators")
        return
    hint = ("keep each parameter's velocity, e.g. in params['m_'+key]: m = 0.9*m - learning_rate*grad, "
            "then W = W + m, for every layer's W and b")
    if not absent:
        raise Failure(f"the momentum accumulators {', '.join(still)} hold one value everywhere (never updated, or "
                      "not finite)", hint=hint + ("; an update loop that skips keys holding '_' skips layers named "
                                                  "with '_' too" if any("_" in n for n in names) else ""))
    raise Failure(f"the training kept no momentum accumulator for {', '.join(absent)}",
                  expected=", ".join("m_" + k for k in absent), actual="no array of their shapes named for them",
                  hint=hint)


def varies(value) -> bool:
    """A finite real array whose entries are not all equal."""
    arr = numerics.real_array(value)
    return arr is not None and arr.size > 1 and bool(np.ptp(arr) > 0)


@pytest.mark.rubric("Q5.1.2")
def test_q5_momentum_updated(q5_run, q5_result, question, rubric):
    """training changed every parameter and accumulator (not constant, not zero); each last step follows it"""
    params = params_or_skip(q5_run)
    names = layers_or_skip(params)
    found = {k: a for k, a in find_accumulators(q5_run, params, names).items() if a is not None}
    if not found:
        pytest.skip("the training kept no momentum accumulators (see the check above)")
    require_trained(q5_result, rubric, "the momentum")
    first = q5_run.training.first if q5_run.training else {}
    before = q5_run.training.at_last_backwards if q5_run.training else {}
    problems = [f"{key} never changed during training" for key in (p + n for n in names for p in ("W", "b"))
                if key not in found and isinstance(first.get(key), np.ndarray)
                and np.array_equal(first[key], params[key])]
    for key, acc in found.items():
        m = numerics.real_array(acc.final)
        if m is None:
            problems.append(f"{acc.key} is not finite")
        elif np.ptp(m) == 0:
            problems.append(f"{acc.key} is constant ({m.reshape(-1)[0]:g} everywhere)")
        elif acc.first is not None and np.array_equal(acc.first, acc.final):
            problems.append(f"{acc.key} never changed during training")
        elif isinstance(first.get(key), np.ndarray) and np.array_equal(first[key], params[key]):
            problems.append(f"{key} never changed during training")
        elif numerics.real_array(before.get(key)) is not None and np.shape(before[key]) == m.shape:
            now = numerics.real_array(params[key])
            step = now - before[key] if now is not None else None
            # updated in place, the array seen before the last update is the updated one: no step to compare
            if step is not None and np.any(step != 0):
                cosine = abs(float(np.sum(step * m))) / (np.linalg.norm(step) * np.linalg.norm(m))
                if not numerics.at_least(cosine, question.threshold("step_cosine")):
                    problems.append(f"the last update of {key} did not move it along {acc.key} "
                                    f"(cosine {cosine:.3f})")
    if problems:
        raise Failure(f"the momentum does not drive training: {'; '.join(problems)}",
                      hint="every batch, for every W and b: m = 0.9*m - learning_rate*grad, then W = W + m")


# ---------------------------------------------------------------------------------------------
# Q5.2 training

@pytest.mark.rubric("Q5.2")
def test_run_q5_finishes(q5_run, q5_result, data_sandbox, rubric, record_property):
    """run_q5.py runs to its end on the course data within its time budget, having trained the autoencoder"""
    record_property("seconds", round(q5_run.outcome.elapsed, 1))
    record_property("output", messages.clip(q5_run.outcome.stdout or "", head=100, tail=100))
    script_failure(q5_run, data_sandbox, rubric)
    require_trained(q5_result, rubric, "running to its end")


@pytest.mark.rubric("Q5.2", weight=2)
def test_q5_training_improves_reconstruction(q5_run, q5_result, question, record_property):
    """the trained autoencoder reconstructs images the script never saw far better than fresh networks of its shapes"""
    chain_or_skip(params_or_skip(q5_run))     # a message when there is no network to measure
    for name, value in (("trained_error_per_image", q5_result.trained_error),
                        ("fresh_error_per_image", q5_result.fresh_error), ("error_ratio", q5_result.ratio)):
        number = numerics.finite_number(value)
        record_property(name, round(number, 4) if number is not None else str(value))
    if q5_result.note:
        record_property("measured_on", q5_result.note)
    bound = question.threshold("trained_error_ratio")
    if q5_result.improved(bound):
        return
    raise Failure(f"training did not make the network clearly better: {describe_result(q5_result)}",
                  expected=f"a ratio of at most {bound:g}", actual=describe_result(q5_result),
                  hint="each batch: forward, loss, backwards through every layer, then the momentum update "
                       "of every W and b (printed or plotted losses do not count: the grader measures the weights)")


@pytest.mark.rubric("Q5.2", weight=2)
def test_q5_loss_falls(q5_run, q5_result, question, rubric, record_property):
    """the training loss run_q5.py prints falls during training (for a network that training made better)"""
    losses = printed_losses(q5_run.outcome.stdout)
    record_property("printed_losses", [[i, v] for i, v in losses])
    if len(losses) < 2:
        raise Failure(f"run_q5.py printed {len(losses)} loss line(s); the loss curve needs the epochs' losses",
                      hint="keep the handout's print 'itr: .. loss: ..' in the training loop"
                      + ("" if q5_run.outcome.ok else " (the script stopped early)"))
    require_trained(q5_result, rubric, "the printed loss curve")
    (first_i, first), (last_i, last) = losses[0], losses[-1]
    drop = question.threshold("loss_drop")
    if numerics.at_least(first, 1e-300) and numerics.at_most(last, drop * first):
        return
    raise Failure(f"the printed loss went from {first:.6g} (epoch {first_i}) to {last:.6g} (epoch {last_i}); "
                  f"training should bring it below {drop:g} x the first",
                  hint="each batch: forward, loss, backwards through every layer, then the momentum update "
                       "of every W and b" if np.isfinite(last) else "the loss became NaN or inf: lower the "
                       "learning rate")


@pytest.mark.rubric("Q5.2")
def test_q5_plots_shown(q5_run, q5_result, rubric, pytestconfig, record_property):
    """run_q5.py shows its plots (the loss curve, validation images and reconstructions) of a trained network"""
    if artifacts.save_figures(pytestconfig, record_property, "run_q5", q5_run.outcome.figures,
                              dropped=q5_run.outcome.figures_dropped) == 0:
        raise Failure("run_q5.py showed no figure", expected="at least 1 figure (plt.show())", actual="0 figures",
                      hint="plot the training loss over the epochs and call plt.show()")
    require_trained(q5_result, rubric, "the plots")


# ---------------------------------------------------------------------------------------------
# Q5.3.2 PSNR

@pytest.mark.rubric("Q5.3.2")
def test_q5_psnr(q5_run, course_data, question, record_property, pytestconfig):
    """the trained autoencoder, run by the grader on images the script never saw, reaches a mean PSNR of 13 dB"""
    params = params_or_skip(q5_run)
    names = chain_or_skip(params)
    narrowest = min((params["W" + n].shape[1] for n in names[:-1]), default=params["W" + names[0]].shape[0])
    widest = question.threshold("widest_bottleneck")
    if narrowest > widest:
        raise Failure(f"the narrowest layer of the autoencoder is {narrowest} wide, so it need not compress the images "
                      f"to reconstruct them (a layer as wide as the input can copy it): the PSNR is measured only "
                      f"for a bottleneck of at most {widest:g} (the handout's is 32)",
                      expected=f"a bottleneck of at most {widest:g}", actual=f"{narrowest}",
                      hint="four layers: 1024->32, 32->32, 32->32 and 32->1024 (see the layer check)")
    held_out = course_data.grader
    order = pixel_order(params, names, None, course_data)
    x = arranged(held_out[0], order)
    with np.errstate(all="ignore"):
        reconstruction = evaluation.autoencoder_forward(params, x, names=names)
        psnr = evaluation.mean_psnr(x, reconstruction)
    record_property("psnr", round(psnr, 3) if np.isfinite(psnr) else str(psnr))
    if order is not None:
        record_property("pixel_order", "the network was trained on images with their pixels in row order: "
                                       "it was measured so")
    if course_data.grader_note:
        record_property("measured_on", course_data.grader_note)
    # the order is its own inverse: the reconstructions go back to the stored order for display
    record_reconstructions(pytestconfig, record_property, held_out, arranged(reconstruction, order))
    threshold = question.threshold("psnr")
    if numerics.at_least(psnr, threshold):
        return
    hint = "train longer, check the momentum update, or tune the learning rate"
    if any(cache_activation_or_none(params, n) == "sigmoid" for n in names[:-1]):
        hint = ("the grader runs the handout's network (ReLU hidden layers, sigmoid output) over your weights, "
                "and your hidden layers used sigmoid")
    raise Failure(f"the mean PSNR of the reconstructions of the held-out images is {psnr:.2f} dB; "
                  f"at least {threshold:g} dB is needed (the handout expects about 15)",
                  expected=f">= {threshold:g} dB", actual=f"{psnr:.2f} dB", hint=hint)


# five classes, two images each, as the handout's Q5.3.1 shows them
SHOWN_CLASSES = ("A", "H", "O", "V", "4")


def record_reconstructions(pytestconfig, record_property, valid, reconstruction) -> None:
    """Originals above the grader's reconstructions from the student's weights, for the report."""
    if artifacts.folder(pytestconfig) is None or np.shape(reconstruction) != np.shape(valid[0]):
        return
    labels = np.argmax(valid[1], axis=1)
    rows = [evaluation.CHARACTERS.index(c) for c in SHOWN_CLASSES]
    picks = [i for k in rows for i in np.flatnonzero(labels == k)[:2]]
    # the .mat files store each image transposed
    originals = [valid[0][i].reshape(32, 32).T for i in picks]
    rebuilt = [np.asarray(reconstruction[i], dtype=float).reshape(32, 32).T for i in picks]
    artifacts.record_image(pytestconfig, record_property, "q5_reconstructions.png",
                           artifacts.image_grid([originals, rebuilt]),
                           f"validation images of {', '.join(SHOWN_CLASSES)} (top) and the grader's "
                           "reconstructions from your trained weights (bottom)")


def cache_activation_or_none(params, name):
    try:
        return cache_activation(params, name)
    except Failure:
        return None
