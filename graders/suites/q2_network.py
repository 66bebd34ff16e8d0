"""Q2: the fully connected network in nn.py and run_q2.py's training loop and gradient checker.

Each check's docstring is the sentence the student reads. Inputs are fresh random arrays from
the run's seed. Public checks judge by properties, scipy (expit, softmax) and central
differences (graders.checks.numerics); the hidden checks that compare with the staff solution are in
hidden_q2_network.py, which students do not receive.

Why one file this long: a suite is one question group of the rubric; Q2's seven questions
(initialisation, forward, softmax, loss and accuracy, backwards, the training loop, the gradient
checker) are checked here, and a student who reads why they lost Q2 points reads one file.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import softmax as scipy_softmax

from graders.checks import numerics
from graders.checks import plugin
from graders.results.messages import CheckFailure, Failure, Mismatch, Missing, NotImplementedYet, describe
from graders.sandbox.sandbox import Ref
from graders.checks.student_module import call_limits, check_outcome
from graders.checks.training_runs import SEEN
from graders.suites._arrays import as_array, expect_close, expect_shape, finite, param, scalar
from graders.suites._scripts import unimplemented

def advise(request, text: str) -> None:
    """A note for the student on a check that passes: a reading of the handout the grader
    accepts, said so the rubric and the student both see it."""
    request.node.user_properties.append((plugin.NOTE, text))
    request.node.user_properties.append(("advice", text))


# ---------------------------------------------------------------------------------------------
# Q2.1.2 initialize_weights

def init(nn, in_size, out_size, name, seed):
    out = nn.value("initialize_weights", in_size, out_size, {}, name, seed=seed, allow_none=True)
    params = out.args[2]
    return (param(params, "W" + name, "initialize_weights"),
            param(params, "b" + name, "initialize_weights"))


def require_drawn(W: np.ndarray) -> None:
    """A side property of initialize_weights (shapes, b) counts only when W was drawn: a constant
    W (all zeros, all ones) initializes nothing."""
    values = numerics.real_array(W)
    if values is None or values.size < 2 or not numerics.at_least(float(np.ptp(values)), 1e-12):
        raise Failure(f"W holds one value everywhere ({describe(W)}), so initialize_weights drew no weights; "
                      "its shapes and b count only for a drawn W",
                      hint="W = np.random.uniform(-a, a, (in_size, out_size)) with a = sqrt(6/(in+out))")


@pytest.fixture
def big_draw(nn, rng):
    """A 400 x 600 layer: enough draws for tight statistics, small enough to move quickly."""
    in_size, out_size = 400, 600
    W, _ = init(nn, in_size, out_size, "layer1", int(rng.integers(2**31)))
    expect_shape(W, (in_size, out_size), "W")
    return W, np.sqrt(6.0 / (in_size + out_size)), in_size, out_size


@pytest.mark.rubric("Q2.1.2")
def test_init_shapes(nn, rng):
    """initialize_weights stores W, shape (in_size, out_size), and b, shape (out_size,), under 'W'+name and 'b'+name"""
    in_size, out_size = (int(v) for v in rng.choice(np.arange(3, 40), 2, replace=False))
    W, b = init(nn, in_size, out_size, "hidden", int(rng.integers(2**31)))
    expect_shape(W, (in_size, out_size), "params['Whidden']")
    require_drawn(W)
    if b.shape != (out_size,):
        raise Failure(f"params['bhidden'] has shape {b.shape}; it must be ({out_size},)",
                      hint="b should be a 1D array, not a 2D array with a singleton dimension"
                      if b.size == out_size else "b has one entry per output unit")


@pytest.mark.rubric("Q2.1.2")
def test_init_bias_zero(nn, rng):
    """b starts as all zeros"""
    in_size, out_size = int(rng.integers(3, 30)), int(rng.integers(3, 30))
    W, b = init(nn, in_size, out_size, "layer1", int(rng.integers(2**31)))
    require_drawn(W)
    if b.size != out_size:
        raise Failure(f"b has {b.size} entries for a layer of {out_size} units",
                      hint="b holds one zero per output unit: a 1-D array of shape (out_size,)")
    if not numerics.at_most(np.abs(b).max(), 0.0):
        raise Failure(f"b is not all zeros (max |b| = {np.abs(b).max():.3g})",
                      hint="the handout initializes b to the zero vector")


@pytest.mark.rubric("Q2.1.2")
def test_init_xavier_range(big_draw):
    """W lies within [-a, a], a = sqrt(6/(in+out)), and reaches both ends"""
    W, a, in_size, out_size = big_draw
    lo, hi = float(W.min()), float(W.max())
    if not (numerics.at_least(lo, -a * (1 + 1e-9)) and numerics.at_most(hi, a * (1 + 1e-9))
            and numerics.at_most(lo, -0.99 * a) and numerics.at_least(hi, 0.99 * a)):
        hint = ""
        if hi <= 1 and lo >= 0 and hi > 0.9:
            hint = "this looks like U(0, 1): scale to U(-a, a)"
        elif hi > 0.9 and lo < -0.9:
            hint = "this looks like U(-1, 1): scale it by a = sqrt(6/(in+out))"
        elif hi > a:
            hint = "values beyond a: a normal distribution is unbounded; the handout asks for a uniform one"
        raise Failure(f"W for in={in_size}, out={out_size} ranges over [{lo:.4f}, {hi:.4f}]; "
                      f"Xavier uniform fills [-{a:.4f}, {a:.4f}]", hint=hint)


@pytest.mark.rubric("Q2.1.2")
def test_init_xavier_variance(big_draw, question):
    """W has mean 0 and variance 2/(in+out) (Xavier)"""
    W, a, in_size, out_size = big_draw
    target, var, mean = 2.0 / (in_size + out_size), float(W.var()), float(W.mean())
    if not (numerics.at_most(abs(var - target), question.threshold("variance_rtol") * target)
            and numerics.at_most(abs(mean), 0.01 * a)):
        raise Failure(f"W for in={in_size}, out={out_size} has mean {mean:.4g} and variance {var:.4g}; "
                      f"expected mean 0 and variance 2/(in+out) = {target:.4g}",
                      hint="U(-a, a) has variance a^2/3, so a = sqrt(6/(in+out))")


@pytest.mark.rubric("Q2.1.2")
def test_init_uniform(big_draw, question):
    """W is drawn from the uniform distribution U(-a, a) (Kolmogorov-Smirnov test)"""
    W, a, _, _ = big_draw
    # only the distance is used: the asymptotic p-value spares kolmogn's exact one, which takes
    # a quarter second for some distances at 240,000 draws
    distance = float(stats.kstest(np.ravel(W), "uniform", args=(-a, 2 * a), method="asymp").statistic)
    if not numerics.at_most(distance, question.threshold("ks_distance")):
        raise Failure(f"the values of W do not follow U(-{a:.4f}, {a:.4f}): Kolmogorov-Smirnov "
                      f"distance {distance:.3f} (a uniform draw gives under {question.threshold('ks_distance')})",
                      hint="use np.random.uniform(-a, a, size); eq. 16 of the Xavier paper is uniform, not normal")


# ---------------------------------------------------------------------------------------------
# Q2.2.1 sigmoid and forward

@pytest.mark.rubric("Q2.2.1")
def test_sigmoid_values(nn, rng):
    """sigmoid(x) equals 1/(1+exp(-x)) (scipy.special.expit) elementwise, keeping x's shape"""
    x = rng.normal(0, 4, (int(rng.integers(3, 9)), int(rng.integers(2, 7))))
    got = as_array(nn.value("sigmoid", x).value, "sigmoid")
    expect_close(got, numerics.ACTIVATIONS["sigmoid"](x), "sigmoid(x)")


