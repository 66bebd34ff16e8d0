"""The 2019 edition's Q3.1.5: the same network trained on the second data set (data2).

The handout asks students to repeat Q3.1.1-Q3.1.4 on data2 and explain in writing why results
differ; the write-up is graded by hand. To give the TA the figures behind it, the student's own
run_q3.py runs once more, unchanged, in a sandbox whose ../data/data1/ files hold data2's sets
(so a script that reads data1, as the handout's does, trains on data2), and the grader measures
the weights it saved on data2's training and validation sets. The check carries no points.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from graders.checks import evaluation
from graders.checks import training_runs
from graders.checks.student_module import call_limits
from graders.results.messages import Failure
from graders.suites._sandboxes import course_data_dirs, grading_key, open_sandbox, record_sandbox
from graders.suites._scripts import network_or_skip, script_failure

pytestmark = pytest.mark.xdist_group("q3_data2")


def second_set_as_first(pytestconfig, rubric, tmp: Path) -> tuple[Path, Path]:
    """(data, images) where the first set's paths hold the second set's files."""
    from fixtures import cache
    first, second = rubric.data["nist36"], rubric.data["second_set"]
    option = pytestconfig.getoption("data_dir")
    if not option:
        # every name of the first set (2019's plain nist36_*.mat too) holds the second set, and the
        # second set's own names stay (a script that reads data2 by its path runs here too)
        profile = cache.layout({p: "set2" if v == "set1" else v for p, v in rubric.nist36_layout().items()},
                               log=lambda *a: None, key=grading_key(pytestconfig))
        return profile.data_dir, profile.images_dir
    data, images = course_data_dirs(option, rubric.nist36_layout())
    for split in ("train", "valid", "test"):
        cache.link(data / second.format(split=split), tmp / first.format(split=split))
        cache.link(data / second.format(split=split), tmp / second.format(split=split))
    return tmp, images


@pytest.fixture(scope="session")
def second_set(pytestconfig, rubric):
    """The data2 splits the grader measures with (evaluation.Splits)."""
    data, _ = course_data_dirs(pytestconfig.getoption("data_dir"), rubric.nist36_layout(), grading_key(pytestconfig))
    return evaluation.load_splits(data, rubric.data["second_set"])


@pytest.fixture(scope="session")
def _second_set_sandbox(submission, pytestconfig, rubric):
    with tempfile.TemporaryDirectory(prefix="hw5grade-data2-") as tmp:
        data, images = second_set_as_first(pytestconfig, rubric, Path(tmp))
        box = open_sandbox(submission, data, images)
        yield box
        box.close()


@pytest.fixture(scope="session")
def q3_second_run(_second_set_sandbox, rubric, run_seed):
    outcome = _second_set_sandbox.run_script(
        "run_q3.py", globals=(), files=(training_runs.WEIGHTS_FILE,), seed=run_seed,
        limits=call_limits(_second_set_sandbox, rubric["Q3.1.5-data2"].script_seconds))
    return training_runs.load_q3_run(outcome)


@pytest.mark.rubric("Q3.1.5-data2")
def test_network_learns_data2(q3_second_run, _second_set_sandbox, second_set, rubric, question, request,
                              record_property):
    """run_q3.py, given data2 in data1's place, trains a network; its accuracies on data2 are measured for the write-up"""
    record_sandbox(request, _second_set_sandbox)
    script_failure(q3_second_run, _second_set_sandbox, rubric)
    q3_second_run.require_weights()
    weights = network_or_skip(q3_second_run)
    label, scale, _ = evaluation.best_scaling(weights, q3_second_run.weights, *second_set.valid, second_set.train[0])
    if label != evaluation.AS_THEY_ARE:
        record_property("input_scaling", label)
    accuracy = {}
    for split in ("train", "valid", "test"):
        x, y = getattr(second_set, split)
        with np.errstate(all="ignore"):
            probs = evaluation.classifier_probs(weights, scale(x))
        accuracy[split] = float(np.mean(np.argmax(probs, 1) == np.argmax(y, 1)))
    record_property("data2_accuracy", {k: round(v, 4) for k, v in accuracy.items()})
    record_property("data2_train_examples", int(second_set.train[0].shape[0]))
    least = question.threshold("validation_accuracy")
    if accuracy["valid"] < least:
        raise Failure(f"trained on data2, the network reaches {accuracy['valid']:.1%} on data2's validation set",
                      expected=f"at least {least:.0%} (chance is 1/36)", actual=f"{accuracy['valid']:.1%}",
                      hint="the same script that passes Q3.1.1 on data1 should learn data2 too, if less well")
