"""A training script's run as the trusted side sees it: the ScriptOutcome and what it saved.

The q3_run and q5_run session fixtures (graders/suites/conftest.py) build these once per
grading; every check of Q3.1, Q4.4 and Q5.x reads the same run. Nothing here runs student
code: the weights file comes back as bytes and is opened with graders.checks.safe_pickle only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graders.results import messages
from graders.checks import safe_pickle
from graders.checks.student_module import check_outcome

WEIGHTS_FILE = "q3_weights.pickle"


@dataclass
class TrainingRun:
    """One run of a training script and the weights it wrote (or why there are none)."""

    script: str
    outcome: object                         # graders.sandbox.sandbox.ScriptOutcome
    weights: dict | None = None             # the loaded weights file (run_q3) or params (run_q5)
    problem: messages.CheckFailure | None = None   # why `weights` is None
    notes: list = field(default_factory=list)
    seen: list = field(default_factory=list)     # run_q5: SeenDict of every dict the run used
    training: object = None                      # run_q5: the SeenDict its training used, if found

    def require_finished(self) -> None:
        """Raise the student-facing failure unless the script ran to its end."""
        check_outcome(self.outcome, self.script)

    def require_weights(self) -> dict:
        if self.weights is None:
            raise self.problem
        return self.weights


def stopped_early(run_outcome, script: str) -> str:
    """A note to append to a message: why the script stopped early, or nothing if it finished."""
    if run_outcome.ok:
        return ""
    first = (run_outcome.message or run_outcome.error or "it failed").strip().splitlines()[0]
    return f" ({script} stopped early: {first})"


def load_q3_run(outcome, script: str = "run_q3.py") -> TrainingRun:
    """The run of run_q3.py and q3_weights.pickle as written by it, through the restricted loader.

    A weights file the submission shipped but this run did not write does not count: the
    sandbox reports only files the script created or changed."""
    run = TrainingRun(script, outcome)
    data = outcome.files.get(WEIGHTS_FILE)
    if data is None:
        run.problem = messages.Failure(
            f"{script} did not write {WEIGHTS_FILE}" + stopped_early(outcome, script),
            expected=f"{WEIGHTS_FILE} in the folder the script runs in (python/)",
            actual="no such file after the run",
            hint="save with pickle.dump({k: v for k, v in params.items() if '_' not in k}, "
                 "open('q3_weights.pickle', 'wb')) at the end of training, as the handout's code does")
        return run
    if not isinstance(data, bytes):
        run.problem = messages.Failure(f"{WEIGHTS_FILE} could not be read back ({data.get('__unsupported__', data)})",
                                       hint="save only the four weight arrays")
        return run
    try:
        run.weights = safe_pickle.load_weights(data, WEIGHTS_FILE)
    except safe_pickle.UnsafePickleError as err:
        run.problem = messages.Failure(
            str(err), expected="a pickled dict of NumPy arrays", actual="a pickle that was refused",
            hint="pickle the dict {k: v for k, v in params.items() if '_' not in k} and nothing else")
        return run
    if not isinstance(run.weights, dict):
        run.problem = messages.Mismatch(f"{WEIGHTS_FILE} holds", "a dict of NumPy arrays",
                                        messages.describe(run.weights),
                                        hint="pickle the params dict, not a list or a single array")
        run.weights = None
    elif not any(isinstance(v, np.ndarray) for v in run.weights.values()):
        run.problem = messages.NotImplementedYet(
            f"the training in {script}", f"{WEIGHTS_FILE} holds {messages.describe(run.weights)}, no arrays")
        run.weights = None
    return run


# --- run_q5: the dicts the training used, found in the run (graders.sandbox.shipped.worker.ParamsWatch) -----------

SEEN = "__params_seen__"       # the worker's name for what its ParamsWatch saw


@dataclass
class SeenDict:
    """One dict of the run: `final` its arrays at the end; `first` the first value each array had
    when the watch saw it; `at_last_backwards` its entries when the last backwards call began (the
    last batch's caches, the weights before that batch's update); `label` where it was found."""
    final: dict
    first: dict
    at_last_backwards: dict
    label: str


def _arrays(value) -> dict:
    return {k: v for k, v in value.items() if isinstance(k, str)} if isinstance(value, dict) else {}


def seen_dicts(outcome) -> list[SeenDict]:
    """The dicts the script passed to nn.py's functions, then those among its final globals; the
    one still bound to `params` at the end arrives once, as that global."""
    found = []
    for entry in outcome.globals.get(SEEN) or []:
        if not isinstance(entry, dict):
            continue
        final = entry.get("final")
        if entry.get("is_params"):
            final = outcome.globals.get("params")
        label = ("a dict passed to nn.py's functions" if entry.get("passed_to_nn")
                 else f"the variable {str(entry.get('global'))[:60]}")
        found.append(SeenDict(_arrays(final), _arrays(entry.get("first")), _arrays(entry.get("at_last_backwards")),
                              label))
    return found


def load_q5_run(outcome, script: str = "run_q5.py") -> TrainingRun:
    """The run of run_q5.py and the params its training used: the dict nn.py's functions were
    given whose layers chain 1024 -> ... -> 1024 (whatever the script bound to `params` at its
    end), else its final `params` (a Counter crosses as a plain dict, in order)."""
    from graders.checks import evaluation
    run = TrainingRun(script, outcome)
    run.seen = seen_dicts(outcome)
    params = outcome.globals.get("params")
    for seen in run.seen:
        names = evaluation.layers_in_order(seen.final)
        if evaluation.chains(seen.final, names):
            run.training, params = seen, seen.final
            break
    if isinstance(params, dict) and any(isinstance(v, np.ndarray) for v in params.values()):
        run.weights = params
        return run
    if not outcome.ok:
        try:
            check_outcome(outcome, script)
        except messages.CheckFailure as failure:
            run.problem = failure
            return run
    if isinstance(params, dict) and not params:
        run.problem = messages.NotImplementedYet(f"the autoencoder in {script}", "params is still empty")
        return run
    run.problem = messages.Failure(
        f"{script} ended without parameters in its variable params"
        + (f" (params is {messages.describe(params)})" if params is not None else ""),
        hint="keep the handout's params = Counter() and store every layer's W and b in it "
             "with initialize_weights")
    return run
