"""Fixtures of the grading suites: the submission, its sandbox, its modules, seeds, the rubric.

Student code never runs in this process: every call goes through graders.sandbox.sandbox.Sandbox and
comes back as plain data (an Outcome). `StudentModule.value` turns an Outcome that is not a
usable value into the typed failure the student reads (not implemented yet, raised, timed out).
Checks that need a module which does not import are skipped ("nn.py did not import"), so one
broken import is one clear failure (the check test_nn_imports), not twenty.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from graders.checks import plugin
from graders.checks import static
from graders.checks.student_module import StudentModule, call_limits, import_failure
from graders.suites._sandboxes import (course_data_dirs, given_files, grading_key, open_sandbox,
                                         record_sandbox)

@pytest.fixture(scope="session")
def submission(pytestconfig) -> Path:
    """The submission's python/ folder."""
    option = pytestconfig.getoption("submission")
    if not option:
        pytest.skip("no --submission given")
    python_dir = static.python_folder(Path(option))
    if not python_dir.is_dir():
        raise pytest.UsageError(f"--submission {option}: no such folder")
    return python_dir


@pytest.fixture(scope="session")
def rubric(pytestconfig, submission):
    # the plugin is active whenever a submission is given
    return pytestconfig.stash[plugin.STATE].rubric


@pytest.fixture
def question(request, rubric):
    """The rubric question of the running check (its thresholds and time budgets)."""
    return rubric[request.node.get_closest_marker("rubric").args[0]]


@pytest.fixture(scope="session")
def staff_key(pytestconfig) -> bytes | None:
    return grading_key(pytestconfig)


@pytest.fixture(scope="session")
def run_seed(pytestconfig, submission, staff_key) -> int:
    """Seed of the checks' random inputs: fixed per submission (grading twice gives the same
    results) unless --grade-seed says otherwise, and different across submissions, so answers
    hard-coded for one set of inputs do not carry over; under staff grading a keyed hash of the
    submission, which no student can reproduce offline (graders.checks.secret.run_seed)."""
    given = pytestconfig.getoption("grade_seed")
    if given is not None:
        return given
    from graders.checks import secret
    return secret.run_seed(staff_key, submission)


@pytest.fixture
def rng(request, run_seed) -> np.random.Generator:
    """Fresh inputs for one check, independent of which checks run and in which order."""
    # keyed by file and test name, not nodeid, which depends on the rootdir
    key = f"{request.node.path.name}::{request.node.name}"
    return np.random.default_rng([run_seed, zlib.crc32(key.encode())])


@pytest.fixture(scope="session")
def _sandbox(submission):
    box = open_sandbox(submission, spare=True)
    yield box
    box.close()


@pytest.fixture
def sandbox(_sandbox, request):
    """The submission's sandbox without course data (unit checks of nn.py and friends)."""
    record_sandbox(request, _sandbox)
    return _sandbox


@pytest.fixture(scope="session")
def _data_sandbox(submission, pytestconfig, rubric, staff_key):
    data, images = course_data_dirs(pytestconfig.getoption("data_dir"), rubric.nist36_layout(), staff_key)
    box = open_sandbox(submission, data, images)
    yield box
    box.close()


@pytest.fixture
def data_sandbox(_data_sandbox, request):
    """The submission's sandbox with the course data at ../data and ../images."""
    record_sandbox(request, _data_sandbox)
    return _data_sandbox


@pytest.fixture(scope="session")
def nn_import(_sandbox, rubric):
    """None when nn.py imports in the sandbox, else the Outcome of the failed import."""
    return import_failure(_sandbox, "nn", rubric["Static"].call_seconds)


@pytest.fixture
def nn(sandbox, nn_import, question):
    """The submission's nn.py (checks using it are skipped when it does not import)."""
    if nn_import is not None:
        pytest.skip("nn.py did not import")
    return StudentModule(sandbox, "nn", call_limits(sandbox, question.call_seconds))


