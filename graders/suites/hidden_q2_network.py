"""Hidden checks of Q2: they compare with the staff solution, so they ship only to the course
staff and the Gradescope bundle (graders.staff.release leaves every hidden_*.py suite out of the
student handout and declares its checks there instead, so the handout's scores leave room for
them). Helpers come from the public suite of the same group.
"""
from __future__ import annotations

import numpy as np
import pytest

from graders.sandbox.sandbox import Ref
from graders.suites._arrays import as_array, expect_close, param


@pytest.fixture(scope="session")
def reference_nn():
    """The staff solution's nn.py, imported here: trusted code, used by hidden checks only."""
    from graders.staff.staff_solution import load_reference_module
    return load_reference_module("nn", requires=("util",))


@pytest.mark.rubric("Q2.3.1", visibility="hidden")
def test_backwards_matches_reference(nn, rng, reference_nn):
    """backwards agrees with the staff solution through a two-layer sigmoid/softmax network"""
    x = rng.normal(0, 1, (int(rng.integers(6, 15)), 5))
    y = np.eye(3)[rng.integers(0, 3, len(x))]
    params = {"Wlayer1": rng.uniform(-0.6, 0.6, (5, 7)), "blayer1": rng.normal(0, 0.1, 7),
              "Woutput": rng.uniform(-0.7, 0.7, (7, 3)), "boutput": rng.normal(0, 0.1, 3)}
    h = reference_nn.forward(x, params, "layer1")
    probs = reference_nn.forward(h, params, "output", reference_nn.softmax)
    want = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in params.items()}
    delta2 = reference_nn.backwards(probs - y, want, "output", reference_nn.linear_deriv)
    reference_nn.backwards(delta2, want, "layer1", reference_nn.sigmoid_deriv)
    got = nn.value("backwards", probs - y, dict(params), "output", allow_none=True,
                   activation_deriv=Ref("util", "linear_deriv"))
    got_delta2 = as_array(got.value, "backwards")
    expect_close(got_delta2, delta2, "grad_X of the output layer")
    got1 = nn.value("backwards", delta2, dict(params), "layer1", allow_none=True)
    for key, source in (("grad_Woutput", got.args[1]), ("grad_boutput", got.args[1]),
                        ("grad_Wlayer1", got1.args[1]), ("grad_blayer1", got1.args[1])):
        expect_close(param(source, key, "backwards"), want[key], f"params[{key!r}]")
