"""Q6: the PyTorch scripts (run_q6_1_1.py ... run_q6_2_1.py), judged by what each run produced.

Each script runs once per grading in the torch sandbox (the torch_run fixture), CPU only, within
its question's script_seconds. Its worker then only hands over the modules and transforms the
script made (pickled, passed on unread) and ends. The saved state_dict is read on this side with
PyTorch's weights-only loader; a fresh measuring worker that ran no script rebuilds the script's
model from its definitions, loads those tensors and classifies the grader's held-out inputs,
sent in a secret order (a secret subset under the course key) under each preprocessing the
script made and the usual fallbacks (graders/checks/saved_models.py). Verdicts are computed here:
accuracy against truth/heldout_*.npz mapped back to the order sent (best preprocessing, named in
the results), the loss curve from the captured plot data or the printed losses, Q6.2.1's frozen
layers against the pretrained weights file, read here with the same tensors-only loader.

Why one file this long: a suite is one question group of the rubric; Q6's runs, measured models and
their checks share one run per script, found once.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from graders.checks import artifacts
from graders.results import messages
from graders.checks import numerics
from graders.checks import plugin
from graders.checks import printed
from graders.checks import saved_models
from graders.checks.student_module import check_outcome
from graders.checks.training_runs import stopped_early
from graders.results.messages import Failure, StudentError


@dataclass(frozen=True)
class Saved:
    file: str                 # what the script saves, torch.save(model.state_dict(), file)
    heldout: str              # truth/heldout_<heldout>.npz
    threshold: str            # the rubric threshold of its accuracy
    what: str                 # the model, in the student's terms


@dataclass(frozen=True)
class Script:
    name: str
    saved: tuple
    state: str | None = None  # a file whose tensors come back too (Q6.2.1's frozen layers)
    joins: str = ""           # "cat" or "add": the connection its model must have (2019's Q7.1.5)
    curve: str = ""           # a word naming this model's curves, where one script plots two models

    @property
    def group(self) -> str:
        return self.name.removeprefix("run_").removesuffix(".py")


# Both editions' PyTorch questions: a run grades those of its edition (the others are not its
# questions and are left out). Questions sharing a script (Q7.1.5a and b) share its one run.
SCRIPTS = {
    "Q6.1.1": Script("run_q6_1_1.py", (Saved("q6_1_1_model.pt", "nist36", "heldout_accuracy", "fully connected network"),)),
    "Q6.1.2": Script("run_q6_1_2.py", (Saved("q6_1_2_model.pt", "nist36", "heldout_accuracy", "CNN"),)),
    "Q6.1.3": Script("run_q6_1_3.py", (Saved("q6_1_3_model.pt", "cifar10", "heldout_accuracy", "CNN"),)),
    "Q6.1.4": Script("run_q6_1_4.py", (Saved("q6_1_4_model.pt", "sun_scenes", "heldout_accuracy", "CNN"),)),
    "Q6.2.1": Script("run_q6_2_1.py", (Saved("q6_2_1_finetuned.pt", "flowers17", "finetuned_accuracy", "fine-tuned SqueezeNet"),
                                       Saved("q6_2_1_scratch.pt", "flowers17", "scratch_accuracy", "CNN trained from scratch")),
                     state="q6_2_1_finetuned.pt"),
    "Q7.1.1": Script("run_q7_1_1.py", (Saved("q7_1_1_model.pt", "nist36", "heldout_accuracy", "fully connected network"),)),
    "Q7.1.2": Script("run_q7_1_2.py", (Saved("q7_1_2_model.pt", "mnist", "heldout_accuracy", "CNN"),)),
    "Q7.1.3": Script("run_q7_1_3.py", (Saved("q7_1_3_model.pt", "nist36", "heldout_accuracy", "CNN"),)),
    "Q7.1.4": Script("run_q7_1_4.py", (Saved("q7_1_4_model.pt", "emnist", "heldout_accuracy", "CNN"),)),
    "Q7.1.5a": Script("run_q7_1_5.py", (Saved("q7_1_5_skip.pt", "nist36", "heldout_accuracy",
                                              "network with skip connections"),), joins="cat", curve="skip"),
    "Q7.1.5b": Script("run_q7_1_5.py", (Saved("q7_1_5_residual.pt", "nist36", "heldout_accuracy",
                                              "network with residual connections"),), joins="add", curve="residual"),
    "Q7.2.1": Script("run_q7_2_1.py", (Saved("q7_2_1_finetuned.pt", "flowers17", "finetuned_accuracy", "fine-tuned SqueezeNet"),
                                       Saved("q7_2_1_scratch.pt", "flowers17", "scratch_accuracy", "CNN trained from scratch")),
                     state="q7_2_1_finetuned.pt"),
}
HELDOUT_NAMES = {"nist36": "NIST36 characters", "cifar10": "CIFAR-10 images", "sun_scenes": "scene photos",
                 "flowers17": "flower photos", "mnist": "MNIST digits", "emnist": "EMNIST characters"}
FLOWER_CLASSES = 17
PRETRAINED = "hub/checkpoints/squeezenet1_1-b8a52dc0.pth"     # under TORCH_HOME, where torchvision looks
CLASSIFIER_KEY = "classifier.1.weight"

_LOSS = re.compile(r"\bloss|cost|cross.?entropy", re.IGNORECASE)
_ACCURACY = re.compile(r"acc", re.IGNORECASE)


def checks(*qids, weight=1):
    """One parametrized check per question, in that question's rubric entry and its script's
    xdist group (questions of another edition are left out by the plugin)."""
    return pytest.mark.parametrize("qid", [
        pytest.param(q, id="q" + q[1:].replace(".", "_").lower(),
                     marks=(pytest.mark.rubric(q, weight=weight), pytest.mark.xdist_group(SCRIPTS[q].group)))
        for q in qids])


TRAINED = ("Q6.1.1", "Q6.1.2", "Q6.1.3", "Q6.1.4",
           "Q7.1.1", "Q7.1.2", "Q7.1.3", "Q7.1.4", "Q7.1.5a", "Q7.1.5b")
ALL = TRAINED + ("Q6.2.1", "Q7.2.1")
IMAGE_INPUTS = ("cifar10", "sun_scenes", "flowers17", "mnist", "emnist")


@dataclass
class SavedModel:
    saved: Saved
    state: dict | None = None       # the file's tensors, read on this side ({name: array})
    problem: object = None          # saved_models.Unreadable: why there are none
    order: np.ndarray | None = None  # indices into the held-out set, in the order they were sent
    answer: object = None           # the measuring worker's predict Outcome
    source: str = ""                # where the tensors came from, when not the saved file
    left: dict = field(default_factory=dict)    # predictions left out of the scoring, and why


@dataclass
class Q6Run:
    script: Script
    outcome: object                                 # ScriptOutcome
    models: dict = field(default_factory=dict)      # saved file -> SavedModel
    heldout: dict = field(default_factory=dict)     # heldout name -> {x, y, classes}
    joins: object = None                            # joins Outcome (Q7.1.5)
    measured: bool = False                          # the script's worker came back to be asked
    runs: dict = field(default_factory=dict)        # saved file -> (script, outcome) of a file run apart
    # how far thresholds widen: the rubric's [gpu] tolerance when a script of it ran on a GPU, else 0
    tolerance: float = 0.0


def channels(x) -> int:
    """The channels of held-out images: grey (N x H x W, MNIST and EMNIST) or colour (N x H x W x 3)."""
    return 1 if x.ndim == 3 or x.shape[-1] == 1 else 3


def measure(box, submission: Path, scripts: list, heldout: dict, outcome, limits, run_seed: int,
            key: bytes | None) -> dict:
    """{file: SavedModel} of every file the scripts save, and ("joins", file): the joins Outcome;
    measured after the script's worker has ended (see the module docstring). key: the course
    key under staff grading (the held-out order and subset are then secret), else None."""
    if not outcome.after:           # the worker was stopped (time, memory): nothing was captured
        return {}
    work = Path(box.root) / "work" / "python"
    capture = saved_models.captured(outcome.after[0])
    name = scripts[0].name
    models, requests, asked = {}, [], []
    left = saved_models.captured_states(capture)        # the models the script left in its variables
    for saved in dict.fromkeys(s for script in scripts for s in script.saved):
        model = models[saved.file] = SavedModel(saved)
        truth = heldout[saved.heldout]
        inputs = "images" if saved.heldout in IMAGE_INPUTS else "nist"
        try:
            model.state = saved_models.saved_state(work, submission, saved.file)
        except saved_models.Unreadable as unreadable:
            # the handout asks for no file: a model the script left is measured instead when it
            # saved none, or saved a real torch.save archive the grader does not unpickle (a whole
            # module, whose loading would run the student's code here). A run that ended normally
            # only: a crashed run's half-trained model is not its answer; a file this run did not
            # write ("unchanged"), or one torch.save never wrote, is not replaced by whatever the
            # script holds in a variable.
            found = next(((var, state) for var, state in left
                          if unreadable.reason in ("missing", "pickled") and outcome.ok
                          and saved_models.fits(state, saved.what, len(truth["classes"]), inputs,
                                                channels(truth["x"]))), None)
            if found is None:
                model.problem = unreadable
                continue
            left = [entry for entry in left if entry[0] != found[0]]      # one model answers one question
            model.state = found[1]
            model.source = (f"the {saved.what} in the script's variable {found[0]} (it saved no {saved.file}: "
                            "measured from what its run left)" if unreadable.reason == "missing" else
                            f"the {saved.what} in the script's variable {found[0]}, measured from what its run "
                            f"left, since {unreadable.message}")
        model.order = saved_models.heldout_order(saved.heldout, len(truth["y"]), run_seed, key)
        requests.append(saved_models.predict_request(name, capture, saved.file, model.state, truth["x"][model.order],
                                                     inputs, probe_convolutions="CNN" in saved.what))
        asked.append(saved.file)
    if any(script.joins for script in scripts):
        order = saved_models.heldout_order("nist36", len(heldout["nist36"]["y"]), run_seed, key)
        x_joins = heldout["nist36"]["x"][order[:8]]
    for script in scripts:
        model = models[script.saved[0].file]
        if script.joins and model.state is not None and ("joins", model.saved.file) not in asked:
            requests.append(saved_models.trace_request(name, capture, model.saved.file, model.state, x_joins))
            asked.append(("joins", model.saved.file))
    answers = box.measure(requests, seed=run_seed, limits=limits, what=f"the models {name} saved") if requests else []
    measured = dict(zip(asked, answers))
    for file, model in models.items():
        model.answer = measured.get(file)
    joins = {k: v for k, v in measured.items() if isinstance(k, tuple)}
    # The traces came from a worker that ran the student's classes: claims, read together in a
    # second fresh worker, where no student Python runs (TorchScript only).
    reads = {}
    for key_, traced in joins.items():
        request = saved_models.scripted_joins_request(traced, models[key_[1]].state, x_joins)
        if request is not None:
            reads[key_] = request
        elif traced is not None and traced.ok:
            joins[key_] = dataclasses.replace(traced, ok=False, error="refused",
                                              message="the trace answer held no TorchScript archive of the model")
    if reads:
        joins.update(zip(reads, box.measure(list(reads.values()), seed=run_seed, limits=limits,
                                            what=f"the traced models of {name}")))
    return {**models, **joins}


@dataclass(frozen=True)
class Found:
    """Which file a question's checks run, and how it was chosen."""
    script: Script                 # SCRIPTS[qid] with the name of the file that is run
    note: str = ""                 # for the report: the file graded and why (empty: the stub tree's name)
    missing: str = ""              # why nothing was found (the run then fails saying so)
    notebook: str = ""             # the notebook whose code cells are run as the script
    apart: str = ""                # Q*.2.1: the file of the network from scratch, run on its own


