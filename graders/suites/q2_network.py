"""Q2: the fully connected network in nn.py and run_q2.py's training loop and gradient checker.

Each check's docstring is the sentence the student reads. Inputs are fresh random arrays from
the run's seed. Public checks judge by properties, scipy (expit, softmax) and central
differences (graders.numerics); the hidden checks that compare with the staff solution are in
hidden_q2_network.py, which students do not receive.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import softmax as scipy_softmax

from graders import numerics
from graders.messages import Failure, Mismatch, Missing, NotImplementedYet, describe
from graders.sandbox import Ref
from graders.calls import StudentModule, call_limits, check_outcome

# ---------------------------------------------------------------------------------------------
# helpers: pulling arrays out of returned data, with the failure a student can act on


def param(params, key: str, function: str) -> np.ndarray:
    """params[key] after a call, as an array (Missing / not implemented otherwise)."""
    if not isinstance(params, dict):
        raise Failure(f"{function} replaced params with {describe(params)}",
                      hint="fill the dictionary you are given; do not rebind it")
    if key not in params:
        raise Missing(f"params[{key!r}]", f"params after {function}",
                      present=sorted(map(str, params)))
    value = params[key]
    if value is None:
        raise NotImplementedYet(function, f"params[{key!r}] is None")
    if not isinstance(value, np.ndarray):
        raise Mismatch(f"params[{key!r}]", "a NumPy array", describe(value))
    return value


def as_array(value, what: str) -> np.ndarray:
    if value is None:
        raise NotImplementedYet(what, "it returned None")
    if not isinstance(value, np.ndarray):
        raise Mismatch(f"{what} returned", "a NumPy array", describe(value))
    return value


def expect_shape(actual: np.ndarray, shape: tuple, what: str, like: str = "") -> None:
    if actual.shape == tuple(shape):
        return
    hint = ""
    if actual.shape == tuple(shape)[::-1] and len(shape) == 2:
        hint = "did you transpose?"
    elif actual.size == int(np.prod(shape)):
        hint = "right number of entries, wrong shape: check which axis is which"
    like = f"; it must match {like}, {tuple(shape)}" if like else f"; expected {tuple(shape)}"
    raise Failure(f"{what} has shape {actual.shape}{like}" + (f": {hint}" if hint else ""),
                  expected=str(tuple(shape)), actual=str(actual.shape))


def expect_close(actual: np.ndarray, expected: np.ndarray, what: str, *, rtol=1e-6, atol=1e-9,
                 hint: str = "") -> None:
    actual = np.asarray(actual, dtype=np.float64)
    if actual.shape != expected.shape:
        expect_shape(actual, expected.shape, what)
    if np.allclose(actual, expected, rtol=rtol, atol=atol):
        return
    if not np.all(np.isfinite(actual)):
        raise Failure(f"{what} contains NaN or inf", hint=hint or "look for overflow in np.exp")
    bad = np.unravel_index(np.argmax(np.abs(actual - expected) - rtol * np.abs(expected)), expected.shape)
    where = f" at {list(map(int, bad))}" if expected.ndim else ""
    raise Failure(f"{what} is wrong{where}: expected {expected[bad]:.6g}, got {actual[bad]:.6g}",
                  hint=hint)


def scalar(value, what: str) -> float:
    arr = np.asarray(value) if isinstance(value, (int, float, np.ndarray)) and not isinstance(value, bool) else None
    if arr is None or arr.dtype.kind not in "iuf" or arr.size != 1:
        raise Mismatch(what, "a single number", describe(value))
    return float(arr.reshape(()))


# ---------------------------------------------------------------------------------------------
# Q2.1.2 initialize_weights

def init(nn, in_size, out_size, name, seed):
    out = nn.value("initialize_weights", in_size, out_size, {}, name, seed=seed, allow_none=True)
    params = out.args[2]
    return (param(params, "W" + name, "initialize_weights"),
            param(params, "b" + name, "initialize_weights"))


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
    if b.shape != (out_size,):
        raise Failure(f"params['bhidden'] has shape {b.shape}; it must be ({out_size},)",
                      hint="b should be a 1D array, not a 2D array with a singleton dimension"
                      if b.size == out_size else "b has one entry per output unit")


@pytest.mark.rubric("Q2.1.2")
def test_init_bias_zero(nn, rng):
    """b starts as all zeros"""
    _, b = init(nn, int(rng.integers(3, 30)), int(rng.integers(3, 30)), "layer1", int(rng.integers(2**31)))
    if np.any(np.asarray(b, dtype=np.float64) != 0):
        raise Failure(f"b is not all zeros (max |b| = {np.abs(b).max():.3g})",
                      hint="the handout initializes b to the zero vector")


@pytest.mark.rubric("Q2.1.2")
def test_init_xavier_range(big_draw):
    """W lies within [-a, a], a = sqrt(6/(in+out)), and reaches both ends"""
    W, a, in_size, out_size = big_draw
    lo, hi = float(W.min()), float(W.max())
    if lo < -a * (1 + 1e-9) or hi > a * (1 + 1e-9) or lo > -0.99 * a or hi < 0.99 * a:
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
    if abs(var - target) > question.threshold("variance_rtol") * target or abs(mean) > 0.01 * a:
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
    if distance > question.threshold("ks_distance"):
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
    """sigmoid gives exactly 0 at -1000 and exactly 1 at +1000, no NaN and no crash (warnings are fine)"""
    got = as_array(nn.value("sigmoid", np.array([-1000, 1000])).value, "sigmoid")
    if got.shape != (2,) or not np.array_equal(got, [0.0, 1.0]):
        raise Mismatch("sigmoid(np.array([-1000, 1000]))", np.array([0.0, 1.0]), got,
                       hint="np.exp(x) / (1 + np.exp(x)) is inf/inf = NaN at +1000; "
                            "1 / (1 + np.exp(-x)) is exact at both ends")


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
    """forward stores (X, pre_act, post_act) in params['cache_'+name]"""
    X, W, b = layer(rng)
    params = nn.value("forward", X, {"Wlayer2": W, "blayer2": b}, "layer2").args[1]
    cache = params.get("cache_layer2") if isinstance(params, dict) else None
    if cache is None:
        raise Missing("params['cache_layer2']", "params after forward(X, params, 'layer2')",
                      present=sorted(map(str, params)) if isinstance(params, dict) else (),
                      hint="backwards reads X, pre_act and post_act from the cache")
    if not isinstance(cache, (tuple, list)) or len(cache) != 3:
        raise Mismatch("params['cache_layer2']", "a tuple (X, pre_act, post_act)", describe(cache))
    pre, post = numerics.layer_forward(X, W, b, "sigmoid")
    for name, got, want in zip(("X", "pre_act", "post_act"), cache, (X, pre, post)):
        if got is None:
            raise NotImplementedYet("forward", f"the cache's {name} is None")
        expect_close(as_array(got, f"the cache's {name}"), want, f"the cache's {name}",
                     hint="the cache holds (X, pre_act, post_act) in that order")


# ---------------------------------------------------------------------------------------------
# Q2.2.2 softmax

def logits(rng):
    return rng.normal(0, 3, (int(rng.integers(4, 12)), int(rng.integers(3, 8))))


def softmax_of(nn, x):
    return as_array(nn.value("softmax", x).value, "softmax")


@pytest.mark.rubric("Q2.2.2")
def test_softmax_rows_sum_to_one(nn, rng):
    """softmax returns an array of the input's shape whose rows are positive and sum to 1"""
    x = logits(rng)
    got = softmax_of(nn, x)
    expect_shape(got, x.shape, "softmax(x)", "x")
    sums = got.sum(axis=1)
    if not (np.allclose(sums, 1.0, atol=1e-9) and np.all(got >= 0)):
        raise Failure(f"the rows of softmax(x) sum to {describe(sums)}, not 1",
                      hint="softmax is done for each row: sum over axis=1 with keepdims=True")


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
                 hint="np.exp overflows above about 709: subtract each row's max first (Q1.1)")