# --- training runs (Q3.1, Q4.4, Q5.x): each script runs at most once per grading ------------
# Checks reading a run belong to its xdist group ("q3", "q5"), so -n 2 trains both in parallel
# and each trains once. run_q3 runs in the data sandbox, so q3_weights.pickle stays in its work
# tree for run_q4 (Q4.4) afterwards.

@pytest.fixture(scope="session")
def q3_run(_data_sandbox, rubric, run_seed):
    """run_q3.py run once in the data sandbox, with the run's seed: a graders.checks.training_runs.TrainingRun
    (outcome = the ScriptOutcome; weights = q3_weights.pickle through the restricted loader, or
    None and `problem` = the failure saying why)."""
    from graders.checks import training_runs
    outcome = _data_sandbox.run_script(
        "run_q3.py", globals=("max_iters", "hidden_size", "valid_acc", "params"), files=(training_runs.WEIGHTS_FILE,),
        seed=run_seed, limits=call_limits(_data_sandbox, rubric["Q3.1"].script_seconds))
    return training_runs.load_q3_run(outcome)


@pytest.fixture(scope="session")
def q5_run(_data_sandbox, rubric, run_seed):
    """run_q5.py run once in the data sandbox: a TrainingRun whose weights are its final params."""
    from graders.checks import training_runs
    outcome = _data_sandbox.run_script(
        "run_q5.py", globals=("params", "max_iters", "batch_size", training_runs.SEEN),
        files=(), seed=run_seed, limits=call_limits(_data_sandbox, rubric["Q5.2"].script_seconds))
    return training_runs.load_q5_run(outcome)


@pytest.fixture(scope="session")
def course_data(pytestconfig, rubric, staff_key):
    """The NIST36 splits the grader evaluates returned weights on (graders.checks.evaluation.Splits):
    the set the edition's scripts train on, and the grader-only split (`grader`) that verdicts
    are measured on, which the sandbox never mounts."""
    from fixtures import cache
    from graders.checks import evaluation
    data, _ = course_data_dirs(pytestconfig.getoption("data_dir"), rubric.nist36_layout(), staff_key)
    return evaluation.load_splits(data, rubric.data["nist36"], cache.grader_split_path(data))


SUITES = Path(__file__).resolve().parent