def notebook_script(name: str, submission: Path) -> str:
    """The name the code of notebook `name` is run under in the sandbox's copy: one no file of the
    submission has, so that the notebook's own code is what runs (and what the report names)."""
    run, count = name + ".py", 1
    while (submission / run).exists() or (submission / run).is_symlink():
        count += 1
        run = f"{name}.{count}.py"
    return run


@pytest.fixture(scope="session")
def pytorch_scripts(submission, pytestconfig, rubric) -> dict:
    """question -> Found for the edition's PyTorch questions. The handout names no scripts, so
    the stub tree's name is taken when the submission has that file, else the file that
    graders.pipeline.discovery finds by name and content (or a TA's --map); the whole file is run."""
    from graders.pipeline import discovery
    path = pytestconfig.getoption("pytorch_map", None)
    parts = discovery.discover(submission, rubric.edition, discovery.load_map(path) if path else None)
    found = {}
    for qid in ALL:
        if qid not in parts or not rubric.resolve(qid):
            continue
        script, answer = SCRIPTS[qid], parts[qid]
        if (submission / script.name).is_file() and not answer.by_map:
            found[qid] = Found(script)
        elif not answer.parts:
            found[qid] = Found(script, missing=answer.reason)
        else:
            file = answer.parts[0].file
            run = notebook_script(file, submission) if file.lower().endswith(".ipynb") else file
            how = " (the whole file is run)" if answer.parts[0].label != file else ""
            left = [p.file for p in answer.parts[1:] if p.file != file]
            # the fine-tuned SqueezeNet and the network from scratch in two files: both are run
            apart = left[0] if len(script.saved) == 2 and len(left) == 1 and not left[0].lower().endswith(".ipynb") else ""
            if apart:
                how += f", and {apart} for the {script.saved[1].what}"
            elif left:
                how += f"; {', '.join(left)} is not run by this version: its model is not measured"
            found[qid] = Found(dataclasses.replace(script, name=run),
                               note=f"{qid} graded from {file}{how}: {answer.reason}",
                               notebook=file if run != file else "", apart=apart)
    # a file of its own answers one question: its curves need not name the model (Q7.1.5's
    # "skip" and "residual" tell apart two models plotted by one script)
    for qid, entry in found.items():
        if entry.note and sum(other.script.name == entry.script.name for other in found.values()) == 1:
            found[qid] = dataclasses.replace(entry, script=dataclasses.replace(entry.script, curve=""))
    return found