@pytest.mark.rubric("Q2.2.2")
def test_softmax_keeps_input(nn, rng):
    """softmax does not modify the array it is given"""
    x = logits(rng)
    after = nn.value("softmax", x.copy()).args[0]
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
    if np.isclose(got, want, rtol=1e-6):
        return
    hint = ""
    for factor, h in ((1 / n, "did you take the mean?"), (1 / np.log(10), "did you use log10? the log is natural"),
                      (1 / np.log(2), "did you use log2? the log is natural"), (-1, "check the sign: loss = -sum(y log p)")):
        if np.isclose(got, want * factor, rtol=1e-6):
            hint = h
    raise Failure(f"loss is {got:.4g}; it should be the SUM over the {n} examples of -log p(label) "
                  f"({want:.4g})" + (f": {hint}" if hint else ""), expected=f"{want:.6g}", actual=f"{got:.6g}")


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
    got = {"W": param(out.args[1], "grad_W" + name, "backwards"),
           "b": param(out.args[1], "grad_b" + name, "backwards"),
           "X": as_array(out.value, "backwards")}
    return got, numerical_layer_gradients(X, W, b, delta, activation), {"W": W, "b": b, "X": X}


def expect_gradient(got, want, what: str, n: int, tolerance: float):
    if got.shape != want.shape:
        expect_shape(got, want.shape, what)
    error = numerics.relative_error(got, want)
    if error <= tolerance:
        return
    hint = ""
    if numerics.relative_error(got * n, want) <= tolerance:
        hint = (f"yours is the numerical gradient divided by the batch size ({n}): did you average? "
                "the handout's gradients are SUMMED over the examples")
    elif numerics.relative_error(-got, want) <= tolerance:
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
    """Checks that need readable batches are skipped when test_batches_structure fails."""
    out = nn.value("get_random_batches", x, y, batch_size, seed=seed)
    try:
        return out, batches_of(out.value)
    except NotImplementedYet:
        pytest.skip("get_random_batches is not implemented yet")
    except Failure:
        pytest.skip("get_random_batches did not return a list of (batch_x, batch_y) tuples")


