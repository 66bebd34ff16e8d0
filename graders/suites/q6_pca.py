"""Q6 of the 2019 edition: PCA as a baseline for the autoencoder (run_q6.py).

The handout fixes no names: it asks for the SVD of the training data, a projection onto the
first 32 principal components, reconstructions of the test images and their PSNR. So run_q6.py
runs once (in the data sandbox, seeded) and, while its variables still live, the worker sends
back those that are numeric arrays shaped as a projection (1024x32, its transpose, or the
1024x1024 projector) or as the test set's reconstructions; the script's output gives its PSNR.
Verdicts come from the grader's own PCA of the training data it holds (centred or not, as the
student chose), principal angles between subspaces, and scikit-image's PSNR.
"""
from __future__ import annotations

import re
from pathlib import Path
from dataclasses import dataclass, field

import numpy as np
import pytest

from graders.checks import evaluation
from graders.results import messages
from graders.checks import numerics
from graders.checks.static import PCA_SCRIPT as SCRIPT, pca_script
from graders.checks.artifacts import save_figures
from graders.checks.student_module import call_limits, check_outcome
from graders.results.messages import Failure, Missing, StudentError
from graders.sandbox.sandbox import arrays_request

pytestmark = pytest.mark.xdist_group("q6_pca")

COMPONENTS = 32
DIMS = 1024
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Projection:
    """The student's best candidate for the projection, seen as a subspace."""
    name: str
    shape: tuple
    basis: np.ndarray          # orthonormal (1024, rank)
    rank: int
    cosine: float              # against the nearer of the grader's two PCAs
    variant: str               # "centred" or "uncentred": which PCA it is nearer


@dataclass
class PcaRun:
    outcome: object                                   # ScriptOutcome
    rubric: object                                    # the edition's, for its data hint
    script: str = SCRIPT                              # the file that holds the PCA (pca_script)
    arrays: dict = field(default_factory=dict)        # the student's arrays of the asked shapes
    refused: dict = field(default_factory=dict)       # name -> why it was not measured (NaN, complex...)
    problem: str = ""                                 # why there are no arrays
    found: list | None = None                         # candidates(), once per grading


@pytest.fixture(scope="session")
def pca_truth(course_data) -> dict:
    """The grader's own PCAs of the training set (graders.checks.evaluation.principal_subspaces)."""
    return evaluation.principal_subspaces(course_data.train[0], COMPONENTS)


MAX_ARRAYS = 8


@pytest.fixture(scope="session")
def pca_run(_data_sandbox, submission, rubric, run_seed, course_data) -> PcaRun:
    n_test = course_data.test[0].shape[0]
    q = rubric["Q6.1"]
    script = pca_script(Path(submission))
    # the PCA written after the autoencoder runs with its training
    seconds = max(q.script_seconds, rubric["Q5.2"].script_seconds) if script == "run_q5.py" else q.script_seconds
    outcome = _data_sandbox.run_script(
        script, globals=(), files=(), seed=run_seed,
        after=[arrays_request([(DIMS, COMPONENTS), (COMPONENTS, DIMS), (DIMS, DIMS), (n_test, DIMS)])],
        limits=call_limits(_data_sandbox, seconds), after_limits=call_limits(_data_sandbox, q.call_seconds))
    run = PcaRun(outcome, rubric, script)
    answer = outcome.after[0] if outcome.after else None
    if answer is not None and answer.ok and isinstance(answer.value, dict):
        # only finite real numbers are measured: NaN, infinity or complex entries are named instead
        for k, v in answer.value.items():
            if numerics.real_array(v) is not None and np.ndim(v) == 2:
                run.arrays[k] = numerics.real_array(v)
            elif isinstance(v, np.ndarray):
                run.refused[k] = f"it holds {numerics.defect(v)}"
        keep_measurable(run)
    else:
        run.problem = (answer.message if answer is not None else "") or "the script's variables could not be read"
    return run


def keep_measurable(run: PcaRun) -> None:
    """Each array costs the grading process SVDs: keep a projection's shapes first, then the
    reconstructions, then V^T-sized ones, and no more than MAX_ARRAYS in all (the others are
    named as not measured)."""
    ranked = sorted(run.arrays, key=lambda k: (run.arrays[k].shape[0] == run.arrays[k].shape[1],
                                               run.arrays[k].shape[0] not in (DIMS, COMPONENTS)))
    for k in ranked[MAX_ARRAYS:]:
        run.refused[k] = f"the grader measures no more than {MAX_ARRAYS} arrays of these shapes"
        del run.arrays[k]


