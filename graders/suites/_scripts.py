"""What the checks of a training script (run_q3.py, run_q4.py, run_q5.py) share: why a script did
not run to its end and train, said in the student's terms (nn.py's functions still stubs, a data
path of their machine), and the trained network when the grader can run it.
"""
from __future__ import annotations

import numpy as np
import pytest

from graders.checks import evaluation
from graders.checks.student_module import StudentModule, call_limits
from graders.checks.training_runs import WEIGHTS_FILE
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


def trained_network(q3_run) -> tuple[dict, str] | str:
    """The network a run of run_q3.py left, for crediting what only a training run earns: the saved
    weights, else the script's final params; by the handout's names, else by their shapes (a
    network saved under other names was still trained). (arrays, where found), or why none."""
    sources = [(q3_run.weights, WEIGHTS_FILE), (q3_run.outcome.globals.get("params"), "params as run_q3.py ended")]
    for arrays, where in sources:
        if isinstance(arrays, dict):
            found = _by_names(arrays) or _by_shapes(arrays)
            if found:
                return found, where
    return f"neither {WEIGHTS_FILE} nor params as the script ended hold a 1024-h-36 network"


def _by_names(arrays: dict) -> dict | None:
    found = [arrays.get(k) for k in evaluation.CLASSIFIER]
    return _chained(found) if all(isinstance(v, np.ndarray) for v in found) else None


def _by_shapes(arrays: dict) -> dict | None:
    """The only (1024, h), (h,), (h, 36), (36,) arrays among those named as weights are ('_' marks
    the handout's gradients, caches and accumulators)."""
    named = [v for k, v in arrays.items() if isinstance(k, str) and "_" not in k and isinstance(v, np.ndarray)]
    first = [v for v in named if v.ndim == 2 and v.shape[0] == 1024]
    if len(first) != 1:
        return None
    hidden = first[0].shape[1]
    rest = [[v for v in named if v.shape == shape] for shape in ((hidden,), (hidden, 36), (36,))]
    if hidden == 36 or any(len(r) != 1 for r in rest):
        return None
    return _chained([first[0]] + [r[0] for r in rest])


def _chained(four: list) -> dict | None:
    W1, b1, W2, b2 = four
    if W1.ndim != 2 or W1.shape[0] != 1024:
        return None
    hidden = W1.shape[1]
    if not (b1.shape == (hidden,) and W2.shape == (hidden, 36) and b2.shape == (36,)):
        return None
    if not all(v.dtype.kind in "fiu" for v in four):
        return None
    return dict(zip(evaluation.CLASSIFIER, (np.asarray(v, dtype=np.float64) for v in four)))


def network_or_skip(q3_run) -> dict:
    """The four arrays, by the handout's names, when they form a network the grader can run (any hidden size)."""
    weights = weights_or_skip(q3_run)
    arrays = [weights.get(k) for k in evaluation.CLASSIFIER]
    if not all(isinstance(v, np.ndarray) for v in arrays):
        pytest.skip("the weights lack Wlayer1, blayer1, Woutput or boutput, so the network cannot be evaluated")
    found = _chained(arrays)
    if found is None:
        pytest.skip("the weights do not form a 1024-h-36 network of numbers (their shapes or types), so it cannot be evaluated")
    return found