@pytest.mark.rubric("Q2.4")
def test_batches_structure(nn, rng):
    """get_random_batches returns a list of (batch_x, batch_y) tuples"""
    x, y, batch_size = batch_data(rng)
    batches_of(nn.value("get_random_batches", x, y, batch_size, seed=int(rng.integers(2**31))).value)


@pytest.mark.rubric("Q2.4")
def test_batches_partition(nn, rng):
    """every row of x is in exactly one batch, the last partial batch included (a partition)"""
    x, y, batch_size = batch_data(rng)
    _, batches = batches_or_skip(nn, x, y, batch_size, int(rng.integers(2**31)))
    ids = np.concatenate([bx[:, 0] for bx, _ in batches])
    counts = np.bincount(ids.astype(int), minlength=len(x)) if np.all(np.isin(ids, x[:, 0])) else None
    if counts is None:
        raise Failure("the batches hold rows that are not rows of x")
    missing, repeated = np.flatnonzero(counts == 0), np.flatnonzero(counts > 1)
    if len(missing) or len(repeated):
        why = ("the handout's training loop trains on every example once per epoch, so the batches "
               "must split the rows, not sample them")
        if len(repeated):
            raise Failure(f"{len(repeated)} row(s) of x appear in more than one batch and {len(missing)} "
                          f"never appear (of {len(x)} rows, batch size {batch_size})",
                          hint=f"this is sampling with replacement; shuffle the row indices once "
                               f"(np.random.permutation) and cut them into batches: {why}")
        raise Failure(f"{len(missing)} of the {len(x)} rows never appear in a batch (batch size "
                      f"{batch_size}, so the last batch should hold the remaining {len(x) % batch_size})",
                      hint=f"keep the last, smaller batch instead of dropping it: {why}")


@pytest.mark.rubric("Q2.4")
def test_batches_pairs(nn, rng):
    """each batch keeps every x row with its own y row"""
    x, y, batch_size = batch_data(rng)
    _, batches = batches_or_skip(nn, x, y, batch_size, int(rng.integers(2**31)))
    wrong = total = 0
    for bx, by in batches:
        idx = bx[:, 0].astype(int)
        if bx.shape[1] != x.shape[1] or by.shape[1] != y.shape[1] or np.any((idx < 0) | (idx >= len(x))):
            raise Failure("the batches do not hold rows of x and y")
        wrong += int(np.sum(np.any(by != y[idx], axis=1)))
        total += len(idx)
    if wrong:
        raise Failure(f"{wrong} of {total} rows were paired with another example's label",
                      hint="shuffle x and y with the same permutation: idx = np.random.permutation(n); "
                           "x[idx], y[idx]")