@pytest.fixture
def q6(qid, torch_run, torch_data, torch_sandbox, submission, run_seed, staff_key, rubric, pytorch_scripts,
       request) -> Q6Run:
    found = pytorch_scripts[qid]
    script = found.script
    if found.note:      # the report's notes say which file was graded as which question, and why
        request.node.user_properties.append((plugin.NOTE, found.note))
    if found.notebook:
        from graders.pipeline import discovery
        parts = discovery.discover(submission, rubric.edition)
        try:
            saved_models.write_fresh(Path(torch_sandbox.root) / "work" / "python", script.name,
                                     parts.script(found.notebook))
        except OSError as err:      # the student's processes made the name or the folder unusable
            raise Failure(f"the code of {found.notebook} could not be put in place to run ({err.strerror}): did an "
                          "earlier script of the submission replace files of its folder?") from None
    # every question of this edition that the same file serves is measured at once
    sharing_ids = [q for q, other in pytorch_scripts.items() if other.script.name == script.name]
    sharing = [pytorch_scripts[q].script for q in sharing_ids]
    # one file answering several questions gets each one's time (questions sharing a stub script, one)
    seconds = sum(rubric[q].script_seconds for q in dict(
        (SCRIPTS[q].name, q) for q in reversed(sharing_ids)).values())
    heldout = {s.heldout: torch_data.heldout(s.heldout) for other in sharing for s in other.saved}
    if any(other.joins for other in sharing):
        heldout.setdefault("nist36", torch_data.heldout("nist36"))

    def measuring(outcome, limits):
        return measure(torch_sandbox, submission, sharing, heldout, outcome, limits, run_seed, staff_key)

    most = len({s.file for other in sharing for s in other.saved}) + sum(bool(other.joins) for other in sharing)
    outcome, measured = torch_run(qid, script.name, [saved_models.models_request()], measuring, most,
                                  seconds=seconds)
    if found.missing:
        outcome = outcome if outcome.ok else dataclasses.replace(outcome, message=f"{found.missing} (the stub tree's name, "
                                                       f"{script.name}, is not in the submission either)")
    models = {s.file: measured[s.file] for s in script.saved if s.file in measured}
    runs = {}
    if found.apart:     # the network from scratch, from its own file's run
        alone = Script(found.apart, script.saved[1:])

        def measuring_alone(outcome, limits):
            return measure(torch_sandbox, submission, [alone], heldout, outcome, limits, run_seed, staff_key)
        other, measured_alone = torch_run(qid, alone.name, [saved_models.models_request()], measuring_alone, 1,
                                          seconds=rubric[qid].script_seconds)
        saved = script.saved[1]
        models.pop(saved.file, None)
        if saved.file in measured_alone:
            models[saved.file] = measured_alone[saved.file]
        runs[saved.file] = (alone.name, other)
    on_gpu = any(str(o.device).startswith("GPU") for o in (outcome, *(other for _, other in runs.values())))
    if on_gpu and rubric.gpu_tolerance:
        request.node.user_properties.append(("gpu_tolerance", rubric.gpu_tolerance))
    return Q6Run(script, outcome, models, heldout, measured.get(("joins", script.saved[0].file)),
                 measured=bool(outcome.after), runs=runs, tolerance=rubric.gpu_tolerance if on_gpu else 0.0)


# ---------------------------------------------------------------------------------------------
# what the run shows

def run_hint(message: str) -> str:
    missing = re.search(r"No module named '([\w.]+)'", message)
    if missing:
        return (f"{missing.group(1)} is not installed where the grader runs (torch, torchvision, numpy, scipy, "
                "scikit-image and matplotlib are): remove the import and what uses it (print(model) shows the layers "
                "torchsummary's summary would)")
    if "FileNotFoundError" in message:
        return ("read the data from '../data' as the handout does (the scripts run from python/ with the data "
                "in ../data, on any machine)")
    if "'NoneType' object" in message:
        return "a variable the script uses is still None: fill in every part marked 'your code here'"
    if re.search(r"URLError|urlopen|Name or service not known|Temporary failure in name resolution|HTTP", message):
        return ("the grader has no network: CIFAR10(root='../data', download=True) and squeezenet1_1(weights=...) "
                "are served offline, nothing else can be downloaded")
    return ""