@pytest.mark.rubric("Q2.2.1")
def test_sigmoid_extremes(nn):
    """sigmoid gives 0 at -1000 and 1 at +1000 (to within 1e-12), no NaN and no crash (warnings are fine), and 1/2 at 0"""
    hint = ("np.exp(x) / (1 + np.exp(x)) is inf/inf = NaN at +1000; "
            "1 / (1 + np.exp(-x)) is exact at both ends")
    got = as_array(nn.value("sigmoid", np.array([-1000, 0, 1000])).value, "sigmoid", hint=hint)
    # "should be zero and one", run_q2.py prints: a sigmoid that clips x to +-30..709 against the
    # overflow warning gives 1e-13..1e-308 at -1000, which is that zero
    # the value at 0 makes the ends count only for a sigmoid (a step function has them too)
    if not (got.shape == (3,) and numerics.at_least(got[0], 0.0) and numerics.at_most(got[0], EXTREME)
            and numerics.at_most(abs(got[1] - 0.5), 1e-9)
            and numerics.at_least(got[2], 1.0 - EXTREME) and numerics.at_most(got[2], 1.0)):
        raise Mismatch("sigmoid(np.array([-1000, 0, 1000]))", np.array([0.0, 0.5, 1.0]), got, hint=hint)


EXTREME = 1e-12


def layer(rng, n=None, d=None, h=None):
    n, d, h = n or int(rng.integers(4, 10)), d or int(rng.integers(3, 8)), h or int(rng.integers(2, 7))
    if h == d:
        h += 1      # W is never square, so a transposed gradient shows in its shape
    return rng.normal(0, 1, (n, d)), rng.normal(0, 0.8, (d, h)), rng.normal(0, 0.5, h)


@pytest.mark.rubric("Q2.2.1")
def test_forward_output(nn, rng):
    """forward returns sigmoid(X @ W + b) for X of shape (examples, dims)"""
    X, W, b = layer(rng)
    got = as_array(nn.value("forward", X, {"Wlayer1": W, "blayer1": b}, "layer1").value, "forward")
    expect_close(got, numerics.layer_forward(X, W, b, "sigmoid")[1], "forward(X, params, 'layer1')",
                 hint="pre_act = X @ W + b (examples along the rows), then the activation")


@pytest.mark.rubric("Q2.2.1")
def test_forward_uses_activation(nn, rng):
    """forward applies the activation it is given (with util.linear it returns X @ W + b)"""
    X, W, b = layer(rng)
    out = nn.value("forward", X, {"Wout": W, "bout": b}, "out", activation=Ref("util", "linear"))
    expect_close(as_array(out.value, "forward"), numerics.layer_forward(X, W, b, "linear")[1],
                 "forward(X, params, 'out', linear)", hint="call activation(pre_act), not sigmoid directly")


@pytest.mark.rubric("Q2.2.1")
def test_forward_cache(nn, rng):
    """forward stores (X, pre_act, post_act) in params['cache_'+name] (and returns post_act in that call)"""
    X, W, b = layer(rng)
    out = nn.value("forward", X, {"Wlayer2": W, "blayer2": b}, "layer2")
    pre, post = numerics.layer_forward(X, W, b, "sigmoid")
    expect_close(as_array(out.value, "forward"), post, "forward(X, params, 'layer2')")
    params = out.args[1]
    cache = params.get("cache_layer2") if isinstance(params, dict) else None
    if cache is None:
        raise Missing("params['cache_layer2']", "params after forward(X, params, 'layer2')",
                      present=sorted(map(str, params)) if isinstance(params, dict) else (),
                      hint="backwards reads X, pre_act and post_act from the cache")
    if not isinstance(cache, (tuple, list)) or len(cache) != 3:
        raise Mismatch("params['cache_layer2']", "a tuple (X, pre_act, post_act)", describe(cache))
    for name, got, want in zip(("X", "pre_act", "post_act"), cache, (X, pre, post)):
        if got is None:
            raise NotImplementedYet("forward", f"the cache's {name} is None")
        expect_close(as_array(got, f"the cache's {name}"), want, f"the cache's {name}",
                     hint="the cache holds (X, pre_act, post_act) in that order")


# ---------------------------------------------------------------------------------------------
# Q2.2.2 softmax

def logits(rng):
    return rng.normal(0, 3, (int(rng.integers(4, 12)), int(rng.integers(3, 8))))


OVERFLOW_HINT = "np.exp overflows above about 709: subtract each row's max first (Q1.1)"


def softmax_of_outcome(out) -> np.ndarray:
    return as_array(out.value, "softmax", hint=OVERFLOW_HINT)


def softmax_of(nn, x):
    return softmax_of_outcome(nn.value("softmax", x))


def expect_distribution(got: np.ndarray, x: np.ndarray) -> None:
    """softmax's answer has x's shape and rows of non-negative entries summing to 1."""
    expect_shape(got, x.shape, "softmax(x)", "x")
    sums = got.sum(axis=1)
    if not (np.allclose(sums, 1.0, atol=1e-9) and np.all(got >= 0)):
        raise Failure(f"the rows of softmax(x) sum to {describe(sums)}, not 1",
                      hint="softmax is done for each row: sum over axis=1 with keepdims=True")
    # a distribution that ignores x (every row uniform) is no answer: softmax keeps each row's order
    if not np.array_equal(np.argmax(got, axis=1), np.argmax(x, axis=1)) or np.any(np.ptp(got, axis=1) <= 0):
        raise Failure("softmax(x) does not follow x: in some row the largest input does not get the largest "
                      "probability, so these rows are not x's distribution",
                      hint="softmax(x)[i] = exp(x[i] - max) / sum(exp(x[i] - max)) for each row i")


@pytest.mark.rubric("Q2.2.2")
def test_softmax_rows_sum_to_one(nn, rng):
    """softmax returns an array of the input's shape whose rows are positive and sum to 1"""
    x = logits(rng)
    expect_distribution(softmax_of(nn, x), x)


@pytest.mark.rubric("Q2.2.2")
def test_softmax_matches_scipy(nn, rng):
    """softmax(x) equals scipy.special.softmax(x, axis=1)"""
    x = logits(rng)
    got = softmax_of(nn, x)
    hint = ("this is softmax over the columns (axis=0); it must be done for each row"
            if got.shape == x.shape and np.allclose(got, scipy_softmax(x, axis=0)) else "")
    expect_close(got, numerics.row_softmax(x), "softmax(x)", hint=hint)


@pytest.mark.rubric("Q2.2.2")
def test_softmax_translation_invariant(nn, rng):
    """softmax(x + c) equals softmax(x) when a constant c is added to each row (Q1.1)"""
    x = logits(rng)
    c = rng.uniform(-50, 50, (x.shape[0], 1))
    expect_close(softmax_of(nn, x + c), numerics.row_softmax(x), "softmax(x + c)")