def require_run(pca_run: PcaRun, rubric) -> None:
    try:
        check_outcome(pca_run.outcome, pca_run.script)
    except StudentError as err:
        if not err.hint and "FileNotFoundError" in err.rationale:
            err.hint = rubric.data_hint(err.rationale + err.traceback)
        raise


def candidates(pca_run: PcaRun, truth: dict) -> list[Projection]:
    """Every array shaped as a projection, as a subspace, best first (rank 32, then nearest);
    where none has rank 32, also the subspace of the script's own reconstructions of the test
    set (a script that projects inline, x @ Vt[:32].T @ Vt[:32], keeps no 1024x32 matrix). Pixels
    in the stored order or in row order (a script that untransposed the images first)."""
    found = []
    for name, array in pca_run.arrays.items():
        if array.shape not in ((DIMS, COMPONENTS), (COMPONENTS, DIMS), (DIMS, DIMS)):
            continue
        found.append(as_projection(name, array.shape, array.T if array.shape == (COMPONENTS, DIMS) else array, truth))
    if not any(p.rank == COMPONENTS for p in found):
        found += [p for name, array in pca_run.arrays.items() if array.shape[1] == DIMS
                  and array.shape[0] not in (DIMS, COMPONENTS)
                  for p in [reconstructions_subspace(name, array, truth)] if p is not None]
    # a script's full V^T (1024x1024) is shaped like a projector too: a 1024x32 matrix comes first
    return sorted(found, key=lambda p: (p.rank != COMPONENTS, p.shape == (DIMS, DIMS), -p.cosine))


def as_projection(name: str, shape: tuple, columns: np.ndarray, truth: dict, rank: int | None = None) -> Projection:
    """The span of a (1024, r) matrix's columns, compared with the grader's PCAs in the stored
    pixel order and in row order (then brought back to the stored order)."""
    basis, found_rank = evaluation.column_space(columns)
    best = None
    for order, where in ((None, ""), (evaluation.ROW_ORDER, ", pixels in row order")):
        b = basis if order is None else basis[order]
        variant, cosine = max(((v, evaluation.subspace_cosine(b, t)) for v, (_, t) in truth.items()),
                              key=lambda vc: vc[1])
        if best is None or numerics.at_least(cosine, best.cosine + 1e-9):
            best = Projection(name + where, shape, b, found_rank if rank is None else rank, cosine, variant)
    return best


def reconstructions_subspace(name: str, array: np.ndarray, truth: dict) -> Projection | None:
    """The subspace a set of reconstructions lies in, around the grader's training mean or none,
    when it has 32 dimensions (a clear gap after the 32nd singular value: clipping to [0, 1]
    blurs the rank), else None."""
    for centre, _ in truth.values():
        for order in (None, evaluation.ROW_ORDER):
            c = centre if order is None else centre[order]
            _, s, vt = np.linalg.svd(array - c, full_matrices=False)
            if len(s) > COMPONENTS and s[COMPONENTS - 1] > 1e-8 * s[0] and s[COMPONENTS] < RANK_GAP * s[COMPONENTS - 1]:
                return as_projection(f"the subspace of {name} (its reconstructions)", array.shape,
                                     vt[:COMPONENTS].T, truth, rank=COMPONENTS)
    return None


# the 33rd singular value of reconstructions through 32 components, relative to the 32nd: about
# 1e-13 as computed, a few percent once clipped to [0, 1]; a full-rank set is far above
RANK_GAP = 0.1


def refused(pca_run: PcaRun) -> str:
    """The arrays left unmeasured for holding something other than finite real numbers."""
    return "".join(f"; {name} was not measured: {why}" for name, why in pca_run.refused.items())


def projection_or_fail(pca_run: PcaRun, truth: dict) -> Projection:
    require_run(pca_run, pca_run.rubric)
    if pca_run.found is None:
        pca_run.found = candidates(pca_run, truth)
    found = pca_run.found
    if not found:
        if pca_run.problem:
            raise Failure(f"the variables of {pca_run.script} could not be read: {pca_run.problem}")
        if pca_run.refused:
            raise Failure(f"no projection of finite real numbers was found in {pca_run.script}{refused(pca_run)}",
                          hint="keep the projection as a real float array (np.linalg.svd of real data is real)")
        raise Missing(f"a {DIMS}x{COMPONENTS} projection matrix", f"the variables of {pca_run.script}",
                      hint=f"keep the first {COMPONENTS} principal components as a {DIMS}x{COMPONENTS} matrix "
                           "(from the SVD of the training data) in a variable of the script")
    return found[0]


