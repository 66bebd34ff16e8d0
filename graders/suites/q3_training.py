"""Q3.1: run_q3.py trains the 1024-64-36 network and saves it to q3_weights.pickle.

run_q3.py runs once per grading (the q3_run fixture, in the data sandbox, seeded by the run's
seed). The weights it wrote are read with the restricted loader and evaluated here with the
grader's own forward pass (graders.checks.evaluation). The verdict is the accuracy on the grader-only
split (course_data.grader), which the sandbox never mounts, so a script that trains on the
validation set it can read gains nothing; the validation and test accuracies are recorded for
the student to compare with what the script printed.
"""
from __future__ import annotations

import numpy as np
import pytest

from graders.checks import evaluation
from graders.results import messages
from graders.checks import numerics
from graders.checks import plugin
from graders.checks.artifacts import save_figures
from graders.results.messages import Failure, describe
from graders.checks.training_runs import WEIGHTS_FILE
from graders.suites._scripts import network_or_skip, script_failure, trained_network, weights_or_skip

pytestmark = pytest.mark.xdist_group("q3")


@pytest.mark.rubric("Q3.1")
def test_run_q3_finishes(q3_run, data_sandbox, rubric, course_data, question, record_property):
    """run_q3.py runs to its end on the course data within its time budget, having trained a network"""
    record_property("seconds", round(q3_run.outcome.elapsed, 1))
    record_property("output", messages.clip(q3_run.outcome.stdout or "", head=100, tail=100))
    script_failure(q3_run, data_sandbox, rubric)
    require_learned(q3_run, course_data, question, "running to its end")


def require_learned(q3_run, course_data, question, what: str) -> None:
    """Fail `what` unless the run saved a network that learned something: a script that ends at
    once, or shows empty figures, did none of Q3.1's work."""
    found = trained_network(q3_run)
    if isinstance(found, str):
        raise Failure(f"{what} counts for a run that trained, and run_q3.py left no network the grader "
                      f"can run: {found}", hint="train the network and save it to q3_weights.pickle "
                                                "(see the weights checks)")
    weights, where = found
    arrays = q3_run.weights if where == WEIGHTS_FILE else q3_run.outcome.globals.get("params")
    _, scale, _ = evaluation.best_scaling(weights, arrays if isinstance(arrays, dict) else {}, *course_data.valid,
                                         course_data.train[0])
    x, y = course_data.grader
    with np.errstate(all="ignore"):
        accuracy = numerics.accuracy(y, evaluation.classifier_probs(weights, scale(x)))
    floor = question.threshold("learned_accuracy")
    if not numerics.at_least(accuracy, floor):
        raise Failure(f"{what} counts for a run that trained, and the network in {where} classifies "
                      f"{accuracy:.1%} of held-out characters correctly, no better than an untrained one "
                      f"(chance is 1/36, about 3%)", expected=f">= {floor:.0%}", actual=f"{accuracy:.1%}",
                      hint="each batch: forward, loss, backwards, then W -= learning_rate * grad_W for every "
                           "W and b; save the trained params")


@pytest.mark.rubric("Q3.1")
def test_q3_weights_saved(q3_run):
    """run_q3.py writes q3_weights.pickle, a dict of arrays that the restricted loader reads"""
    q3_run.require_weights()


@pytest.mark.rubric("Q3.1")
def test_q3_weights_keys_and_shapes(q3_run):
    """the saved weights are Wlayer1 (1024, 64), blayer1 (64,), Woutput (64, 36) and boutput (36,)"""
    weights = weights_or_skip(q3_run)
    missing = [k for k in evaluation.CLASSIFIER if k not in weights]
    if missing:
        present = sorted(map(str, weights))
        raise Failure(f"q3_weights.pickle lacks {', '.join(missing)} (it holds {', '.join(present) or 'nothing'})",
                      expected=", ".join(evaluation.CLASSIFIER), actual=", ".join(present) or "an empty dict",
                      hint="name the layers 'layer1' and 'output' (initialize_weights(..., params, 'layer1')) "
                           "and save {k: v for k, v in params.items() if '_' not in k}; run_q4 reads these names")
    wrong = []
    for key, shape in evaluation.CLASSIFIER.items():
        value = weights[key]
        got = value.shape if isinstance(value, np.ndarray) else None
        if got != shape or value.dtype.kind not in "fiu":
            wrong.append((key, shape, got if got is not None else describe(value)))
    if not wrong:
        return
    text = "; ".join(f"{k} is {g}, expected {s}" for k, s, g in wrong)
    hint = ""
    W1 = weights.get("Wlayer1")
    if any(isinstance(g, tuple) and g == s[::-1] and len(s) == 2 for _, s, g in wrong):
        hint = "a weight matrix is transposed: W is (inputs, outputs)"
    elif isinstance(W1, np.ndarray) and W1.ndim == 2 and W1.shape[0] == 1024 and W1.shape[1] != 64:
        hint = (f"your hidden layer has {W1.shape[1]} units; the handout's run_q3 requires hidden_size = 64 "
                "(its given code sets it)")
    elif any(k.startswith("b") and isinstance(g, tuple) and len(g) == 2 for k, _, g in wrong):
        hint = "b should be a 1D array"
    raise Failure(f"the saved weights have the wrong shapes: {text}", hint=hint,
                  expected=", ".join(f"{k} {s}" for k, s in evaluation.CLASSIFIER.items()),
                  actual=", ".join(f"{k} {g}" for k, _, g in wrong))


