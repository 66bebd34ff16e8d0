"""Q5: run_q5.py's autoencoder (layers, activations, momentum, training, PSNR).

run_q5.py runs once per grading (the q5_run fixture, in the data sandbox, seeded by the run's
seed) and every check reads what it returned: its final `params` (a Counter, which keeps the
order the keys were created in, so the layers are found whatever they are called) and its
printed losses (the handout's given print "itr: .. loss: .."). Verdicts are computed here:
- layer sizes from the shapes of the W and b arrays, in creation order;
- activations from the caches forward stored, params['cache_'+name] = (X, pre_act, post_act):
  post_act must be relu(pre_act) in the hidden layers and sigmoid(pre_act) at the output. This
  tests what the student's network computed, whatever their code looks like;
- PSNR by the grader's own forward pass of the handout's network (ReLU hidden layers, sigmoid
  output) over the returned weights on the validation set, with skimage's peak_signal_noise_ratio.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from graders import artifacts, evaluation, messages, numerics
from graders.messages import Failure, describe
from graders.suites.q3_training import script_failure

pytestmark = pytest.mark.xdist_group("q5")

_LOSS_LINE = re.compile(r"itr:\s*(\d+)\s+loss:\s*([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))", re.IGNORECASE)
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
    """The layer names when their shapes chain 1024 -> ... -> 1024 (any widths)."""
    names = layers_or_skip(params)
    dims = [1024]
    for n in names:
        W, b = params["W" + n], params["b" + n]
        if W.ndim != 2 or W.shape[0] != dims[-1] or b.shape != (W.shape[1],):
            pytest.skip("the layers' shapes do not chain from 1024 inputs back to 1024 outputs")
        dims.append(W.shape[1])
    if dims[-1] != 1024:
        pytest.skip("the last layer does not output 1024 values")
    return names


def printed_losses(stdout: str) -> list[tuple[int, float]]:
    return [(int(i), float(v)) for i, v in _LOSS_LINE.findall(stdout or "")]


# ---------------------------------------------------------------------------------------------
# Q5.1.1 layers, activations, loss

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
    pre, post = np.asarray(cache[1], dtype=np.float64), np.asarray(cache[2], dtype=np.float64)
    if pre.shape != post.shape:
        return None
    with np.errstate(all="ignore"):
        for key in _KNOWN:
            if np.allclose(post, numerics.ACTIVATIONS[key](pre), rtol=1e-5, atol=1e-7):
                return key
    return None


@pytest.mark.rubric("Q5.1.1", weight=2)
def test_q5_activations(q5_run):
    """the hidden layers apply ReLU and the output layer a sigmoid (read from the caches forward stored)"""
    params = params_or_skip(q5_run)
    names = layers_or_skip(params)
    wrong = []
    for i, n in enumerate(names):
        want = "sigmoid" if i == len(names) - 1 else "relu"
        got = cache_activation(params, n)
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


@pytest.mark.rubric("Q5.1.1")
def test_q5_loss_is_total_squared_error(q5_run, course_data, question, record_property):
    """the loss run_q5.py prints is the squared error summed over the training images and pixels"""
    params = params_or_skip(q5_run)
    names = chain_or_skip(params)
    losses = printed_losses(q5_run.outcome.stdout)
    if not losses:
        raise Failure("run_q5.py printed no loss (the handout's line 'itr: .. loss: ..')",
                      hint="keep the handout's print of total_loss in the training loop")
    train_x = course_data.train[0]
    # the network as the student built it (activations read from its caches), so that a wrong
    # activation costs the activation check only
    used = [cache_activation_or_none(params, n) for n in names]
    with np.errstate(all="ignore"):
        out = evaluation.autoencoder_forward(params, train_x, used if all(used) else None)
        want = float(np.sum((out - train_x) ** 2))
    got = losses[-1][1]
    low, high = question.threshold("loss_ratio_low"), question.threshold("loss_ratio_high")
    ratio = got / want if want > 0 else float("inf")
    record_property("loss_ratio", round(ratio, 4) if np.isfinite(ratio) else str(ratio))
    if np.isfinite(ratio) and low <= ratio <= high:
        return
    n, pixels = train_x.shape
    hint = "total_loss adds np.sum((out - xb) ** 2) of every batch"
    if np.isfinite(ratio) and ratio > 0:
        for factor, why in ((1 / (n * pixels), "a mean over images and pixels"), (1 / n, "a mean over images"),
                            (1 / pixels, "a mean over pixels"), (0.5, "half the squared error"),
                            (1 / (36 * pixels), "a mean over a batch's pixels")):
            if abs(np.log(ratio / factor)) < np.log(2):
                hint = f"yours looks like {why}: the handout's loss is the SUM of squared errors"
    raise Failure(f"the last printed loss (epoch {losses[-1][0]}) is {got:.6g}, but the final weights' squared "
                  f"error summed over the {n} training images is {want:.6g}", hint=hint,
                  expected=f"about {want:.6g}", actual=f"{got:.6g}")


# ---------------------------------------------------------------------------------------------
# Q5.1.2 momentum

def momentum_pairs(params: dict, names: list[str]) -> list[tuple[str, np.ndarray, object]]:
    return [(p + n, params[p + n], params.get("m_" + p + n)) for n in names for p in ("W", "b")]


@pytest.mark.rubric("Q5.1.2")
def test_q5_momentum_accumulators(q5_run):
    """params holds a momentum accumulator 'm_'+key for every W and b, shaped like it"""
    params = params_or_skip(q5_run)
    wrong = [(key, value.shape, m) for key, value, m in momentum_pairs(params, layers_or_skip(params))
             if not (isinstance(m, np.ndarray) and m.shape == value.shape)]
    if not wrong:
        return
    absent = [key for key, _, m in wrong if m is None]
    if absent:
        raise Failure(f"params has no momentum accumulator for {', '.join(absent)}",
                      expected=", ".join("m_" + k for k in absent), actual="no such keys",
                      hint="keep each parameter's velocity in params['m_'+key]: "
                           "m = 0.9*m - learning_rate*grad, then W = W + m")
    text = "; ".join(f"m_{k} is {describe(m)}, expected shape {s}" for k, s, m in wrong)
    raise Failure(f"the momentum accumulators have the wrong shape: {text}",
                  hint="params is a Counter: params['m_'+key] starts as 0 and becomes an array of the "
                       "parameter's shape at the first update; a scalar left means it was never updated")


@pytest.mark.rubric("Q5.1.2")
def test_q5_momentum_updated(q5_run):
    """the momentum accumulators changed during training (they are not all zero at the end)"""
    params = params_or_skip(q5_run)
    pairs = [(k, m) for k, _, m in momentum_pairs(params, layers_or_skip(params)) if m is not None]
    if not pairs:
        pytest.skip("params has no momentum accumulators (see the check above)")
    still = [k for k, m in pairs if not np.any(np.asarray(m, dtype=np.float64) != 0)]
    if still:
        raise Failure(f"after training, the momentum of {', '.join(still)} is still zero",
                      hint="update params['m_'+key] = 0.9*params['m_'+key] - learning_rate*params['grad_'+key] "
                           "every batch, then add it to the parameter")


# ---------------------------------------------------------------------------------------------
# Q5.2 training

@pytest.mark.rubric("Q5.2")
def test_run_q5_finishes(q5_run, data_sandbox, rubric, record_property):
    """run_q5.py runs to its end on the course data within its time budget"""
    record_property("seconds", round(q5_run.outcome.elapsed, 1))
    record_property("output", messages.clip(q5_run.outcome.stdout or "", head=100, tail=100))
    script_failure(q5_run, data_sandbox, rubric)


@pytest.mark.rubric("Q5.2", weight=2)
def test_q5_loss_falls(q5_run, question, record_property):
    """the training loss run_q5.py prints falls during training"""
    losses = printed_losses(q5_run.outcome.stdout)
    record_property("printed_losses", [[i, v] for i, v in losses])
    if len(losses) < 2:
        raise Failure(f"run_q5.py printed {len(losses)} loss line(s); the loss curve needs the epochs' losses",
                      hint="keep the handout's print 'itr: .. loss: ..' in the training loop"
                      + ("" if q5_run.outcome.ok else " (the script stopped early)"))
    (first_i, first), (last_i, last) = losses[0], losses[-1]
    drop = question.threshold("loss_drop")
    if np.isfinite(last) and first > 0 and last <= drop * first:
        return
    raise Failure(f"the printed loss went from {first:.6g} (epoch {first_i}) to {last:.6g} (epoch {last_i}); "
                  f"training should bring it below {drop:g} x the first",
                  hint="each batch: forward, loss, backwards through every layer, then the momentum update "
                       "of every W and b" if np.isfinite(last) else "the loss became NaN or inf: lower the "
                       "learning rate")


@pytest.mark.rubric("Q5.2")
def test_q5_plots_shown(q5_run, pytestconfig, record_property):
    """run_q5.py shows its plots (the training loss curve, validation images and reconstructions)"""
    if artifacts.save_figures(pytestconfig, record_property, "run_q5", q5_run.outcome.figures) == 0:
        raise Failure("run_q5.py showed no figure", expected="at least 1 figure (plt.show())", actual="0 figures",
                      hint="plot the training loss over the epochs and call plt.show()")


# ---------------------------------------------------------------------------------------------
# Q5.3.2 PSNR

@pytest.mark.rubric("Q5.3.2")
def test_q5_psnr(q5_run, course_data, question, record_property, pytestconfig):
    """the trained autoencoder, run by the grader on the validation set, reaches a mean PSNR of at least 13 dB"""
    params = params_or_skip(q5_run)
    names = chain_or_skip(params)
    valid_x = course_data.valid[0]
    with np.errstate(all="ignore"):
        reconstruction = evaluation.autoencoder_forward(params, valid_x)
        psnr = evaluation.mean_psnr(valid_x, reconstruction)
    record_property("psnr", round(psnr, 3))
    record_reconstructions(pytestconfig, record_property, course_data.valid, reconstruction)
    threshold = question.threshold("psnr")
    if psnr >= threshold:
        return
    hint = "train longer, check the momentum update, or tune the learning rate"
    if any(cache_activation_or_none(params, n) == "sigmoid" for n in names[:-1]):
        hint = ("the grader runs the handout's network (ReLU hidden layers, sigmoid output) over your weights, "
                "and your hidden layers used sigmoid")
    raise Failure(f"the mean PSNR of the reconstructions of the validation set is {psnr:.2f} dB; "
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