@pytest.mark.rubric("Q2.2.2")
def test_softmax_large_inputs(nn, rng):
    """softmax of inputs in the thousands is finite and correct (shift each row by its max)"""
    x = logits(rng) + rng.choice([-1, 1], (1, 1)) * rng.uniform(1000, 3000, (1, 1))
    x[0] += 2000       # one row far above the others
    expect_close(softmax_of(nn, x), numerics.row_softmax(x), "softmax(x) for |x| near 1000-5000",
                 hint=OVERFLOW_HINT)


@pytest.mark.rubric("Q2.2.2")
def test_softmax_keeps_input(nn, rng):
    """softmax does not modify the array it is given (and answers a distribution per row in that call)"""
    x = logits(rng)
    out = nn.value("softmax", x.copy())
    expect_distribution(softmax_of_outcome(out), x)
    after = out.args[0]
    if not (isinstance(after, np.ndarray) and np.array_equal(after, x)):
        raise Failure("softmax changed its argument x in place",
                      hint="x -= x.max(...) edits the caller's array; write x = x - x.max(...)")


# ---------------------------------------------------------------------------------------------
# Q2.2.3 compute_loss_and_acc

def predictions(rng):
    n, c = int(rng.integers(20, 60)), int(rng.integers(4, 10))
    labels = rng.integers(0, c, n)
    y = np.eye(c)[labels]
    probs = numerics.row_softmax(rng.normal(0, 1.5, (n, c)))
    right = rng.random(n) < 0.5          # about half predicted correctly
    probs[right] = numerics.row_softmax(rng.normal(0, 1.5, (int(right.sum()), c)) + 4 * y[right])
    return y, probs


def loss_and_acc(nn, y, probs):
    value = nn.value("compute_loss_and_acc", y, probs).value
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise Mismatch("compute_loss_and_acc returned", "a pair (loss, acc)", describe(value))
    if value[0] is None or value[1] is None:
        raise NotImplementedYet("compute_loss_and_acc", "it returned None for loss or acc")
    return value


@pytest.mark.rubric("Q2.2.3")
def test_loss_acc_returns_two_numbers(nn, rng):
    """compute_loss_and_acc returns (loss, acc): two numbers"""
    y, probs = predictions(rng)
    loss, acc = loss_and_acc(nn, y, probs)
    for name, value in (("loss", loss), ("acc", acc)):
        if isinstance(value, np.ndarray) and value.size == len(y):
            raise Failure(f"{name} is an array of shape {value.shape}, one value per example; it "
                          f"must be a single number over all {len(y)} examples",
                          hint="sum the per-example losses" if name == "loss" else "take the mean")
        scalar(value, name)
    # two numbers count only as an answer: the loss of other predictions must differ (a constant
    # (0.0, 0.0) is none)
    other, _ = loss_and_acc(nn, y, numerics.row_softmax(np.log(np.clip(probs, 1e-12, None)) + 3 * y))
    if numerics.finite_number(loss) is not None and numerics.finite_number(other) == numerics.finite_number(loss):
        raise Failure(f"compute_loss_and_acc returned the loss {describe(loss)} for two different sets of "
                      "predictions, so it did not compute the loss of either",
                      hint="loss = -sum(y * log(probs)), acc = mean(argmax(y) == argmax(probs))")


@pytest.mark.rubric("Q2.2.3")
def test_loss_is_summed_cross_entropy(nn, rng):
    """loss is the cross-entropy summed over the examples, with the natural log"""
    y, probs = predictions(rng)
    loss, _ = loss_and_acc(nn, y, probs)
    n, want = len(y), numerics.cross_entropy_sum(y, probs)
    if isinstance(loss, np.ndarray) and loss.size > 1:
        raise Failure(f"loss is an array of shape {loss.shape}; it should be one number, the SUM "
                      f"over the {n} examples ({want:.4g})")
    got = scalar(loss, "loss")
    # the common guard against log(0), -sum(y * log(probs + eps)), moves the sum: LOSS_RTOL
    # passes eps up to 1e-6 on every draw (3000 draws), and 1e-5 on 99.4%; a mean, another base
    # or the sign is off by a factor of 2 or more
    if np.isclose(got, want, rtol=LOSS_RTOL):
        return
    hint = ""
    for factor, h in ((1 / n, "did you take the mean?"), (1 / np.log(10), "did you use log10? the log is natural"),
                      (1 / np.log(2), "did you use log2? the log is natural"), (-1, "check the sign: loss = -sum(y log p)")):
        if np.isclose(got, want * factor, rtol=1e-6):
            hint = h
    raise Failure(f"loss is {got:.8g}; it should be the SUM over the {n} examples of -log p(label) "
                  f"({want:.8g})" + (f": {hint}" if hint else ""), expected=f"{want:.8g}", actual=f"{got:.8g}")


LOSS_RTOL = 1e-3


@pytest.mark.rubric("Q2.2.3")
def test_accuracy_is_fraction(nn, rng):
    """acc is the fraction of examples whose most probable class is the label"""
    y, probs = predictions(rng)
    _, acc = loss_and_acc(nn, y, probs)
    want, n = numerics.accuracy(y, probs), len(y)
    if isinstance(acc, np.ndarray) and acc.size > 1:
        raise Failure(f"acc is an array of shape {acc.shape}; it should be one number ({want:.4g})")
    got = scalar(acc, "acc")
    if np.isclose(got, want):
        return
    hint = ("this is the number of correct examples: divide by the number of examples" if np.isclose(got, want * n)
            else "this is a percentage: the handout's acc is a fraction in [0, 1]" if np.isclose(got, 100 * want)
            else "compare np.argmax(probs, axis=1) with np.argmax(y, axis=1)")
    raise Failure(f"acc is {got:.4g}; expected {want:.4g} ({int(round(want * n))} of {n} correct)", hint=hint)


# ---------------------------------------------------------------------------------------------
# Q2.3.1 backwards

def backwards_case(rng, activation: str):
    """A layer, its cache as forward would store it, and the upstream delta."""
    X, W, b = layer(rng)
    pre, post = numerics.layer_forward(X, W, b, activation)
    delta = rng.normal(0, 1, post.shape)
    return X, W, b, pre, post, delta


def numerical_layer_gradients(X, W, b, delta, activation):
    """Central differences of J = sum(delta * activation(X @ W + b)), so dJ/dpost_act = delta."""
    X, W, b = X.copy(), W.copy(), b.copy()
    loss = lambda: float(np.sum(delta * numerics.layer_forward(X, W, b, activation)[1]))  # noqa: E731
    return {"W": numerics.numerical_gradient(loss, W), "b": numerics.numerical_gradient(loss, b),
            "X": numerics.numerical_gradient(loss, X)}


def run_backwards(nn, rng, activation: str, name: str = "layer1"):
    X, W, b, pre, post, delta = backwards_case(rng, activation)
    params = {"W" + name: W, "b" + name: b, "cache_" + name: (X, pre, post)}
    kwargs = {} if activation == "sigmoid" else {"activation_deriv": Ref("util", "linear_deriv")}
    out = nn.value("backwards", delta, params, name, allow_none=True, **kwargs)
    got = Gradients()
    for key, read in (("X", lambda: as_array(out.value, "backwards")),
                      ("W", lambda: param(out.args[1], "grad_W" + name, "backwards")),
                      ("b", lambda: param(out.args[1], "grad_b" + name, "backwards"))):
        try:
            got[key] = read()
        except CheckFailure as failure:
            got.failures[key] = failure
    return got, numerical_layer_gradients(X, W, b, delta, activation), {"W": W, "b": b, "X": X}


