"""What the checks of a training script (run_q3.py, run_q4.py, run_q5.py) share: why a script did
not run to its end and train, said in the student's terms (nn.py's functions still stubs, a data
path of their machine), and the trained network when the grader can run it.
"""
from __future__ import annotations

import numpy as np
import pytest

from graders.checks import evaluation
from graders.checks.student_module import StudentModule, call_limits
from graders.results.messages import Failure, NotImplementedYet, StudentError


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


def script_failure(run, box, rubric) -> None:
    """Raise why a training script did not run to its end and train, in the student's terms.

    The handout's stubs let a script run to its end without training anything, so a script
    whose nn.py functions are still stubs, or which left nothing trained, does not pass."""
    if run.outcome.error != "timeout":
        stubs = unimplemented(box, call_limits(box, rubric["Static"].call_seconds))
        if stubs:
            raise Failure(f"{run.script} cannot train yet: {', '.join(stubs)} in nn.py "
                          f"{'is' if len(stubs) == 1 else 'are'} not implemented yet",
                          hint=f"{run.script} uses the functions of nn.py; implement them first")
    try:
        run.require_finished()
    except StudentError as err:
        if not err.hint and "FileNotFoundError" in err.rationale:
            err.hint = rubric.data_hint(err.rationale + err.traceback)
        raise
    if isinstance(run.problem, NotImplementedYet):
        raise run.problem


def weights_or_skip(q3_run) -> dict:
    if q3_run.weights is None:
        pytest.skip(f"no weights to check: {q3_run.problem.rationale}")
    return q3_run.weights


def network_or_skip(q3_run) -> dict:
    """The four arrays when they form a network the grader can run (any hidden size)."""
    weights = weights_or_skip(q3_run)
    arrays = {k: weights.get(k) for k in evaluation.CLASSIFIER}
    if not all(isinstance(v, np.ndarray) for v in arrays.values()):
        pytest.skip("the weights lack Wlayer1, blayer1, Woutput or boutput, so the network cannot be evaluated")
    W1, b1, W2, b2 = (np.asarray(arrays[k], dtype=np.float64) for k in evaluation.CLASSIFIER)
    hidden = W1.shape[1] if W1.ndim == 2 else None
    if not (W1.shape == (1024, hidden) and b1.shape == (hidden,) and W2.shape == (hidden, 36)
            and b2.shape == (36,)):
        pytest.skip("the weights' shapes do not chain into a 1024-h-36 network, so it cannot be evaluated")
    return {"Wlayer1": W1, "blayer1": b1, "Woutput": W2, "boutput": b2}
