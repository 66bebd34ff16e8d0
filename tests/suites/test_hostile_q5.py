"""Reported training (issue 14): a run_q5.py that never trains earns nothing on what it forges.

tests/hostile/ae_reported_training builds the handout's layers and runs one forward pass, keeps
constant m_ arrays, never backpropagates or updates, and prints and plots a made-up falling loss
(the kind of script that earned Q5.1.1, Q5.1.2 and Q5.2 when the checks believed what the script
printed and kept). Graded end to end, it keeps only what is real: the layer shapes and the
activations its forward pass applied (running to its end is credit for a run that trained). It
never trains, so the grading takes seconds.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from graders.pipeline import editions
from support import assert_fails_exactly, check, grade_cli

REPO = Path(__file__).resolve().parents[2]
HOSTILE = REPO / "tests" / "hostile"

# what it forges: every check of the loss, the backpropagation, the momentum, the training and its
# result, and the plots
FORGED = {"q5_loss_is_total_squared_error", "q5_backpropagates_squared_error", "q5_momentum_accumulators",
          "q5_momentum_updated", "q5_training_improves_reconstruction", "q5_loss_falls", "q5_plots_shown",
          "q5_psnr", "run_q5_finishes"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Graded once for the module: the reference with the hostile patch applied."""
    root = tmp_path_factory.mktemp("ae_reported_training")
    python_dir = root / "python"
    shutil.copytree(REPO / "reference" / "python", python_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pickle"))
    editions.apply_overrides(python_dir, HOSTILE / "ae_reported_training")
    return grade_cli(python_dir, root / "out", "-k", "q5_autoencoder")


def test_reported_training_earns_nothing_it_forged(graded):
    assert_fails_exactly(graded, FORGED, [
        ("q5_training_improves_reconstruction", "message", "did not make the network clearly better"),
        ("q5_backpropagates_squared_error", "message", "backwards was never called"),
        ("q5_loss_falls", "message", "not judged"),
        ("q5_plots_shown", "message", "not judged"),
        ("run_q5_finishes", "message", "not judged"),
        ("q5_momentum_accumulators", "message", "hold one value everywhere"),
    ])
    for q in ("Q5.1.2", "Q5.3.2"):
        assert graded["questions"][q]["score"] == 0, q
    # its forward pass was real: an untrained network of the handout's shapes is what it measures
    data = check(graded, "q5_training_improves_reconstruction")["data"]
    assert data["error_ratio"] > 0.9


def test_reported_training_leaves_nothing_behind(graded):
    assert not list((HOSTILE / "ae_reported_training").glob("*.pickle"))
    assert sorted(p.name for p in (HOSTILE / "ae_reported_training").iterdir()) == ["README", "run_q5.py.diff"]