@pytest.mark.rubric("Q2.4")
def test_batches_sizes(nn, rng):
    """every batch has batch_size rows, except possibly a smaller last one"""
    x, y, batch_size = batch_data(rng)
    _, batches = batches_or_skip(nn, x, y, batch_size, int(rng.integers(2**31)))
    sizes = [len(bx) for bx, _ in batches]
    if any(s != batch_size for s in sizes[:-1]) or not 0 < sizes[-1] <= batch_size:
        raise Failure(f"batch sizes {sizes} for {len(x)} rows and batch_size {batch_size}",
                      hint=f"expected {len(x) // batch_size} batches of {batch_size} and a last one of "
                           f"{len(x) % batch_size}")


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
    """get_random_batches does not modify x or y"""
    x, y, batch_size = batch_data(rng)
    out, _ = batches_or_skip(nn, x.copy(), y.copy(), batch_size, int(rng.integers(2**31)))
    for name, sent, after in (("x", x, out.args[0]), ("y", y, out.args[1])):
        if not (isinstance(after, np.ndarray) and np.array_equal(after, sent)):
            raise Failure(f"get_random_batches changed its argument {name} in place",
                          hint="np.random.shuffle(x) shuffles the caller's array; index with a "
                               "permutation instead")


# --- run_q2.py ---------------------------------------------------------------------------------

NN_FUNCTIONS = ("initialize_weights", "sigmoid", "forward", "softmax", "compute_loss_and_acc",
                "backwards", "get_random_batches")


def unimplemented(box, limits) -> list[str]:
    """The nn.py functions that still behave like the handout's stubs on a tiny input."""
    nn = StudentModule(box, "nn", limits)
    x, W, b = np.ones((2, 2)), np.ones((2, 2)) * 0.1, np.zeros(2)
    layer_params = {"Wl": W, "bl": b, "cache_l": (x, x @ W, 1 / (1 + np.exp(-(x @ W))))}
    probes = {
        "initialize_weights": ((2, 2, {}, "l"), lambda o: o.args[2].get("Wl") is None),
        "sigmoid": ((x,), lambda o: o.value is None),
        "forward": ((x, {"Wl": W, "bl": b}, "l"), lambda o: o.value is None),
        "softmax": ((x,), lambda o: o.value is None),
        "compute_loss_and_acc": ((np.eye(2), np.full((2, 2), 0.5)),
                                 lambda o: o.value is None or any(v is None for v in o.value)),
        "backwards": ((x, layer_params, "l"), lambda o: o.value is None),
        "get_random_batches": ((x, x, 1), lambda o: not o.value),
    }
    missing = []
    for function, (args, is_stub) in probes.items():
        out = nn.call(function, *args)
        try:
            stub = (not out.ok and "NotImplementedError" in out.message) or (out.ok and is_stub(out))
        except (TypeError, ValueError, AttributeError, IndexError):
            stub = False        # it returned something odd: implemented, if wrongly
        if stub:
            missing.append(function)
    return missing


@pytest.fixture(scope="session")
def run_q2(_sandbox, rubric, run_seed):
    """run_q2.py run once, as `python run_q2.py` would, with its final variables."""
    seconds = rubric["Q2.5"].script_seconds
    return _sandbox.run_script("run_q2.py", globals=("params", "params_orig", "x", "y"), files=(),
                               seed=run_seed, limits=call_limits(_sandbox, seconds))


@pytest.fixture
def q2_script(run_q2, sandbox, nn, rubric):
    """run_q2.py's final variables; the script's failure (in the student's terms) otherwise."""
    if not run_q2.ok:
        stubs = unimplemented(sandbox, call_limits(sandbox, rubric["Q2.5"].call_seconds))
        if stubs:
            raise Failure(f"run_q2.py cannot run yet: {', '.join(stubs)} in nn.py "
                          f"{'is' if len(stubs) == 1 else 'are'} not implemented yet",
                          hint="run_q2.py uses every function of nn.py; implement them first")
        check_outcome(run_q2, "run_q2.py")
    g = run_q2.globals
    for name in ("params", "params_orig", "x", "y"):
        if not isinstance(g.get(name), (dict, np.ndarray)):
            raise Failure(f"run_q2.py ended without the handout's variable {name!r}",
                          hint="keep the handout's given code of run_q2.py (x, y, params, params_orig)")
    return g


def real_parameters(params: dict) -> dict:
    return {k: v for k, v in params.items() if "_" not in k and isinstance(v, np.ndarray)}


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