class Gradients(dict):
    """backwards' gradients by "W", "b", "X": one that cannot be read raises its failure when a
    check asks for it, so the returned grad_X is judged whatever keys the others were stored under."""

    def __init__(self):
        super().__init__()
        self.failures = {}

    def __missing__(self, key):
        raise self.failures[key]


def expect_gradient(got, want, what: str, n: int, tolerance: float):
    if got.shape != want.shape:
        expect_shape(got, want.shape, what)
    error = numerics.relative_error(got, want)
    if numerics.at_most(error, tolerance):
        return
    hint = ""
    if numerics.at_most(numerics.relative_error(got * n, want), tolerance):
        hint = (f"yours is the numerical gradient divided by the batch size ({n}): did you average? "
                "the handout's gradients are SUMMED over the examples")
    elif numerics.at_most(numerics.relative_error(-got, want), tolerance):
        hint = "the sign is flipped"
    raise Failure(f"{what} differs from the numerical gradient (relative error {error:.2g} > {tolerance:g})",
                  hint=hint or "activation_deriv takes post_act; then grad_W = X.T @ d, grad_b = d summed "
                               "over the examples, grad_X = d @ W.T",
                  expected=want, actual=got)


@pytest.mark.rubric("Q2.3.1")
def test_backwards_shapes(nn, rng):
    """backwards stores grad_W+name and grad_b+name shaped like W and b, and returns grad_X shaped like X"""
    got, _, originals = run_backwards(nn, rng, "sigmoid", "layer1")
    for key, label in (("W", "params['grad_Wlayer1']"), ("b", "params['grad_blayer1']"), ("X", "grad_X")):
        expect_shape(got[key], originals[key].shape, label, key if key == "X" else key + "layer1")
    # the shapes count only for gradients: zeros of the right shapes are no answer
    zero = [label for key, label in (("W", "grad_W"), ("X", "grad_X")) if np.all(got[key] == 0)]
    if zero:
        raise Failure(f"{' and '.join(zero)} are all zeros for a nonzero delta, so backwards computed no "
                      "gradient; the shapes count only for gradients",
                      hint="grad_W = X.T @ d, grad_b = d summed over the examples, grad_X = d @ W.T, with "
                           "d = delta * activation_deriv(post_act)")


@pytest.mark.rubric("Q2.3.1", weight=2)
def test_backwards_grad_w(nn, rng, question):
    """grad_W equals the numerical gradient (sigmoid layer, summed over the batch)"""
    got, want, originals = run_backwards(nn, rng, "sigmoid")
    expect_gradient(got["W"], want["W"], "params['grad_Wlayer1']", len(originals["X"]),
                    question.threshold("gradient_error"))


@pytest.mark.rubric("Q2.3.1")
def test_backwards_grad_b(nn, rng, question):
    """grad_b equals the numerical gradient (sigmoid layer, summed over the batch)"""
    got, want, originals = run_backwards(nn, rng, "sigmoid")
    expect_gradient(got["b"], want["b"], "params['grad_blayer1']", len(originals["X"]),
                    question.threshold("gradient_error"))


@pytest.mark.rubric("Q2.3.1")
def test_backwards_grad_x(nn, rng, question):
    """the returned grad_X equals the numerical gradient with respect to X (sigmoid layer)"""
    got, want, originals = run_backwards(nn, rng, "sigmoid")
    expect_gradient(got["X"], want["X"], "grad_X", len(originals["X"]), question.threshold("gradient_error"))


@pytest.mark.rubric("Q2.3.1")
def test_backwards_linear(nn, rng, question):
    """with activation_deriv=linear_deriv, grad_W, grad_b and grad_X equal the numerical gradients"""
    got, want, originals = run_backwards(nn, rng, "linear", "output")
    for key, label in (("W", "params['grad_Woutput']"), ("b", "params['grad_boutput']"), ("X", "grad_X")):
        expect_gradient(got[key], want[key], label + " (linear layer)", len(originals["X"]),
                        question.threshold("gradient_error"))


# ---------------------------------------------------------------------------------------------
# Q2.4 get_random_batches and run_q2.py's training loop

def batch_data(rng):
    """x rows carry their own index in column 0, so every row can be traced through the batches."""
    batch_size = int(rng.integers(3, 8))
    n = batch_size * int(rng.integers(4, 9)) + int(rng.integers(1, batch_size))   # a partial last batch
    x = np.column_stack([np.arange(n, dtype=np.float64), rng.normal(0, 1, (n, 2))])
    y = np.eye(6)[rng.integers(0, 6, n)]
    return x, y, batch_size


def is_pair(pair) -> bool:
    return (isinstance(pair, (tuple, list)) and len(pair) == 2
            and all(isinstance(part, np.ndarray) and part.ndim == 2 for part in pair)
            and len(pair[0]) == len(pair[1]))