@checks(*ALL)
def test_q6_script_finishes(qid, q6, question, record_property):
    """the script runs to its end on the course data, CPU only, within its time budget"""
    record_property("seconds", round(q6.outcome.elapsed, 1))
    record_property("output", messages.clip(q6.outcome.stdout or "", head=100, tail=100))
    try:
        check_outcome(q6.outcome, q6.script.name)
    except StudentError as err:
        if q6.outcome.error == "timeout":
            err.hint = (f"the budget is {question.script_seconds:g} s on one CPU thread: train fewer epochs or "
                        "a smaller model, and do not rely on a GPU")
        elif not err.hint:
            err.hint = run_hint(err.rationale)
        raise
    require_learned(q6, "running to its end")


def curves(figure_data: list):
    """(words, values) per plotted line: the figure's and axes' titles, the y label and the line's label."""
    for figure in figure_data:
        for axes in figure.get("axes", []):
            for line in axes.get("lines", []):
                words = " ".join(str(t) for t in (figure.get("title"), axes.get("title"), axes.get("ylabel"),
                                                  line.get("label")))
                yield words, [v for v in line.get("y", []) if isinstance(v, (int, float))]


def find_curve(figure_data: list, pattern, about: str = "") -> list | None:
    """The first curve whose words match the pattern (and, if given, name `about`)."""
    return next((values for words, values in curves(figure_data)
                 if pattern.search(words) and about.lower() in words.lower() and len(values) >= 2), None)


@checks(*ALL)
def test_q6_plots(qid, q6, pytestconfig, record_property):
    """the script plots its training loss and accuracy (plt.show())"""
    outcome = q6.outcome
    count = artifacts.save_figures(pytestconfig, record_property, q6.script.group, outcome.figures,
                                   dropped=outcome.figures_dropped)
    data = outcome.figure_data
    loss, accuracy = find_curve(data, _LOSS, q6.script.curve), find_curve(data, _ACCURACY, q6.script.curve)
    lines = [values for _, values in curves(data) if len(values) >= 2]
    record_property("curves", len(lines))
    if (loss is not None and accuracy is not None) or len(lines) >= 2:
        require_learned(q6, "plotting the training")
        return
    stopped = stopped_early(outcome, q6.script.name)
    raise Failure(f"{q6.script.name} showed {count} figure(s) with {len(lines)} curve(s) of two or more points{stopped}",
                  expected="the training loss and the training accuracy over the epochs, shown with plt.show()",
                  actual=f"{count} figure(s), {len(lines)} curve(s)",
                  hint="plot one value per epoch for the loss and for the accuracy (label the axes 'loss' and "
                       "'accuracy'), then call plt.show()")


def printed_losses(stdout: str) -> list[float]:
    """The loss of each printed line that says one (graders.checks.printed)."""
    return [value for _, value in printed.losses(stdout)]


@checks(*TRAINED)
def test_q6_loss_falls(qid, q6, question, record_property):
    """the training loss falls (read from the plotted loss curve, else from the printed losses), and the saved model that training made, measured by the grader, does better than chance"""
    values, source = find_curve(q6.outcome.figure_data, _LOSS, q6.script.curve), "plotted loss curve"
    if values is None:
        values, source = printed_losses(q6.outcome.stdout), "printed losses"
    record_property("losses", [round(v, 6) if np.isfinite(v) else str(v) for v in values[:200]])
    record_property("loss_source", source)
    if len(values) < 2:
        raise Failure(f"{q6.script.name} neither plotted a loss curve nor printed two or more losses"
                      + stopped_early(q6.outcome, q6.script.name),
                      expected="a loss value per epoch (a plot whose title or axis says 'loss', or lines "
                               "'epoch N loss X acc Y')", actual=f"{len(values)} loss value(s)",
                      hint="plot the training loss per epoch with a 'loss' label, and print it each epoch")
    if not any(values):
        raise Failure(f"every value of the {source} is 0: the training loop is not implemented yet"
                      + stopped_early(q6.outcome, q6.script.name),
                      hint="fill in the training loop marked 'your code here' (forward, loss, backward, step) "
                           "and add up each epoch's loss")
    first, last = values[0], values[-1]
    drop = question.threshold("loss_drop") + q6.tolerance
    if numerics.finite_number(first) is not None and first > 0 and numerics.at_most(last, drop * first):
        believed(q6, source, first, last)
        return
    raise Failure(f"the {source} went from {first:.6g} to {last:.6g}; training should bring it below {drop:g} x "
                  "the first value", expected=f"<= {drop * first:.6g}" if first > 0 else "a falling loss",
                  actual=f"{last:.6g}",
                  hint="each batch: optimizer.zero_grad(), loss.backward(), optimizer.step()" if np.isfinite(last)
                  else "the loss became NaN or inf: lower the learning rate")


def believed(q6: Q6Run, source: str, first: float, last: float) -> None:
    """A loss the script printed or plotted is its own report: it counts once the grader has
    measured the saved model and found that it learned (better than twice chance)."""
    saved = q6.script.saved[0]
    said = f"the {source} fell from {first:.6g} to {last:.6g}, but only the script says so"
    problem = saved_problem(q6, saved)
    if problem is not None:
        raise Failure(f"{said}: {problem.rationale}",
                      hint=f"save the trained {saved.what} ({saved_models.how_to_save(saved.file)}): the grader "
                           "believes a falling loss once it has measured the model that training made")
    best, chance = measured_accuracy(q6, saved)
    if numerics.at_least(best, 2 * chance):
        return
    raise Failure(f"{said}: the saved {saved.what} classifies {best:.1%} of the grader's held-out inputs "
                  f"(chance: {chance:.1%}), so these losses are not those of its training",
                  expected=f"a saved model better than {2 * chance:.1%}", actual=f"{best:.1%}",
                  hint="report the losses of the training that made the saved model")