def sampling_margin(threshold: float, n: int, confidence: float) -> float:
    """How far below the threshold an accuracy measured on n characters may fall by the draw of
    the characters alone, at the given one-sided confidence (the normal approximation of a
    binomial proportion whose true value is the threshold)."""
    from scipy.stats import norm
    return float(norm.ppf(confidence) * np.sqrt(threshold * (1 - threshold) / max(n, 1)))


@pytest.mark.rubric("Q3.1", weight=2)
def test_q3_validation_accuracy(q3_run, course_data, question, record_property):
    """the saved network, run by the grader on held-out characters drawn like the validation set, classifies at least 75% correctly"""
    weights = network_or_skip(q3_run)
    label, scale, _ = evaluation.best_scaling(weights, q3_run.weights, *course_data.valid, course_data.train[0])
    if label != evaluation.AS_THEY_ARE:
        record_property("input_scaling", label)
    probs, accuracy = {}, {}
    with np.errstate(all="ignore"):
        for split in ("grader", "valid", "test"):
            x, y = getattr(course_data, split)
            probs[split] = evaluation.classifier_probs(weights, scale(x))
            accuracy[split] = numerics.accuracy(y, probs[split])
    matrix = evaluation.confusion_matrix(course_data.test[1], probs["test"])
    held_out, valid_acc, test_acc = accuracy["grader"], accuracy["valid"], accuracy["test"]
    record_property("graded_accuracy", round(held_out, 4))
    record_property("validation_accuracy", round(valid_acc, 4))
    record_property("test_accuracy", round(test_acc, 4))
    record_property("confusion_matrix", matrix.tolist())
    record_property("confusion_labels", "".join(evaluation.CHARACTERS))
    record_property("confusion_set", "the test set")
    record_property("most_confused", [list(p) for p in evaluation.most_confused(matrix)])
    if course_data.grader_note:
        record_property(plugin.NOTE, f"Q3.1: {course_data.grader_note}")
    threshold = question.threshold("validation_accuracy")
    # The grader's accuracy is an estimate from a sample of characters: "below 75%" is said only
    # when it is below by more than the sample's own error (one-sided, the rubric's confidence),
    # never because of which characters the course key drew.
    counted = len(course_data.grader[1])
    margin = sampling_margin(threshold, counted, question.threshold("sampling_confidence"))
    mark = threshold - margin
    record_property("pass_mark", round(mark, 4))
    if numerics.at_least(held_out, mark):
        return
    seen = (f"validation set: {valid_acc:.1%}, test set: {test_acc:.1%}" if not course_data.grader_note
            else f"test set: {test_acc:.1%}")
    claimed = q3_run.outcome.globals.get("valid_acc")
    hint = ("the network did not learn (chance is 1/36, about 3%): check that every parameter is updated "
            "with its gradient each batch and that the learning rate is not 0"
            if not numerics.at_least(held_out, 0.1) else "train longer or tune the learning rate and batch size")
    if not course_data.grader_note and numerics.at_least(valid_acc, threshold):
        # 5 points: well beyond the splits' sampling spread (the reference: 0.774-0.794 on both)
        hint = (f"on the validation set it reaches {valid_acc:.1%}, on unseen characters only {held_out:.1%}: "
                "a network fitted to the validation set does not generalise; train on nist36_train only "
                "and keep the validation set for measuring" if valid_acc - held_out >= 0.05 else
                f"it reaches {valid_acc:.1%} on the validation set and {held_out:.1%} on held-out characters, "
                "just below the bar: train longer or tune the learning rate and batch size")
    elif isinstance(claimed, float) and numerics.at_least(claimed, threshold):
        hint = (f"your script printed a validation accuracy of {claimed:.1%}, but the weights it saved reach "
                f"{valid_acc:.1%}: save the weights after training, from the same params")
    what = "the validation set" if course_data.grader_note else "held-out characters drawn like the validation set"
    raise Failure(f"the saved network classifies {held_out:.1%} of {what} correctly; "
                  f"at least {threshold:.0%} is needed, and this is below it by more than the "
                  f"{margin:.1%} that the draw of {counted} characters alone can explain ({seen})",
                  expected=f">= {mark:.1%} ({threshold:.0%} less the sampling margin)", actual=f"{held_out:.1%}",
                  hint=hint)


@pytest.mark.rubric("Q3.1")
def test_q3_plots_shown(q3_run, course_data, pytestconfig, record_property, question):
    """run_q3.py shows its own plots (accuracy and loss curves, first-layer weights) besides the handout's confusion matrix, of a network it trained"""
    count = save_figures(pytestconfig, record_property, "run_q3", q3_run.outcome.figures,
                         dropped=q3_run.outcome.figures_dropped)
    least = int(question.threshold("min_figures"))
    if count < least:
        raise Failure(f"run_q3.py showed {count} figure(s); the handout's own code shows one (the confusion "
                      "matrix), and the curves of accuracy and loss are yours to plot",
                      expected=f"at least {least} figures (plt.show())", actual=f"{count}",
                      hint="plot training and validation accuracy, then loss, over the epochs and call plt.show()"
                      + ("" if q3_run.outcome.ok else f" ({q3_run.script} stopped before its plots)"))
    require_learned(q3_run, course_data, question, "showing plots")