@pytest.mark.rubric("Q6.1")
def test_pca_projection_has_rank_32(pca_run, pca_truth, pytestconfig, record_property):
    """run_q6.py forms a 1024x32 projection matrix (or its transpose, or the 1024x1024 projector) of rank 32"""
    save_figures(pytestconfig, record_property, "run_q6", pca_run.outcome.figures,
                 dropped=pca_run.outcome.figures_dropped)
    best = projection_or_fail(pca_run, pca_truth)
    record_property("projection", f"{best.name} {best.shape[0]}x{best.shape[1]}, rank {best.rank}")
    record_property("parameters", {"pca_projection": DIMS * COMPONENTS,
                                   "with_mean": DIMS * COMPONENTS + DIMS * (best.variant == "centred")})
    if best.rank != COMPONENTS:
        raise Failure(f"{best.name} ({best.shape[0]}x{best.shape[1]}) has rank {best.rank}{refused(pca_run)}",
                      expected=f"rank {COMPONENTS}", actual=f"rank {best.rank}",
                      hint=f"keep exactly the first {COMPONENTS} principal components")


@pytest.mark.rubric("Q6.1", weight=2)
def test_pca_projection_spans_top_components(pca_run, pca_truth, question, record_property):
    """the projection spans the first 32 principal components of the training data"""
    best = projection_or_fail(pca_run, pca_truth)
    least = question.threshold("subspace_cosine")
    record_property("subspace_cosine", round(best.cosine, 4))
    if not numerics.at_least(best.cosine, least):
        raise Failure(f"{best.name} does not span the first {COMPONENTS} principal components of the training data",
                      expected=f"the cosine of the largest principal angle to them >= {least:g}",
                      actual=f"{best.cosine:.3f}",
                      hint="take the SVD of the training data (not the test data); the rows of V^T (the columns "
                           "of V) are the components, sorted by singular value: keep the first 32")


def measured_psnr(pca_run, pca_truth, course_data) -> tuple[Projection, float, float, np.ndarray]:
    """(the student's projection, the grader's PSNR of the test set through it, through the
    true top-32 subspace, the mean used): through the training mean or none, whichever
    reconstructs better, and the true PCA of the same kind."""
    best = projection_or_fail(pca_run, pca_truth)
    if best.rank > COMPONENTS:
        # through a wider subspace (the full 1024x1024 V^T) any image comes back perfectly
        raise Failure(f"{best.name} ({best.shape[0]}x{best.shape[1]}) has rank {best.rank}, so reconstructions "
                      f"through it measure nothing about a {COMPONENTS}-component PCA{refused(pca_run)}",
                      hint=f"keep the first {COMPONENTS} principal components in a variable of the script")
    test_x = course_data.test[0]
    theirs, ideal, mean = max(
        ((evaluation.mean_psnr(test_x, evaluation.project(test_x, m, best.basis)),
          evaluation.mean_psnr(test_x, evaluation.project(test_x, m, true_basis)), m)
         for m, true_basis in pca_truth.values()), key=lambda measured: measured[0])
    return best, theirs, ideal, mean


@pytest.mark.rubric("Q6.3")
def test_pca_psnr_of_test_reconstructions(pca_run, pca_truth, course_data, question, record_property):
    """the test images reconstructed through the projection reach the PSNR of the true 32-component PCA"""
    best, theirs, ideal, _ = measured_psnr(pca_run, pca_truth, course_data)
    record_property("psnr_measured", round(theirs, 3))
    record_property("psnr_of_true_pca", round(ideal, 3))
    margin = question.threshold("psnr_margin")
    if not numerics.at_least(theirs, ideal - margin):
        raise Failure(f"the test images projected onto {best.name}'s subspace reach {theirs:.2f} dB",
                      expected=f"at least {ideal - margin:.2f} dB (the first {COMPONENTS} components give {ideal:.2f})",
                      actual=f"{theirs:.2f} dB",
                      hint="the reconstruction is x_hat = (x - mean) P P^T + mean with P the first 32 components")


# a line with more numbers than this is a list (per image, a table, a spray), not the average
MAX_NUMBERS_ON_A_LINE = 4
_AVERAGE = re.compile(r"average|mean|avg")