# ---------------------------------------------------------------------------------------------
# the saved model, measured by the grader

def saved_problem(q6: Q6Run, saved: Saved) -> Failure | None:
    """Why the saved model cannot be measured, or None."""
    name, outcome = q6.runs.get(saved.file, (q6.script.name, q6.outcome))
    model = q6.models.get(saved.file)
    stopped = stopped_early(outcome, name)
    how = saved_models.how_to_save(saved.file)
    measured = bool(outcome.after) if saved.file in q6.runs else q6.measured
    if not measured or model is None:
        return Failure(f"{name} did not run far enough for its model to be measured{stopped}",
                       hint="see the check that the script finishes")
    if model.problem is not None:
        reason, message = model.problem.reason, model.problem.message
        if reason == "missing":
            left = "" if stopped else f", and left no {saved.what} for these inputs in its variables"
            return Failure(f"{name} did not save {saved.file}{left}{stopped}", expected=f"{how}, in python/",
                           actual="no such file after the run",
                           hint=f"after training, save the {saved.what}'s weights with {how}")
        if reason == "unchanged":
            return Failure(message, expected=f"{name} saves it ({how})", actual="an unchanged file")
        return Failure(message, hint=f"save the weights with {how}, from the model the script trained")
    answer = model.answer
    if answer is None:
        return Failure(f"the saved {saved.what} was not measured")
    if answer.error == "refused":
        return Failure(answer.message, hint=f"save the weights with {how}, from the model the script trained")
    if not answer.ok:
        return StudentError(f"the saved {saved.what} could not be run on the held-out inputs: {answer.message}",
                            traceback=answer.traceback, timeout=answer.error == "timeout",
                            hint="the grader loads the file into the script's own model and calls it in eval() mode")
    if not (isinstance(answer.value, dict) and isinstance(answer.value.get("model"), dict)):
        return Failure(f"the measuring worker's answer about {saved.file} was malformed: did the model's code "
                       "change the grader's own code?")
    if "CNN" in saved.what and not any(np.ndim(v) == 4 for v in model.state.values()):
        return Failure(f"the saved {saved.what} has no convolution: none of its {len(model.state)} tensors is a "
                       "convolution's kernel (4-D), so it is not the network the question asks for",
                       expected="at least one nn.Conv2d layer", actual="no 4-D tensor in the saved state",
                       hint="build the model from nn.Conv2d layers (with pooling), then a linear classifier")
    if "fully connected" in saved.what and any(np.ndim(v) == 4 for v in model.state.values()):
        return Failure(f"the saved {saved.what} holds a convolution's kernel (a 4-D tensor): it is not the fully "
                       "connected network the question asks for", expected="nn.Linear layers only",
                       actual="a 4-D tensor in the saved state",
                       hint="build the network of Q3 (1024 -> 64 -> 36) from nn.Linear layers")
    if "CNN" in saved.what:
        return convolutions_unused(q6, saved, answer.value)
    return None


def convolutions_unused(q6: Q6Run, saved: Saved, value: dict) -> Failure | None:
    """A Failure when the model's answers do not rest on its convolutions: with every kernel
    replaced by noise (torch_measure.without_convolutions) it still classifies the held-out inputs
    more than halfway from chance to its own accuracy. Judged here, from the predictions."""
    probe = value.get("without_convolutions")
    if not isinstance(probe, dict):
        return None
    if "failed" in probe:
        return Failure(f"the saved {saved.what} stops working when its convolution kernels are replaced by noise of "
                       f"their own shapes ({str(probe['failed'])[:200]}), so the grader cannot see that its answers "
                       f"rest on them: a network that computes with its kernels runs with any values of them",
                       expected="the same network run with other kernel values",
                       actual="an error", hint="do not make forward() depend on the values of the kernels it was saved with")
    y = q6.heldout[saved.heldout]["y"][q6.models[saved.file].order]
    noised = probe.get("predictions")
    predictions, _ = saved_models.plain_predictions(value, len(y))
    label = str(probe.get("preprocessing"))
    if not (label in predictions and isinstance(noised, np.ndarray) and noised.shape == y.shape
            and noised.dtype.kind in "iu"):
        return None
    chance = 1 / len(q6.heldout[saved.heldout]["classes"])
    accuracy, without = float(np.mean(predictions[label] == y)), float(np.mean(noised == y))
    if accuracy <= 2 * chance or without < chance + CONVOLUTIONS_SHARE * (accuracy - chance):
        return None
    return Failure(f"the saved {saved.what}'s convolutions do not carry its answers: with every convolution "
                   f"kernel replaced by noise it still classifies {without:.1%} of the grader's held-out inputs "
                   f"(with them: {accuracy:.1%}; chance: {chance:.1%}), so it is not the network the question asks for",
                   expected=f"below {chance + CONVOLUTIONS_SHARE * (accuracy - chance):.1%} without the convolutions",
                   actual=f"{without:.1%}",
                   hint="pass the input through the convolutions in forward(), then the linear classifier")


# the share of a CNN's accuracy above chance that may survive its kernels replaced by noise: a
# CNN falls to about chance, a fully connected network with a convolution beside it keeps it all
CONVOLUTIONS_SHARE = 0.5


def measured_or_skip(q6: Q6Run, saved: Saved) -> SavedModel:
    problem = saved_problem(q6, saved)
    if problem is not None:
        pytest.skip(f"no saved {saved.what} to measure: {problem.rationale}")
    return q6.models[saved.file]


def measured_accuracy(q6: Q6Run, saved: Saved) -> tuple[float, float]:
    """(the measured model's best held-out accuracy over the preprocessings, chance)."""
    _, _, accuracies = scored(q6, saved)
    return max(accuracies.values(), default=0.0), 1 / len(q6.heldout[saved.heldout]["classes"])


