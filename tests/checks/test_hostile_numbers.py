"""Numeric attacks graded end to end: numbers that are not finite real numbers earn nothing.

Each folder of tests/hostile/ named here is the reference with one file patched (README says
what it forges and what it earned before every comparison went through graders.checks.numerics). It
is graded by `hw5grade grade` on the checks of the question it attacks; every one of them must
fail with a message that names the bad data, and the question must score 0.
"""
from __future__ import annotations

import json

import pytest

from graders.pipeline import grade
from support import REPO

HOSTILE = REPO / "tests" / "hostile"

# name -> (the -k selection: every check of the attacked question that the attack reaches,
#          the question, words of which the messages must hold one)
ATTACKS = {
    "nan_gradcheck": ("gradcheck", "Q2.5", ("nan",)),
    "nan_backwards": ("backwards", "Q2.3.1", ("nan",)),
    "object_backwards": ("backwards", "Q2.3.1", ("python objects",)),
    "complex_sigmoid": ("sigmoid or forward_output or forward_cache", "Q2.2.1", ("complex",)),
    "nan_init": ("init_", "Q2.1.2", ("nan",)),
    "nan_softmax": ("softmax", "Q2.2.2", ("nan",)),
    "inf_loss_and_acc": ("loss_acc or loss_is_summed or accuracy_is", "Q2.2.3", ("infinity",)),
    "loss_as_string": ("loss_acc or loss_is_summed", "Q2.2.3", ("text",)),
    "empty_batches": ("batches_", "Q2.4", ("no rows",)),
    "empty_gradcheck": ("gradcheck", "Q2.5", ("shape",)),
    "gradcheck_compares_itself": ("gradcheck", "Q2.5", ("themselves",)),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_numeric_attack_earns_nothing(name, make_submission, tmp_path):
    select, question, words = ATTACKS[name]
    grade.run(make_submission(HOSTILE / name / "python"), tmp_path / "out", select=f"q2_network and ({select})",
              seed=0)
    written = json.loads((tmp_path / "out" / "grade.json").read_text())
    checks = [c for c in written["checks"] if c["question"] == question and not c.get("not_run")]
    assert checks, written["checks"]
    for check in checks:
        assert check["status"] in ("failed", "skipped"), check
        assert check["points"] == 0
        assert check["message"].strip(), f"{check['name']}: no explanation"
    assert written["questions"][question]["score"] == 0
    messages = " ".join(c["message"] for c in checks).lower()
    assert any(word in messages for word in words), messages


def test_every_attack_has_its_folder_and_readme():
    for name in ATTACKS:
        assert list((HOSTILE / name / "python").glob("*.diff")), name
        assert (HOSTILE / name / "README").read_text().strip(), name


def test_complex_pca_is_measured_from_its_real_reconstructions_in_2019(tmp_path):
    """The 2019 PCA checks never cast a complex projection to real (the grader once measured a
    perfect PCA that way); what they measure is the subspace of the script's real reconstructions,
    projected again by the grader: here the true PCA, so the verdict is the honest one."""
    from graders.pipeline import editions

    python_dir = editions.compose(REPO / "reference", "2019", tmp_path / "submission")
    editions.apply_overrides(python_dir, HOSTILE / "complex_pca_2019" / "python")
    grade.run(python_dir, tmp_path / "out", edition="2019", select="q6_pca", seed=0)
    written = json.loads((tmp_path / "out" / "grade.json").read_text())
    checks = {c["name"]: c for c in written["checks"] if c["name"].startswith("test_pca_") and not c.get("not_run")}
    assert len(checks) == 4, written["checks"]
    rank = checks["test_pca_projection_has_rank_32"]
    assert "recon_test" in rank["data"]["projection"] and "reconstructions" in rank["data"]["projection"], rank
    # measured by the grader through that subspace: the PSNR of the true PCA, not a perfect 1024-rank copy
    psnr = checks["test_pca_psnr_of_test_reconstructions"]["data"]
    assert abs(psnr["psnr_measured"] - psnr["psnr_of_true_pca"]) < 0.05 and psnr["psnr_measured"] < 40, psnr


# --- the helpers themselves: nothing but a finite real array passes ------------------------------

import numpy as np  # noqa: E402

from graders.checks import numerics  # noqa: E402

BAD = {
    "NaN": np.array([1.0, np.nan]),
    "infinity": np.array([[np.inf, 0.0]]),
    "complex numbers": np.array([0.5 + 0j, 0.25 + 0j]),
    "booleans": np.array([True, False]),
    "text": np.array(["0.5", "1"]),
    "Python objects (dtype object), not numbers": np.array([0.5, 1.0], dtype=object),
}


@pytest.mark.parametrize("words", sorted(BAD))
def test_bad_arrays_are_named_and_never_agree(words):
    bad = BAD[words]
    assert numerics.real_array(bad) is None
    assert numerics.defect(bad) == words
    good = np.array([0.5, 1.0]).reshape(bad.shape) if bad.size == 2 else np.ones(bad.shape)
    assert numerics.relative_error(bad, good) == float("inf")
    assert numerics.relative_error(bad, bad) == float("inf")
    assert not numerics.at_most(numerics.relative_error(bad, good), 1e300)


def test_values_the_protocol_could_not_carry_are_named():
    assert numerics.defect({"__unsupported__": "ndarray"}) == "Python objects (dtype object), not numbers"
    assert numerics.defect("55.4") == "text"
    assert numerics.defect([0.5, 1.0]) == "a list, not a NumPy array"
    assert numerics.defect(float("inf")) == "infinity"


def test_relative_error_refuses_empty_and_mismatched_arrays():
    assert numerics.relative_error(np.zeros(0), np.zeros(0)) == float("inf")
    assert numerics.relative_error(np.ones(3), np.ones((3, 1))) == float("inf")
    assert numerics.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert numerics.relative_error(np.ones(2), np.array([1.0, 1.0 + 1e-9])) < 1e-9


def test_thresholds_pass_only_finite_real_numbers():
    for value in (float("nan"), float("inf"), 1 + 0j, np.array([1.0, 2.0]), "1", True, None):
        assert not numerics.at_most(value, 10) and not numerics.at_least(value, -10), value
    assert numerics.at_most(np.float32(3), 3) and numerics.at_least(np.array([[3]]), 3)