@pytest.mark.rubric("Q2.4")
def test_training_loop_trains(q2_script, question):
    """run_q2.py's training loop brings the loss on its fake data below 35 (and the accuracy well above chance)"""
    weights = real_parameters(q2_script["params_orig"])
    x, y = q2_script["x"], q2_script["y"]
    probs = usable(predict, weights, x)
    loss, acc = numerics.cross_entropy_sum(y, probs), numerics.accuracy(y, probs)
    max_loss, min_acc = question.threshold("train_loss"), question.threshold("train_accuracy")
    if not (loss < max_loss and acc > min_acc):
        raise Failure(f"after training, the network's loss on run_q2's 40 examples is {loss:.1f} and its "
                      f"accuracy {acc:.0%}; expected loss < {max_loss:g} and accuracy > {min_acc:.0%}",
                      hint="each iteration: forward, loss, backwards, then W -= learning_rate * grad_W for "
                           "every parameter" if loss > 50 else "the loop trains, but not far enough: check "
                           "that backwards sums its gradients and that every parameter is updated")


def gradient_keys(script) -> list[str]:
    return sorted(real_parameters(script["params_orig"]))


@pytest.mark.rubric("Q2.5", weight=2)
def test_gradcheck_numerical(q2_script, question):
    """the checker writes central-difference gradients of the loss into params['grad_'+name] for every parameter"""
    params, orig = q2_script["params"], q2_script["params_orig"]
    keys = gradient_keys(q2_script)
    if keys and all(isinstance(params.get("grad_" + k), np.ndarray) and isinstance(orig.get("grad_" + k), np.ndarray)
                    and np.array_equal(params["grad_" + k], orig["grad_" + k]) for k in keys):
        raise NotImplementedYet("the gradient checker in run_q2.py",
                                "params['grad_*'] still hold the gradients from backwards")
    want = usable(numerics.two_layer_gradients, real_parameters(orig), q2_script["x"], q2_script["y"])
    tolerance = question.threshold("numerical_agreement")
    for k in keys:
        got = param(params, "grad_" + k, "run_q2.py's gradient checker")
        expect_shape(got, want[k].shape, f"params['grad_{k}']", k)
        error = numerics.relative_error(got, want[k])
        if error > tolerance:
            raise Failure(f"params['grad_{k}'] differs from the central differences of the loss "
                          f"(relative error {error:.2g})",
                          hint="for each scalar: add eps, run the network, get the loss; subtract 2 eps, "
                               "again; restore the value; (loss_plus - loss_minus) / (2 eps)")


@pytest.mark.rubric("Q2.5")
def test_gradcheck_restores_parameters(q2_script):
    """the checker puts every parameter back after perturbing it"""
    params, orig = q2_script["params"], q2_script["params_orig"]
    for k in gradient_keys(q2_script):
        if not (isinstance(params.get(k), np.ndarray) and np.array_equal(params[k], orig[k])):
            raise Failure(f"after the gradient check, params['{k}'] differs from params_orig['{k}']",
                          hint="restore each entry to its original value after the two evaluations")


@pytest.mark.rubric("Q2.5", weight=2)
def test_gradcheck_total_error(q2_script, question):
    """backwards' gradients and the checker's agree: total relative error below 1e-4"""
    params, orig = q2_script["params"], q2_script["params_orig"]
    keys = gradient_keys(q2_script)
    if all(isinstance(params.get("grad_" + k), np.ndarray) and np.array_equal(params["grad_" + k], orig.get("grad_" + k))
           for k in keys):
        pytest.skip("the gradient checker did not write numerical gradients")
    errors = {}
    for k in keys:
        a, b = params.get("grad_" + k), orig.get("grad_" + k)
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape):
            raise Failure(f"params['grad_{k}'] and params_orig['grad_{k}'] cannot be compared "
                          f"({describe(a)} vs {describe(b)})")
        # Per parameter, ||a-b|| / (||a|| + ||b||): the starter's elementwise sum blows up on
        # entries whose true gradient is ~0 (finite-difference noise over a tiny denominator),
        # so a correct submission would fail on some random draws.
        errors[k] = numerics.relative_error(a, b)
    total, limit = sum(errors.values()), question.threshold("total_relative_error")
    if not total < limit:
        worst = max(errors, key=errors.get)
        raise Failure(f"total relative error {total:.2e} (should be less than {limit:g}); the largest is "
                      f"grad_{worst} with {errors[worst]:.2e}",
                      hint=f"backwards' gradient for {worst} disagrees with the numerical one: check "
                           "backwards for that layer")