def require_learned(q6: Q6Run, what: str) -> None:
    """Fail `what` unless the grader measured the model the script trained (Q6.2.1: the
    fine-tuned one) and found it better than twice chance on the held-out inputs: running,
    plotting and saving count for a script that trained, and only a measurement shows that."""
    if not q6.script.saved:
        return
    saved = q6.script.saved[0]
    problem = saved_problem(q6, saved)
    if problem is not None:
        raise Failure(f"{what} counts for a script whose trained model the grader measured, and there is none "
                      f"to measure: {problem.rationale}", hint=problem.hint)
    _, predictions, accuracies = scored(q6, saved)
    best, chance = max(accuracies.values(), default=0.0), 1 / len(q6.heldout[saved.heldout]["classes"])
    if not numerics.at_least(best, 2 * chance):
        raise Failure(f"{what} counts for a script that trained its model, and the saved {saved.what} classifies "
                      f"{best:.1%} of the grader's held-out inputs (chance: {chance:.1%})"
                      + ("" if predictions else ": it classified none of them"),
                      expected=f"a model better than {2 * chance:.1%}", actual=f"{best:.1%}",
                      hint="check that the optimizer steps (zero_grad, backward, step) and that the saved model "
                           "is the trained one")


@checks(*TRAINED)
def test_q6_model_saved(qid, q6, record_property):
    """the model the script trained can be measured: its saved state_dict (or, with no file saved or one the grader does not read, such as a whole pickled model, the model left in a variable of the script) loads into the script's own model (strict)"""
    saved = q6.script.saved[0]
    problem = saved_problem(q6, saved)
    if problem is not None:
        raise problem
    if q6.models[saved.file].source:
        record_property("measured", q6.models[saved.file].source)
    model = q6.models[saved.file].answer.value["model"]
    parameters = numerics.finite_number(model.get("parameters"))
    record_property("model", f"{str(model.get('name'))[:100]}: {str(model.get('type'))[:100]}, "
                             f"{parameters and int(parameters)} parameters")
    require_learned(q6, "saving the model")


def scored(q6: Q6Run, saved: Saved) -> tuple[np.ndarray, dict, dict]:
    """(labels in the order sent, {preprocessing: predictions}, {preprocessing: accuracy}) of a
    measured model: the inputs went in a secret order, so the answers are scored against the
    labels in that order."""
    model = q6.models[saved.file]
    y = q6.heldout[saved.heldout]["y"][model.order]
    predictions, left = saved_models.plain_predictions(model.answer.value, len(y))
    model.left = left
    return y, predictions, {name: float(np.mean(p == y)) for name, p in predictions.items()}


def judge_accuracy(q6: Q6Run, saved: Saved, question, record_property):
    model = measured_or_skip(q6, saved)
    truth = q6.heldout[saved.heldout]
    y, predictions, accuracies = scored(q6, saved)
    what = f"{len(y)} held-out {HELDOUT_NAMES[saved.heldout]}"
    if not accuracies:
        left = model.left
        problems = model.answer.value.get("problems")
        problems = {**(problems if isinstance(problems, dict) else {}), **left}
        tried = "; ".join(f"{str(k)[:100]}: {str(v)[:300]}" for k, v in list(problems.items())[:6])
        raise Failure(f"the saved {saved.what} could not classify the grader's {what} under any preprocessing",
                      expected="class scores of shape (N, classes)", actual=tried or "no predictions",
                      hint="the grader feeds the inputs through each transform your script made (its Compose "
                           "objects, its datasets' transform) and plain ToTensor/Normalize: keep the test "
                           "transform in a variable")
    best = max(accuracies, key=accuracies.get)
    accuracy = accuracies[best]
    threshold = question.threshold(saved.threshold) - q6.tolerance
    record_property("heldout_accuracy", round(accuracy, 4))
    record_property("preprocessing", best)
    record_property("accuracies", {k: round(v, 4) for k, v in accuracies.items()})
    labels = [str(c) for c in truth["classes"]]
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    predicted = predictions[best]
    inside = (predicted >= 0) & (predicted < len(labels))
    np.add.at(matrix, (y[inside], predicted[inside]), 1)
    record_property("confusion_matrix", matrix.tolist())
    record_property("confusion_labels", "".join(labels) if all(len(c) == 1 for c in labels) else labels)
    record_property("confusion_set", "the grader's held-out set")
    if numerics.at_least(accuracy, threshold):
        return
    chance = 1 / len(labels)
    hint = "train longer or tune the learning rate; check that the model is in train() mode while training"
    if accuracy <= 1.5 * chance:
        hint = ("that is about chance: check that the optimizer steps (zero_grad, backward, step), that the labels "
                "are class indices, and that the preprocessing at test time matches training's")
    raise Failure(f"the saved {saved.what} classifies {accuracy:.1%} of the grader's {what} correctly "
                  f"(best preprocessing: {best}); at least {threshold:.0%} is needed (chance: {chance:.0%})",
                  expected=f">= {threshold:.0%}", actual=f"{accuracy:.1%}", hint=hint)


@checks(*TRAINED, weight=2)
def test_q6_heldout_accuracy(qid, q6, question, record_property):
    """the saved model, run by the grader on held-out data the script never saw, reaches the accuracy threshold"""
    judge_accuracy(q6, q6.script.saved[0], question, record_property)


# ---------------------------------------------------------------------------------------------
# Q6.2.1 fine-tuning SqueezeNet

def finetuned_state(q6: Q6Run) -> dict:
    """The fine-tuned file's tensors, keyed as torchvision's squeezenet1_1 names them."""
    problem = saved_problem(q6, q6.script.saved[0])
    if problem is not None:
        raise problem
    state = q6.models[q6.script.state].state        # read on this side, tensors only
    prefix = squeezenet_prefix(state)
    if prefix is None or prefix + "features.0.weight" not in state:
        raise Failure(f"{q6.script.state} holds no SqueezeNet 1.1 (no features.0.weight and classifier.1.weight)",
                      expected="the state_dict of torchvision.models.squeezenet1_1 with a new classifier[1]",
                      actual=", ".join(list(state)[:5]) or "no tensors",
                      hint="model = squeezenet1_1(weights=SqueezeNet1_1_Weights.IMAGENET1K_V1); replace "
                           "model.classifier[1]; save model.state_dict()")
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def squeezenet_prefix(state: dict) -> str | None:
    """What the SqueezeNet's own names are prefixed with in a state ("", "module.", "model." ...)."""
    return next((k[: -len(CLASSIFIER_KEY)] for k in state if k.endswith(CLASSIFIER_KEY)), None)