def batches_of(value, function="get_random_batches"):
    """The returned batches as [(bx, by), ...] or the failure that says why they cannot be read."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        raise NotImplementedYet(function, "it returned no batches")
    if not isinstance(value, (list, tuple)):
        raise Mismatch(f"{function} returned", "a list of (batch_x, batch_y) tuples", describe(value))
    if all(is_pair(pair) for pair in value):
        for i, (bx, by) in enumerate(value):
            if not len(bx):
                raise Failure(f"batch {i} holds no rows", hint="every batch holds at least one example")
            finite(bx, f"batch {i}'s x")
            finite(by, f"batch {i}'s y")
        return list(value)
    if len(value) == 2 and all(isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim == 3)
                               for v in value):
        raise Failure(f"{function} returned one pair (all the x batches, all the y batches)",
                      hint="return a list with one (batch_x, batch_y) tuple per batch: "
                           "[(batch1_x, batch1_y), (batch2_x, batch2_y), ...]")
    i, pair = next((i, p) for i, p in enumerate(value) if not is_pair(p))
    raise Mismatch(f"batch {i}", "a tuple (batch_x, batch_y) of 2-D arrays with the same number of rows",
                   describe(pair))


def batches_or_skip(nn, x, y, batch_size, seed):
    """Checks that need readable batches are skipped when test_batches_structure fails; they fail
    when the rows are not cut into batches at all (require_batching)."""
    out = nn.value("get_random_batches", x, y, batch_size, seed=seed)
    try:
        batches = batches_of(out.value)
    except NotImplementedYet:
        pytest.skip("get_random_batches is not implemented yet")
    except Failure:
        pytest.skip("get_random_batches did not return a list of (batch_x, batch_y) tuples")
    require_batching(batches, len(x), batch_size)
    return out, batches


def require_batching(batches, n: int, batch_size: int) -> None:
    """The batches' properties (pairs kept, rows once, inputs kept) count only for batches: the
    whole of x and y as one batch is no answer (wrong sizes are the sizes check's)."""
    if len(batches) < 2 <= -(-n // batch_size):
        raise Failure(f"get_random_batches returned {len(batches)} batch for {n} rows and batch_size {batch_size}: "
                      "the rows are not cut into batches, so its other properties count for nothing",
                      expected=f"{n // batch_size} batches of {batch_size} and a last one of {n % batch_size}",
                      actual=f"{len(batches)} batch",
                      hint="shuffle the row indices (np.random.permutation) and cut them into batch_size pieces")


@pytest.mark.rubric("Q2.4")
def test_batches_structure(nn, rng):
    """get_random_batches returns a list of (batch_x, batch_y) tuples"""
    x, y, batch_size = batch_data(rng)
    require_batching(batches_of(nn.value("get_random_batches", x, y, batch_size, seed=int(rng.integers(2**31))).value),
                     len(x), batch_size)


def rows_in(batches, x) -> np.ndarray:
    """The row numbers of x the batches hold, in order (x's column 0 carries each row's number)."""
    ids = np.concatenate([bx[:, 0] for bx, _ in batches])
    if any(bx.shape[1] != x.shape[1] for bx, _ in batches) or not np.all(np.isin(ids, x[:, 0])):
        raise Failure("the batches hold rows that are not rows of x")
    return ids.astype(int)


DROPPED_ADVICE = ("get_random_batches leaves out the rows of the last partial batch (like PyTorch's "
                  "drop_last): a different random few each epoch, a reading the grader accepts; the "
                  "handout's loop trains on every example, so keeping the smaller last batch is closer")


@pytest.mark.rubric("Q2.4")
def test_batches_partition(nn, rng, request):
    """every row of x is in exactly one batch (leaving out the few rows of a last partial batch is accepted)"""
    x, y, batch_size = batch_data(rng)
    _, batches = batches_or_skip(nn, x, y, batch_size, int(rng.integers(2**31)))
    counts = np.bincount(rows_in(batches, x), minlength=len(x))
    missing, repeated = np.flatnonzero(counts == 0), np.flatnonzero(counts > 1)
    why = ("the handout's training loop trains on every example once per epoch, so the batches "
           "must split the rows, not sample them")
    if len(repeated):
        raise Failure(f"{len(repeated)} row(s) of x appear in more than one batch and {len(missing)} "
                      f"never appear (of {len(x)} rows, batch size {batch_size})",
                      hint=f"this is sampling with replacement; shuffle the row indices once "
                           f"(np.random.permutation) and cut them into batches: {why}")
    if not len(missing):
        return
    # a random split that drops the remainder, N // batch_size full batches of a permutation,
    # is a reading of "splits it into random batches" a TA accepts; more rows missing is not
    if len(missing) == len(x) % batch_size and all(len(bx) == batch_size for bx, _ in batches):
        advise(request, DROPPED_ADVICE)
        return
    raise Failure(f"{len(missing)} of the {len(x)} rows never appear in a batch (batch size "
                  f"{batch_size}, so at most the last {len(x) % batch_size} may be left out)",
                  hint=f"cut every row of the permutation into batches: {why}")


@pytest.mark.rubric("Q2.4")
def test_batches_pairs(nn, rng):
    """each batch keeps every x row with its own y row"""
    x, y, batch_size = batch_data(rng)
    _, batches = batches_or_skip(nn, x, y, batch_size, int(rng.integers(2**31)))
    wrong = total = 0
    rows_in(batches, x)
    for bx, by in batches:
        idx = bx[:, 0].astype(int)
        if by.shape[1] != y.shape[1]:
            raise Failure("the batches do not hold rows of x and y")
        wrong += int(np.sum(np.any(by != y[idx], axis=1)))
        total += len(idx)
    if wrong:
        raise Failure(f"{wrong} of {total} rows were paired with another example's label",
                      hint="shuffle x and y with the same permutation: idx = np.random.permutation(n); "
                           "x[idx], y[idx]")


SPREAD_ADVICE = ("get_random_batches spreads the remainder over the batches (as np.array_split does), "
                 "so some hold one row more or fewer than batch_size: a reading the grader accepts")


@pytest.mark.rubric("Q2.4")
def test_batches_sizes(nn, rng, request):
    """every batch has batch_size rows, except possibly a smaller last one (or the remainder spread over the batches)"""
    x, y, batch_size = batch_data(rng)
    _, batches = batches_or_skip(nn, x, y, batch_size, int(rng.integers(2**31)))
    sizes = [len(bx) for bx, _ in batches]
    n = len(x)
    if all(s == batch_size for s in sizes[:-1]) and 0 < sizes[-1] <= batch_size:
        return
    # np.array_split(order, n // batch_size) or into ceil(n / batch_size) parts: sizes within one
    # of each other, every row used
    if (len(sizes) in (n // batch_size, -(-n // batch_size)) and sum(sizes) == n
            and max(sizes) - min(sizes) <= 1 and min(sizes) > 0):
        advise(request, SPREAD_ADVICE)
        return
    raise Failure(f"batch sizes {sizes} for {n} rows and batch_size {batch_size}",
                  hint=f"expected {n // batch_size} batches of {batch_size} and a last one of "
                       f"{n % batch_size}")


@pytest.mark.rubric("Q2.4")
def test_batches_random(nn, rng):
    """the batches are shuffled: not in the rows' order, and different from one call to the next"""
    x, y, batch_size = batch_data(rng)
    seeds = [int(s) for s in rng.integers(2**31, size=2)]
    orders = []
    for seed in seeds:
        _, batches = batches_or_skip(nn, x, y, batch_size, seed)
        orders.append(np.concatenate([bx[:, 0] for bx, _ in batches]))
    if np.array_equal(orders[0], np.sort(orders[0])):
        raise Failure("the batches hold the rows in their original order",
                      hint="shuffle the row indices (np.random.permutation) before cutting the batches")
    if len(orders[0]) == len(orders[1]) and np.array_equal(orders[0], orders[1]):
        raise Failure("two calls (with different random states) gave the same batches",
                      hint="draw the permutation from np.random, not from a fixed seed")


@pytest.mark.rubric("Q2.4")
def test_batches_keep_inputs(nn, rng):
    """get_random_batches does not modify x or y (and answers batches of their rows in that call)"""
    x, y, batch_size = batch_data(rng)
    out, batches = batches_or_skip(nn, x.copy(), y.copy(), batch_size, int(rng.integers(2**31)))
    rows_in(batches, x)
    for name, sent, after in (("x", x, out.args[0]), ("y", y, out.args[1])):
        if not (isinstance(after, np.ndarray) and np.array_equal(after, sent)):
            raise Failure(f"get_random_batches changed its argument {name} in place",
                          hint="np.random.shuffle(x) shuffles the caller's array; index with a "
                               "permutation instead")


# --- run_q2.py ---------------------------------------------------------------------------------

# run_q2.py's variables the checks read: the handout's own, and the training loop's batches,
# on one of which a checker may compute its gradients ("xb, yb" is the handout's loop variable)
SCRIPT_GLOBALS = ("params", "params_orig", "x", "y", "xb", "yb", "batches", SEEN)


@pytest.fixture(scope="session")
def run_q2(_sandbox, rubric, run_seed):
    """run_q2.py run once, as `python run_q2.py` would, with its final variables."""
    seconds = rubric["Q2.5"].script_seconds
    return _sandbox.run_script("run_q2.py", globals=SCRIPT_GLOBALS, files=(),
                               seed=run_seed, limits=call_limits(_sandbox, seconds))


# Q2.5's probe: run_q2.py runs a second time with every gradient backwards writes multiplied by
# this. A checker that differentiates the loss writes the same gradients as before; one that
# copies backwards' (plus a little noise, to pass for central differences) writes half of them.
# Halved, not doubled: a learning rate near its limit still trains.
SKEW = 0.5


@pytest.fixture(scope="session")
def run_q2_skewed(_sandbox, rubric, run_seed):
    """run_q2.py run again, each gradient backwards writes multiplied by SKEW (by the worker)."""
    seconds = rubric["Q2.5"].script_seconds
    return _sandbox.run_script("run_q2.py", globals=SCRIPT_GLOBALS, files=(), seed=run_seed,
                               limits=call_limits(_sandbox, seconds), skew_gradients=SKEW)


@pytest.fixture
def q2_script(run_q2, sandbox, nn, rubric):
    """run_q2.py's final variables, x and y as finite float arrays; the script's failure (in the
    student's terms) otherwise."""
    if not run_q2.ok:
        stubs = unimplemented(sandbox, call_limits(sandbox, rubric["Q2.5"].call_seconds))
        if stubs:
            raise Failure(f"run_q2.py cannot run yet: {', '.join(stubs)} in nn.py "
                          f"{'is' if len(stubs) == 1 else 'are'} not implemented yet",
                          hint="run_q2.py uses every function of nn.py; implement them first")
        check_outcome(run_q2, "run_q2.py")
    return script_state(run_q2)


def script_state(run) -> dict:
    """A run of run_q2.py's final variables, x and y as finite float arrays."""
    g = dict(run.globals)
    for name, kind in (("params", dict), ("params_orig", dict), ("x", np.ndarray), ("y", np.ndarray)):
        if not isinstance(g.get(name), kind):
            raise Failure(f"run_q2.py ended without the handout's variable {name!r}",
                          hint="keep the handout's given code of run_q2.py (x, y, params, params_orig)")
    g["x"], g["y"] = finite(g["x"], "run_q2.py's x"), finite(g["y"], "run_q2.py's y")
    g["params_at_end"] = g["params"]
    g["params"], g["checked_before_training"] = checker_state(g)
    if g["x"].ndim != 2 or g["y"].ndim != 2 or len(g["x"]) != len(g["y"]) or not len(g["x"]):
        raise Failure(f"run_q2.py's x {g['x'].shape} and y {g['y'].shape} are not the handout's "
                      "examples and one-hot labels", hint="keep the handout's given code that makes x and y")
    return g


BACKWARDS_CALLS = "__backwards_calls__"       # the worker's count (ParamsWatch.CALLS)


def raise_probe_dodged():
    raise Failure("run_q2.py called nn.py's backwards in its first run but not in the second, in which the grader "
                  "multiplied the gradients backwards writes: a script that behaves otherwise when its gradient "
                  "checker is probed earns none of Q2.5's checks",
                  hint="call backwards as the handout's run_q2.py does, and compute the checker's gradients from "
                       "the loss alone")


@pytest.fixture
def checker_differentiates(q2_script, run_q2_skewed, question, record_property):
    """Fail when the gradient checker's gradients are backwards' own: in the skewed run they moved
    with backwards' to SKEW times the loss's central differences. Every Q2.5 check needs it, since
    a copy of backwards' gradients (with noise below the tolerance) agrees with the loss, restores
    every parameter (it changed none) and matches backwards, without checking anything. Only
    that evidence fails: a second run that cannot be judged leaves the first run's verdicts."""
    tolerance = question.threshold("numerical_agreement")
    try:
        weights = real_parameters(q2_script["params_orig"], "params_orig")
        if agreement(gradients(q2_script, "params"), weights, q2_script, tolerance)[0] is None:
            return          # no agreement to explain: the checks say what is wrong
    except Failure:
        return
    calls = [run.get(BACKWARDS_CALLS) for run in (q2_script, run_q2_skewed.globals)]
    if run_q2_skewed.ok and all(type(n) is int for n in calls) and calls[0] > 0 and calls[1] == 0:
        raise_probe_dodged()
    try:
        skewed = script_state(run_q2_skewed)
        got = gradients(skewed, "params")
        weights = real_parameters(skewed["params_orig"], "params_orig")
        label, errors = agreement(got, weights, skewed, tolerance)
        copied = label is None and agreement({k: v / SKEW for k, v in got.items()}, weights, skewed, 1e-4)[0]
    except Failure as failure:
        record_property("checker_probe", f"not judged: {failure.rationale[:200]}")
        return
    if not copied:
        record_property("checker_probe", f"its gradients stayed the loss's when backwards' were multiplied by {SKEW:g}"
                        if label else "not judged: the second run's gradients are neither the loss's nor backwards'")
        return
    worst = max(errors, key=errors.get)
    raise Failure(f"the gradient checker's gradients are backwards' own, not central differences of the loss: in a "
                  f"second run of run_q2.py in which the grader multiplied every gradient backwards wrote by "
                  f"{SKEW:g}, the checker's were multiplied by {SKEW:g} too (params['grad_{worst}'] differs from "
                  f"the loss's central differences by a relative error of {errors[worst]:.2g})",
                  hint="compute each gradient from the loss alone: for each scalar, add eps, run forward and "
                       "compute the loss; subtract 2 eps, again; restore the value; (loss_plus - loss_minus) / "
                       "(2 eps); never read backwards' gradients")


def moved(after: dict, before: dict) -> bool:
    """Some parameter changed far more than a checker's eps: the network was trained in between."""
    for k, w in before.items():
        a, w = numerics.real_array(after.get(k)), numerics.real_array(w)
        if (isinstance(k, str) and "_" not in k and a is not None and w is not None and a.shape == w.shape
                and not np.allclose(a, w, rtol=0, atol=1e-3)):
            return True
    return False


def checker_state(g) -> tuple[dict, bool]:
    """(params to judge the gradient checker by, whether the check ran before training). As
    run_q2.py ended; or, when the network was trained after params_orig was copied, params as
    training's first backwards call found them, the checker's gradients still in place (the
    worker's ParamsWatch copies them; untrusted, so judged like the rest)."""
    final = g["params"]
    if moved(final, g["params_orig"]):
        for entry in g.get(SEEN) or []:
            written = entry.get("written_before_backwards") if isinstance(entry, dict) else None
            if entry.get("is_params") and isinstance(written, dict) and written:
                return dict(written), True
    return final, False


def real_parameters(params: dict, what: str = "params") -> dict:
    """The network's parameters (array entries whose key has no '_'), each a finite real array."""
    return {k: finite(v, f"{what}[{k!r}]") for k, v in params.items()
            if isinstance(k, str) and "_" not in k and isinstance(v, np.ndarray)}


def usable(compute, *args):
    """compute(*args) on the script's parameters, or a failure if they do not fit run_q2's network."""
    try:
        return compute(*args)
    except (KeyError, ValueError, TypeError) as err:
        raise Failure(f"run_q2.py's parameters do not fit its network ({type(err).__name__}: {err})",
                      hint="keep the layer names 'layer1' and 'output' and the shapes of W and b") from None


def predict(weights, x):
    _, h = numerics.layer_forward(x, weights["Wlayer1"], weights["blayer1"], "sigmoid")
    return numerics.row_softmax(h @ weights["Woutput"] + weights["boutput"])


def fit(weights, x, y) -> tuple[float, float]:
    """(summed cross-entropy, accuracy) of the grader's own forward pass with these weights."""
    with np.errstate(all="ignore"):
        probs = usable(predict, weights, x)
        return numerics.cross_entropy_sum(y, probs), numerics.accuracy(y, probs)


HANDOUT_EXAMPLES = 40      # run_q2.py's fake data: four classes of 10
# ... drawn from these Gaussians (the handout's given code: means, diagonal variances)
HANDOUT_MEANS = np.array([[3.6, 40.0], [3.9, 10.0], [3.4, 30.0], [2.0, 10.0]])
HANDOUT_VARIANCES = np.array([[0.05, 10.0], [0.01, 5.0], [0.25, 5.0], [0.5, 10.0]])
# the least share of the labels that must be the class whose Gaussian likes its point best: the
# handout's own draws give 0.875-1.0 (6000 draws, raw, standardised or min-max scaled); labels
# relabelled, shuffled or set on points of another making give about 0.25
LABELS_AGREE = 0.6


def handout_examples(x: np.ndarray, y: np.ndarray) -> float:
    """Raise unless (x, y) are the handout's fake data: two features, four one-hot classes, none
    rare, each label the class whose Gaussian explains its point best. The features are first
    brought to the mixture's own mean and spread, so data the student standardised or scaled still
    counts. The training loop is judged on these examples, which come from the student's process:
    made-up ones that any network fits would prove nothing. Returns the share that agrees."""
    if x.shape[1] != 2 or y.shape[1] != 4 or not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
        raise Failure(f"run_q2.py's x {x.shape} and y {y.shape} are not the handout's fake data (two features, "
                      "four one-hot classes)", hint="keep the handout's given code that makes x and y")
    labels = y.argmax(axis=1)
    counts = np.bincount(labels, minlength=4)
    mean = HANDOUT_MEANS.mean(axis=0)
    spread = np.sqrt((HANDOUT_VARIANCES + HANDOUT_MEANS ** 2).mean(axis=0) - mean ** 2)
    std = x.std(axis=0)
    matched = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0) * spread + mean
    likelihood = -0.5 * (((matched[:, None, :] - HANDOUT_MEANS) ** 2) / HANDOUT_VARIANCES
                         + np.log(HANDOUT_VARIANCES)).sum(axis=-1)
    agree = float(np.mean(likelihood.argmax(axis=1) == labels))
    # class shares mean something on the handout's 40 examples or more, not on a last batch of 5
    rare = len(labels) >= HANDOUT_EXAMPLES and counts.min() < 0.1 * len(labels)
    if rare or not agree >= LABELS_AGREE:
        raise Failure(f"run_q2.py's x, y are not the handout's four classes: the classes hold "
                      f"{', '.join(map(str, counts))} of the {len(labels)} examples, and {agree:.0%} of the labels "
                      f"are the class whose Gaussian gives its point (the handout's draws: 88-100%)",
                      expected=f"the handout's four Gaussians, labelled 0-3, at least {LABELS_AGREE:.0%} agreeing",
                      actual=f"{agree:.0%} agreeing",
                      hint="keep the handout's given code that makes x and y: the training loop is judged on them")
    return agree


def training_examples(script) -> tuple[np.ndarray, np.ndarray]:
    """The examples the loop trained on: run_q2.py's x, y, or all its batches when they hold more
    rows (a loop written `for x, y in batches` leaves x, y as its last batch of 5)."""
    x, y = script["x"], script["y"]
    batches = script.get("batches")
    if isinstance(batches, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in batches):
        xs = [numerics.real_array(bx) for bx, _ in batches]
        ys = [numerics.real_array(by) for _, by in batches]
        if all(a is not None and a.ndim == 2 for a in xs + ys) and all(
                len(a) == len(b) and a.shape[1] == x.shape[1] and b.shape[1] == y.shape[1] for a, b in zip(xs, ys)):
            if sum(map(len, xs)) > len(x):
                return np.concatenate(xs), np.concatenate(ys)
    return x, y


@pytest.mark.rubric("Q2.4")
def test_training_loop_trains(q2_script, question, record_property, request):
    """run_q2.py's training loop brings the loss on its fake data below 35 (and the accuracy well above chance)"""
    x, y = training_examples(q2_script)
    record_property("labels_agree_with_the_handout_gaussians", round(handout_examples(x, y), 3))
    # the bound is the handout's summed loss over its 40 examples: data of another size is held to
    # the same loss per example
    max_loss = question.threshold("train_loss") * len(y) / HANDOUT_EXAMPLES
    min_acc = question.threshold("train_accuracy")
    # The handout lets the gradient check run before or after training: params_orig is the
    # network at the check (trained when it runs after), params the network once the script
    # ends (trained when the check ran before). The training happened in whichever is trained.
    measured = {}
    for name, key in (("params_orig", "params_orig"), ("params", "params_at_end")):
        try:
            measured[name] = fit(real_parameters(q2_script[key], name), x, y)
        except Failure as failure:
            measured[name] = failure
    for name, result in measured.items():
        if isinstance(result, tuple) and numerics.at_most(result[0], max_loss) and numerics.at_least(result[1], min_acc):
            record_property("trained_network", name)
            if name == "params":
                advise(request, "the training loop was judged on params as run_q2.py ended: params_orig, "
                                "copied for the gradient check, holds an untrained network (the check ran "
                                "before training, which the handout allows)")
            return
    result = measured["params_orig"]
    if isinstance(result, Failure):
        raise result
    loss, acc = result
    raise Failure(f"after training, the network's loss on run_q2's {len(y)} examples is {loss:.1f} and its "
                  f"accuracy {acc:.0%}; expected loss < {max_loss:.4g} and accuracy > {min_acc:.0%}",
                  hint="each iteration: forward, loss, backwards, then W -= learning_rate * grad_W for "
                       "every parameter" if not numerics.at_most(loss, 50) else "the loop trains, but not "
                       "far enough: check that backwards sums its gradients and that every parameter is updated")


# --- Q2.5: the gradient checker -------------------------------------------------------------

def gradients(script, where: str) -> dict:
    """script[where]['grad_'+k] for every parameter k of params_orig: finite, shaped like k."""
    weights = real_parameters(script["params_orig"], "params_orig")
    if not weights:
        raise Failure("params_orig holds no parameters (arrays under keys without '_')",
                      hint="params_orig = copy.deepcopy(params), after initialize_weights")
    found = {}
    for k, w in weights.items():
        got = param(script[where], "grad_" + k, "run_q2.py's gradient checker")
        expect_shape(got, w.shape, f"{where}['grad_{k}']", k)
        found[k] = got
    return found


def unwritten(script) -> None:
    """Not implemented yet when params' gradients are still bit for bit params_orig's: the
    checker wrote nothing (or params_orig is params itself, compared with itself)."""
    params, orig = script["params"], script["params_orig"]
    keys = [k for k in orig if isinstance(k, str) and k.startswith("grad_")]
    if keys and all(isinstance(params.get(k), np.ndarray) and isinstance(orig[k], np.ndarray)
                    and np.array_equal(params[k], orig[k]) for k in keys):
        raise NotImplementedYet("the gradient checker in run_q2.py",
                                "params['grad_*'] still equal params_orig['grad_*'], backwards' gradients: "
                                "the checker wrote nothing there, or params_orig is params itself (not a "
                                "copy), so the comparison compares the gradients with themselves")


FULL_DATA = "run_q2.py's x, y"


def batch_candidates(script):
    """(label, x, y) of the data a checker may have used: run_q2's (x, y), or a training batch
    (the handout allows either); batches are read from the loop's xb, yb and the list of batches."""
    x, y = script["x"], script["y"]
    yield FULL_DATA, x, y
    pairs = [("the last training batch (xb, yb)", script.get("xb"), script.get("yb"))]
    batches = script.get("batches")
    if isinstance(batches, (list, tuple)) and batches:
        for label, pair in (("the first batch", batches[0]), ("the last batch", batches[-1])):
            if isinstance(pair, (list, tuple)) and len(pair) == 2:
                pairs.append((label, *pair))
    seen = []
    for label, bx, by in pairs:
        bx, by = numerics.real_array(bx), numerics.real_array(by)
        if (bx is None or by is None or bx.ndim != 2 or by.ndim != 2 or len(bx) != len(by)
                or not 0 < len(bx) <= len(x) or bx.shape[1] != x.shape[1] or by.shape[1] != y.shape[1]):
            continue
        if not any(np.array_equal(bx, sx) and np.array_equal(by, sy) for sx, sy in seen):
            seen.append((bx, by))
            yield label, bx, by


def agreement(got: dict, weights: dict, script, tolerance: float):
    """(label of the data on which got are the central-difference gradients at weights, errors);
    label None when no candidate agrees, errors then those on (x, y)."""
    first = None
    for label, bx, by in batch_candidates(script):
        want = usable(numerics.two_layer_gradients, weights, bx, by)
        errors = {k: numerics.relative_error(got[k], want[k]) for k in got}
        if all(numerics.at_most(e, tolerance) for e in errors.values()):
            return label, errors
        first = first or errors
    return None, first


@pytest.mark.rubric("Q2.5", weight=2)
def test_gradcheck_numerical(q2_script, checker_differentiates, question, record_property, request):
    """the checker writes central-difference gradients of the loss (on x, y or a training batch) into params['grad_'+name] for every parameter"""
    got = gradients(q2_script, "params")
    unwritten(q2_script)
    weights = real_parameters(q2_script["params_orig"], "params_orig")
    label, errors = agreement(got, weights, q2_script, question.threshold("numerical_agreement"))
    if label:
        record_property("gradient_data", label)
        if q2_script["checked_before_training"]:
            advise(request, "the gradient check ran before training: its gradients were read from params "
                            "as training began, before training's backwards replaced them")
        if label != FULL_DATA:
            advise(request, f"the gradient checker differentiates the loss on {label}, not on run_q2.py's "
                            "x, y: accepted, the handout allows either")
        return
    worst = max(errors, key=errors.get)
    trained_since = moved(q2_script["params"], weights)
    raise Failure(f"params['grad_{worst}'] differs from the central differences of the loss "
                  f"(relative error {errors[worst]:.2g} on x, y; no training batch agrees either)",
                  hint="the grader reads params['grad_*'] when run_q2.py ends, and the network has changed "
                       "since params_orig was copied: if the check runs before training, keep its "
                       "gradients (training's backwards overwrites them) or run it after training"
                  if trained_since else single_precision(q2_script) or "for each scalar: add eps, run the network, "
                                "get the loss; subtract 2 eps, again; restore the value; (loss_plus - loss_minus) / (2 eps)")


# rounding of v += eps; v -= 2 * eps; v += eps leaves about 1e-16 of |v|; a checker that does not
# restore leaves eps (1e-6 in the handout, 1e-8 for the smallest seen) on every entry
RESTORE_TOLERANCE = 1e-11


@pytest.mark.rubric("Q2.5")
def test_gradcheck_restores_parameters(q2_script, checker_differentiates, record_property):
    """the checker puts every parameter back after perturbing it (up to rounding), writing its gradients"""
    gradients(q2_script, "params")        # the checker answered: restoring alone is not a check
    unwritten(q2_script)
    after = real_parameters(q2_script["params"], "params")
    drift = 0.0
    for k, w in real_parameters(q2_script["params_orig"], "params_orig").items():
        if k not in after or after[k].shape != w.shape:
            raise Failure(f"after the gradient check, params['{k}'] is {describe(q2_script['params'].get(k))}; "
                          f"params_orig['{k}'] is an array of shape {w.shape}",
                          hint="perturb the entries in place and put each back")
        gap = np.abs(after[k] - w)
        if not np.all(gap <= RESTORE_TOLERANCE * np.maximum(1.0, np.abs(w))):
            raise Failure(f"after the gradient check, params['{k}'] differs from params_orig['{k}'] "
                          f"by up to {gap.max():.2g}",
                          hint="restore each entry to its original value after the two evaluations")
        drift = max(drift, float(gap.max()) if gap.size else 0.0)
    if drift:
        record_property("restored", f"up to rounding (largest difference {drift:.1g})")


# no honest checker agrees with backwards this closely: central differences with eps = 1e-6 carry
# rounding of about 1e-10 of the gradient (the reference's total: about 1e-9)
IDENTICAL = 1e-13


@pytest.mark.rubric("Q2.5", weight=2)
def test_gradcheck_total_error(q2_script, checker_differentiates, question, record_property):
    """backwards' gradients and the checker's agree: total relative error below 1e-4"""
    numerical = gradients(q2_script, "params")
    analytic = gradients(q2_script, "params_orig")
    unwritten(q2_script)
    weights = real_parameters(q2_script["params_orig"], "params_orig")
    errors = {k: numerics.relative_error(numerical[k], analytic[k]) for k in weights}
    # Per parameter, ||a-b|| / (||a|| + ||b||): the starter's elementwise sum blows up on
    # entries whose true gradient is ~0 (finite-difference noise over a tiny denominator),
    # so a correct submission would fail on some random draws.
    total, limit = sum(errors.values()), question.threshold("total_relative_error")
    if numerics.at_most(total, IDENTICAL):
        raise Failure(f"params['grad_*'] and params_orig['grad_*'] agree to {total:.1g}, closer than central "
                      "differences can: the comparison compares one set of gradients with itself",
                      hint="params_orig['grad_*'] come from backwards, params['grad_*'] from the checker")
    # the comparison means something only when params_orig's are backwards' gradients there
    label, _ = agreement(analytic, weights, q2_script, limit)
    if label is None and numerics.at_most(total, limit):
        raise Failure("params_orig['grad_*'] are not the gradients of the loss at params_orig (on x, y or "
                      "a training batch), so their agreement with the checker shows nothing",
                      hint="compute params_orig's gradients with forward and backwards just before "
                           "params_orig = copy.deepcopy(params)")
    if not numerics.at_most(total, limit):
        worst = max(errors, key=errors.get)
        raise Failure(f"total relative error {total:.2e} (should be less than {limit:g}); the largest is "
                      f"grad_{worst} with {errors[worst]:.2e}",
                      hint=single_precision(q2_script) or f"backwards' gradient for {worst} disagrees with the "
                                                          "numerical one: check backwards for that layer")
    record_property("total_relative_error", float(f"{total:.3g}"))


def single_precision(script) -> str:
    """A hint when the parameters are float32, where central differences with eps = 1e-6 are
    mostly rounding (a correct checker and a correct backwards then disagree)."""
    single = [k for k, v in script["params_orig"].items()
              if isinstance(k, str) and "_" not in k and isinstance(v, np.ndarray) and v.dtype == np.float32]
    return (f"{', '.join(single)} {'is' if len(single) == 1 else 'are'} float32: a change of eps = 1e-6 is below "
            "float32's precision, so central differences are mostly rounding; keep the parameters float64 "
            "(np.random.uniform makes them so)") if single else ""