def pytest_collect_file(file_path, parent):
    """Collect every module of this folder (q2_network.py, static_checks.py, ...), whatever
    python_files says; a path given on the command line is collected by pytest itself."""
    if (file_path.suffix == ".py" and file_path.parent == SUITES and file_path.name != "conftest.py"
            and not file_path.name.startswith("_") and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


# --- PyTorch (Q6): one torch sandbox per grading, each script run once --------------------
# The scripts read the torch profile's data at ../data (or the course's, --data-dir) and
# TORCH_HOME holds the pretrained SqueezeNet; the held-out sets and their labels (truth/) stay
# on this side. Checks of one script share its xdist group, so -n 2 runs two scripts at once.

# torch's import alone is about 0.8 GB resident, the reference's run_q6_2_1.py peaks at 1.0 GB;
# a student training all of SqueezeNet at 224 px with large batches needs a few GB more.
TORCH_MEMORY_MB = 6144


@dataclass(frozen=True)
class TorchData:
    data_dir: Path
    torch_home: Path
    truth_dir: Path
    standins: dict            # item -> what stands in for it (empty: the course's own data)
    images_dir: Path | None = None    # the photos at ../images (2019's Q7.1.4 reads them)

    def heldout(self, name: str) -> dict:
        """truth/heldout_<name>.npz: x (inputs), y (labels), classes."""
        with np.load(self.truth_dir / f"heldout_{name}.npz", allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="session")
def torch_data(pytestconfig, rubric) -> TorchData:
    """Where Q6 runs: the course's data when --data-dir holds it (with its own torch_home/ and
    truth/ beside data/, when given), else the grader's torch profile of stand-ins. Under staff
    grading the synthetic held-out sets are drawn from the course key (fixtures.torchdata.
    staff_heldout): the public ones can be drawn by anyone holding the handout."""
    import importlib.util
    missing = [m for m in ("torch", "torchvision") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed where "
                    "the grader runs, so the PyTorch questions cannot be graded here: `tox -e pytorch` "
                    "grades them (or pip install torch==2.13.0 torchvision==0.28.0)")
    from fixtures import cache
    profile = cache.build_torch(log=lambda *a: None, nist_layout=rubric.nist36_layout())
    option = pytestconfig.getoption("data_dir")
    key = grading_key(pytestconfig)
    data, images = course_data_dirs(option, rubric.nist36_layout(), key)
    if not option:
        truth = profile.truth_dir
        if key:
            from fixtures import torchdata
            truth = torchdata.staff_heldout(key, log=lambda *a: None)
        return TorchData(profile.data_dir, profile.torch_home, truth, profile.standins, images)
    own = {name: data.parent / name for name in ("torch_home", "truth") if (data.parent / name).is_dir()}
    if key and "truth" not in own:
        from fixtures import torchdata
        own["truth"] = torchdata.staff_heldout(key, log=lambda *a: None)
    standins = {}
    if "torch_home" not in own:
        standins["squeezenet1_1"] = profile.standins["squeezenet1_1"]
    if "truth" not in own:
        standins["heldout"] = "held-out sets: the grader's synthetic ones (no truth/ beside the course's data/)"
    return TorchData(data, own.get("torch_home", profile.torch_home), own.get("truth", profile.truth_dir),
                     standins, images)


@pytest.fixture(scope="session")
def _torch_sandbox(submission, torch_data):
    from graders.sandbox.sandbox import Limits, Sandbox
    # gpus: on a machine with NVIDIA GPUs each script leases one (graders.sandbox.gpus); else the CPU, as always
    box = Sandbox(submission, torch_data.data_dir, torch_data.images_dir, torch_home=torch_data.torch_home,
                  repairs=plugin.sandbox_repairs(), gpus=True,
                  given_files=given_files(), limits=Limits(memory_mb=TORCH_MEMORY_MB))
    yield box
    box.close()


@pytest.fixture
def torch_sandbox(_torch_sandbox, torch_data, request):
    """The submission's torch sandbox; the check's report notes the stand-ins it ran on."""
    record_sandbox(request, _torch_sandbox)
    if torch_data.standins:
        request.node.user_properties.append((plugin.NOTE, "The PyTorch questions ran on the grader's "
                                             "stand-ins, so accuracies are not those of the real datasets: "
                                             + "; ".join(torch_data.standins.values())))
    return _torch_sandbox


@pytest.fixture(scope="session")
def _torch_runs():
    return {}


@pytest.fixture
def torch_run(torch_sandbox, _torch_runs, rubric, run_seed, request):
    """run(question, script, after, measure) -> (ScriptOutcome, measured): the script run once
    per grading in the torch sandbox (within the question's script_seconds), its worker
    answering `after` (what the script left: graders.checks.saved_models.models_request); then, once
    that worker has ended, measured = measure(outcome, limits) (a fresh measuring worker, see
    graders.checks.saved_models), each request within the question's call_seconds. measuring: how
    many requests measure may make at most; its worker then starts while the script runs."""
    def run(question: str, script: str, after: list, measure=None, measuring: int = 0, seconds=None):
        if script not in _torch_runs:
            q = rubric[question]
            limits = call_limits(torch_sandbox, q.call_seconds)
            if measure and measuring:
                torch_sandbox.prepare_measure(measuring, limits)
            outcome = torch_sandbox.run_script(
                script, globals=(), files=(), written=("*.pt", "*.pth"), seed=run_seed, after=after,
                limits=call_limits(torch_sandbox, seconds or q.script_seconds), after_limits=limits)
            _torch_runs[script] = (outcome, measure(outcome, limits) if measure else None)
        outcome = _torch_runs[script][0]
        if outcome.device:
            request.node.user_properties.append((plugin.DEVICE, (str(script), outcome.device)))
        return _torch_runs[script]
    return run