@checks("Q6.2.1", "Q7.2.1")
def test_q6_2_1_classifier_has_17_outputs(qid, q6):
    """the fine-tuned SqueezeNet's classifier[1] outputs the 17 flower classes"""
    weight = finetuned_state(q6)[CLASSIFIER_KEY]
    if weight.shape[0] == FLOWER_CLASSES:
        require_learned(q6, "a classifier of 17 outputs")
        return
    raise Failure(f"the fine-tuned SqueezeNet's classifier[1] has {weight.shape[0]} outputs",
                  expected=f"{FLOWER_CLASSES} (one per flower class)", actual=str(weight.shape[0]),
                  hint="model.classifier[1] = nn.Conv2d(512, 17, kernel_size=1)")


@checks("Q6.2.1", "Q7.2.1")
def test_q6_2_1_only_classifier_trained(qid, q6, torch_data, record_property):
    """fine-tuning changed the classifier only: every features layer equals the pretrained weights"""
    state = finetuned_state(q6)
    whole_pretrained = saved_models.tensors_file(torch_data.torch_home / PRETRAINED)
    pretrained = {k: v for k, v in whole_pretrained.items() if k.startswith("features.")}
    missing = [k for k in pretrained if k not in state or state[k].shape != pretrained[k].shape]
    changed = [k for k in pretrained if k not in missing
               and not np.allclose(state[k], pretrained[k], rtol=0, atol=1e-6)]
    record_property("changed_layers", changed[:50])
    whole = q6.models[q6.script.state].state
    prefix = squeezenet_prefix(whole)
    # SqueezeNet's own tensors (classifier.1 with 17 outputs); anything else, under classifier.
    # too, could be a second network the forward pass answers with
    beside = {k: v for k, v in whole.items() if k[len(prefix or ""):] not in whole_pretrained}
    numbers = sum(np.size(v) for v in beside.values())
    if numbers > BESIDE:
        raise Failure(f"besides SqueezeNet's features and classifier, the fine-tuned model holds "
                      f"{numbers} numbers ({', '.join(list(beside)[:4])}"
                      f"{', ...' if len(beside) > 4 else ''}): enough for a second, trained copy of the features",
                      expected=f"at most {BESIDE} numbers beside them (a normalisation's mean and spread)",
                      actual=f"{len(beside)} tensors",
                      hint="fine-tune only classifier[1] of torchvision's squeezenet1_1; keep no other layers")
    shadows = shadow_features(whole, pretrained)
    if shadows:
        raise Failure(f"besides its features, the fine-tuned model holds {len(shadows)} more kernels shaped like "
                      f"SqueezeNet's feature layers, changed from the pretrained ones ({', '.join(shadows[:4])}"
                      f"{', ...' if len(shadows) > 4 else ''}): a second, trained copy of the features",
                      expected="the features only in model.features, unchanged", actual=f"{len(shadows)} changed copies",
                      hint="fine-tune only classifier[1] of torchvision's squeezenet1_1; keep no other copy of its layers")
    if not missing and not changed:
        # features the script never touched are unchanged whether or not it fine-tuned anything
        require_learned(q6, "keeping the pretrained features")
        return
    if missing:
        raise Failure(f"the fine-tuned model lacks SqueezeNet 1.1's layers {', '.join(missing[:5])}",
                      hint="start from torchvision's squeezenet1_1 with its pretrained weights")
    raise Failure(f"{len(changed)} of the {len(pretrained)} pretrained feature tensors changed "
                  f"({', '.join(changed[:4])}{', ...' if len(changed) > 4 else ''})",
                  expected="features unchanged (only classifier[1] trained)", actual=f"{len(changed)} changed",
                  hint="start from the pretrained weights (weights=SqueezeNet1_1_Weights.IMAGENET1K_V1), set "
                       "requires_grad = False on model.features' parameters and give the optimizer only "
                       "model.classifier's")


# numbers a fine-tuned model may hold beside SqueezeNet's own (buffers of a normalisation, a
# temperature): its smallest feature layer alone has 1,792
BESIDE = 1000

# how alike two tensors of one shape are (the cosine of their centred values) when one comes from
# the other: fine-tuning keeps about 0.99; tensors initialised apart stay within a few hundredths of 0
ALIKE = 0.9
# how close the sorted values of two tensors are (relative) when one is the other's values in
# another order: a copy is within rounding; two draws of one initialisation differ by a percent
PERMUTED = 1e-3