def printed_psnrs(stdout: str) -> list[tuple[float, bool]]:
    """(value, labelled as an average) per printed line that mentions PSNR: its number (of several,
    the last with a decimal point: "PSNR of the 32-component reconstruction: 14.98", or the first
    after "PCA" on a line comparing it with the autoencoder's), or, for such
    a line with none, the one number of the next line (print('Average PSNR:') then print(value))."""
    values = []
    lines = [line.lower() for line in (stdout or "").splitlines() if line.strip()]
    for k, line in enumerate(lines):
        if "psnr" not in line:
            continue
        found = _NUMBER.findall(line.replace("psnr", " "))
        if not found and k + 1 < len(lines) and "psnr" not in lines[k + 1]:
            found = _NUMBER.findall(lines[k + 1])
            found = found if len(found) == 1 else []
        if found and len(found) <= MAX_NUMBERS_ON_A_LINE:
            decimal = [v for v in found if "." in v or "e" in v]
            # "PSNR  PCA: 15.21  vs autoencoder: 13.52" (Q6.3 asks for the comparison): PCA's number
            after_pca = [v for v in _NUMBER.findall(line.split("pca", 1)[1]) if "." in v or "e" in v] \
                if "pca" in line and len(decimal) > 1 else []
            values.append((float(after_pca[0] if after_pca else (decimal or found)[-1]), bool(_AVERAGE.search(line))))
    return values


def reported_psnr(stdout: str) -> float | None:
    """The PSNR the script reports as its result: the last one labelled as an average (a mean),
    else the last one printed; one value, so that printing many numbers reports none of them."""
    values = printed_psnrs(stdout)
    averages = [v for v, average in values if average]
    return (averages or [v for v, _ in values] or [None])[-1]


# how far from the measured subspace a script's array may lie and still count as its reconstructions,
# as a share of the projection's own squared error: clipping to [0, 1] moves a reconstruction a
# little; a copy of the test images lies as far away as the projection's error (share about 1)
OFF_SUBSPACE_SHARE = 0.25


def through_subspace(array, basis: np.ndarray, error: float) -> bool:
    """Whether the rows of array lie in an affine subspace parallel to basis's columns (any mean:
    the training set's, the test set's, none), within OFF_SUBSPACE_SHARE of the projection's error."""
    a = numerics.real_array(array)
    if a is None or not error > 0:
        return False
    centred = a.astype(np.float64) - a.mean(axis=0)
    residual = centred - centred @ basis @ basis.T
    return bool(np.mean(residual ** 2) <= OFF_SUBSPACE_SHARE * error)


@pytest.mark.rubric("Q6.3")
def test_pca_psnr_reported(pca_run, pca_truth, course_data, question, record_property):
    """run_q6.py prints the average PSNR of its test reconstructions, as the grader measures it"""
    best, theirs, _, mean = measured_psnr(pca_run, pca_truth, course_data)
    test_x = course_data.test[0]
    projected = evaluation.project(test_x, mean, best.basis)
    accepted = set(evaluation.psnr_values(test_x, projected))
    error = float(np.mean((test_x - projected) ** 2))
    for name, array in pca_run.arrays.items():
        # the script's own reconstructions (through its mean, clipped or not), pixels in either order:
        # an array of that shape counts only if it came through the measured subspace
        if array.shape == test_x.shape and any(through_subspace(a, best.basis, error)
                                               for a in (array, array[:, evaluation.ROW_ORDER])):
            accepted |= evaluation.psnr_values(test_x, array) | evaluation.psnr_values(test_x, array[:, evaluation.ROW_ORDER])
    printed = reported_psnr(pca_run.outcome.stdout)
    record_property("psnr_printed", printed)
    tolerance = question.threshold("reported_tolerance")
    if printed is None:
        raise Failure(f"{pca_run.script} printed no PSNR", expected="a printed line with 'PSNR' and the average over the test set",
                      actual=messages.clip(pca_run.outcome.stdout or "(nothing printed)", head=5, tail=5),
                      hint="print('PSNR', psnr) once the average over the test images is computed")
    if not any(numerics.at_most(abs(printed - a), tolerance) for a in accepted):
        raise Failure(f"{pca_run.script} printed a PSNR the grader does not measure",
                      expected=f"within {tolerance:g} dB of {theirs:.2f}",
                      actual=f"{printed:g} (the last PSNR printed as an average, else the last printed)",
                      hint="average skimage.metrics.peak_signal_noise_ratio(x, x_hat, data_range=1) over the "
                           "test images")