def alike(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    if a.size and a.size == b.size and np.linalg.norm(np.sort(a) - np.sort(b)) <= PERMUTED * np.linalg.norm(b):
        return True         # the same values in another order (channels permuted): a copy
    a, b = a - a.mean(), b - b.mean()
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    return bool(norms > 0 and a @ b / norms > ALIKE) or bool(np.array_equal(a, b) and a.size)


def shadow_features(state: dict, pretrained: dict) -> list[str]:
    """The tensors outside model.features shaped like a pretrained feature kernel and changed
    from every one of that shape, when there are two or more: one may be a layer of the student's
    own head that happens to have such a shape; more is a copy of the features that the forward
    pass may use while model.features stays frozen."""
    kernels = [v for v in pretrained.values() if np.ndim(v) == 4]
    features = f"{squeezenet_prefix(state)}features."
    found = [k for k, v in state.items() if not k.startswith(features) and np.ndim(v) == 4
             and any(v.shape == p.shape for p in kernels)
             and not any(v.shape == p.shape and np.allclose(v, p, rtol=0, atol=1e-6) for p in kernels)]
    return found if len(found) >= 2 else []


@checks("Q6.2.1", "Q7.2.1", weight=2)
def test_q6_2_1_finetuned_accuracy(qid, q6, question, record_property):
    """the fine-tuned SqueezeNet, run by the grader on held-out flowers, reaches the accuracy threshold"""
    judge_accuracy(q6, q6.script.saved[0], question, record_property)


@checks("Q6.2.1", "Q7.2.1", weight=2)
def test_q6_2_1_scratch_accuracy(qid, q6, torch_data, question, record_property):
    """the CNN trained from scratch is saved, holds none of the pretrained weights, and on held-out flowers reaches its accuracy threshold"""
    saved = q6.script.saved[1]
    problem = saved_problem(q6, saved)
    if problem is not None:
        raise problem
    pretrained = saved_models.tensors_file(torch_data.torch_home / PRETRAINED)
    kernels = [v for v in pretrained.values() if np.ndim(v) >= 2]
    borrowed = [k for k, v in q6.models[saved.file].state.items() if np.ndim(v) >= 2 and any(
        v.shape == p.shape and alike(v, p) for p in kernels)]
    if borrowed:
        raise Failure(f"the {saved.what} holds {len(borrowed)} of the pretrained SqueezeNet's weight tensors, "
                      f"as they were or fine-tuned from them ({', '.join(borrowed[:3])}"
                      f"{', ...' if len(borrowed) > 3 else ''}): it was not trained from scratch",
                      expected="weights initialised at random and trained on the flowers",
                      actual=f"{len(borrowed)} pretrained tensors",
                      hint="build the network from scratch (your own layers, or squeezenet1_1(weights=None)) and "
                           "train all of it")
    judge_accuracy(q6, saved, question, record_property)


# ---------------------------------------------------------------------------------------------
# 2019: Q7.1.4 reads the photos with the EMNIST network, Q7.1.5 has skip and residual connections

@checks("Q7.1.4", weight=2)
def test_q7_1_4_reads_the_photos(qid, q6, question, record_property, pytestconfig):
    """the EMNIST network reads the characters findLetters finds in the photos (edit distance per line, as in Q4.4)"""
    from graders.suites._photos import find_photos
    photos = find_photos(pytestconfig)
    if not photos.truth:
        pytest.skip("no photo of the data has ground truth, so the text cannot be scored here")
    scores = photos.scores(q6.outcome.stdout, q6.script.name)
    record_property("per_photo", {name: round(s.accuracy, 4) for name, s in scores.items()})
    # the course photos' text is public: beside a course key's staff pages, only those count
    scores = {name: s for name, s in scores.items() if name in photos.counted()}
    characters = sum(s.characters for s in scores.values())
    accuracy = sum(s.accuracy * s.characters for s in scores.values()) / max(characters, 1)
    record_property("character_accuracy", round(accuracy, 4))
    threshold = question.threshold("character_accuracy") - q6.tolerance
    if accuracy >= threshold:
        return
    raise Failure(f"{q6.script.name} read {accuracy:.0%} of the photos' {characters} characters right"
                  + stopped_early(q6.outcome, q6.script.name),
                  expected=f">= {threshold:.0%}", actual=f"{accuracy:.1%}",
                  hint="print each photo's text line by line; make every crop look like EMNIST's images (white "
                       "on black, the character in a 20x20 box centred in 28x28, transposed as the files store "
                       "them) before the network reads it")


JOINS = {"cat": ("concatenation", "skip connection: an earlier layer's output concatenated with a later one's "
                 "(torch.cat([a, g(a)], dim=1)), as in DenseNet or U-Net"),
         "add": ("addition", "residual connection: a block's input added to its output (x + F(x)), as in ResNet")}


@checks("Q7.1.5a", "Q7.1.5b")
def test_q7_1_5_connections(qid, q6, record_property):
    """the saved model's forward pass has its connection: a concatenation bypassing a layer (skip) or an addition x + F(x) (residual)"""
    saved, (kind, meaning) = q6.script.saved[0], JOINS[q6.script.joins]
    problem = saved_problem(q6, saved)
    if problem is not None:
        raise problem
    answer = q6.joins
    if answer is None or not answer.ok or not isinstance(answer.value, dict):
        raise Failure(f"the connections of the saved {saved.what} could not be read: "
                      f"{getattr(answer, 'message', None) or 'no answer'}")
    weights = answer.value.get("weights")
    saved_n = weights.get("saved") if isinstance(weights, dict) else None
    if not (isinstance(saved_n, int) and saved_n > 0 and weights.get("carried") == saved_n):
        raise Failure(f"the traced model is not the saved {saved.what}: it carries "
                      f"{weights.get('carried') if isinstance(weights, dict) else 'none'} of the "
                      f"{saved_n if isinstance(saved_n, int) else '?'} layer weights saved",
                      hint="the connections are read from the model with the saved weights, traced by torch.jit.trace")
    classes = len(q6.heldout[saved.heldout]["classes"])
    if weights.get("extra") != 0 or answer.value.get("output") != [4, classes]:
        raise Failure(f"the traced model is not the saved {saved.what} alone: besides its weights it carries "
                      f"{weights.get('extra')} layer(s) of its own, and gives outputs of shape "
                      f"{str(answer.value.get('output'))[:40]} for 4 inputs (the saved model: 4 x {classes})",
                      hint="the connections are read from the saved model's own forward pass; trace nothing else")
    joins = answer.value.get("joins")
    joins = [j for j in joins if isinstance(j, dict)] if isinstance(joins, list) else []
    ops = ("Cat", "Stack") if q6.script.joins == "cat" else ("Add",)
    found = [j for j in joins if str(j.get("op", "")).startswith(ops)
             and isinstance(j.get("layers_bypassed"), int) and j["layers_bypassed"] >= 1]
    record_property("joins", joins[:20])
    if found:
        return
    raise Failure(f"the forward pass of the saved {saved.what} has no {kind} that bypasses a layer",
                  expected=f"a {meaning}", actual=f"{len(joins)} addition(s) or concatenation(s), none joining a "
                  "layer's input with its output" if joins else "no addition or concatenation",
                  hint="the grader follows the autograd graph of one forward pass: the connection must be in the "
                       "model's forward(), between tensors of the same pass")
