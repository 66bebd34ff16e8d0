"""Hostile PyTorch submissions (tests/hostile/q6_*: the reference with one script changed) graded
end to end by `hw5grade grade`: each earns nothing on what it attacked, the student reads why,
and nothing is left running.

The attacks aim at the measuring of saved models: forging the answers of the worker that ran the
script, forging them inside the model or in the measuring worker, files that are not state
dicts, links, looking for the truth, shadowing PyTorch. Their scripts train nothing, so each
grading takes seconds of student code (one import of PyTorch and one measuring worker).
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from graders.pipeline import grade
from support import REPO
from test_hostile_grading import descendants, left_running

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None,
                       reason="torch and torchvision are not installed (tox -e tests installs them)"),
]

HOSTILE = REPO / "tests" / "hostile"
MARKER = Path("/tmp/hw5grade-q6-junk-pt-was-unpickled")
CHANCE = 1 / 36

# name -> (the -k selection, {check: words its message must hold}); an empty message list: the
# check may pass (it is not what the submission attacked)
ATTACKS = {
    "q6_forged_followups": ("q6_1_1", {"q6_model_saved": "no model of run_q6_1_1.py has the tensors saved in q6_1_1_model.pt",
                                       "q6_heldout_accuracy": "no saved fully connected network to measure"}),
    "q6_model_forges_order": ("q6_1_1", {"q6_heldout_accuracy": "about chance"}),
    "q6_patches_measurer": ("q6_1_1", {"q6_heldout_accuracy": "about chance"}),
    "q6_reads_truth": ("q6_1_1", {"q6_heldout_accuracy": "about chance"}),
    "q6_shadows_torch": ("q6_1_1", {"q6_heldout_accuracy": "about chance"}),
    "q6_junk_pt": ("q6_1_1", {"q6_model_saved": "is not a file torch.save writes",
                              "q6_heldout_accuracy": "no saved fully connected network to measure"}),
    "q6_link_to_truth": ("q6_1_1", {"q6_model_saved": "could not be opened as a plain file",
                                    "q6_heldout_accuracy": "no saved fully connected network to measure"}),
    "q6_knn_reads_data": ("q6_1_1", {"q6_heldout_accuracy": "could not classify"}),
    "q6_mlp_as_cnn": ("q6_1_2", {"q6_model_saved": "has no convolution",
                                 "q6_heldout_accuracy": "no saved CNN to measure"}),
    "q6_unused_conv": ("q6_1_2", {"q6_model_saved": "convolutions do not carry its answers",
                                  "q6_heldout_accuracy": "no saved CNN to measure"}),
    "q6_conv_nudge": ("q6_1_2", {"q6_model_saved": "convolutions do not carry its answers",
                                 "q6_heldout_accuracy": "no saved CNN to measure"}),
    "q6_conv_raises_on_noise": ("q6_1_2", {"q6_model_saved": "stops working when its convolution kernels",
                                           "q6_heldout_accuracy": "no saved CNN to measure"}),
    "q6_cnn_as_fc": ("q6_1_1", {"q6_model_saved": "holds a convolution's kernel",
                                "q6_heldout_accuracy": "no saved fully connected network to measure"}),
    "q6_finetunes_nothing": ("q6_2_1", {"q6_2_1_classifier_has_17_outputs": "counts for a script",
                                        "q6_2_1_only_classifier_trained": "counts for a script",
                                        "q6_script_finishes": "counts for a script",
                                        "q6_plots": "counts for a script"}),
    "q6_scratch_permuted": ("q6_2_1", {"q6_2_1_scratch_accuracy": "not trained from scratch"}),
    "q6_classifier_hides_scratch": ("q6_2_1", {"q6_2_1_only_classifier_trained":
                                               "besides SqueezeNet's features and classifier"}),
    "q6_untrained_plots": ("q6_1_2", {"q6_script_finishes": "counts for a script", "q6_plots": "counts for a script",
                                      "q6_model_saved": "counts for a script"}),
    "q6_scratch_is_pretrained": ("q6_2_1", {"q6_2_1_scratch_accuracy": "not trained from scratch"}),
    "q6_shadow_features": ("q6_2_1", {"q6_2_1_only_classifier_trained": "a second, trained copy of the features"}),
    "q6_forged_figure_data": ("q6_1_1", {"q6_plots": "curve(s)", "q6_loss_falls": "neither plotted a loss curve"}),
    "q6_frozen_junk": ("q6_2_1", {"q6_2_1_only_classifier_trained": "not a model's state_dict",
                                  "q6_2_1_classifier_has_17_outputs": "not a model's state_dict",
                                  "q6_2_1_finetuned_accuracy": "not a model's state_dict",
                                  "q6_2_1_scratch_accuracy": "is not a file torch.save writes"}),
}


def check(results: dict, name: str, group: str) -> dict:
    return next(c for c in results["checks"] if c["name"] == f"test_{name}[{group}]")


def test_every_q6_hostile_submission_is_tried():
    folders = {p.name for p in HOSTILE.glob("q6_*") if p.is_dir()}
    assert folders == set(ATTACKS)
    for name in ATTACKS:
        assert (HOSTILE / name / "README").read_text().strip(), name


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_q6_attack_earns_nothing(name, make_submission, tmp_path):
    group, attacked = ATTACKS[name]
    MARKER.unlink(missing_ok=True)
    python_dir = make_submission(HOSTILE / name / "python")
    before = descendants()
    grade.run(python_dir, tmp_path / "out", select=group)
    written = json.loads((tmp_path / "out" / "grade.json").read_text())
    assert "error" not in written, written.get("error")
    question = {"q6_1_1": "Q6.1.1", "q6_1_2": "Q6.1.2", "q6_2_1": "Q6.2.1"}[group]
    for name_, words in attacked.items():
        c = check(written, name_, group)
        assert c["status"] in ("failed", "skipped") and c["points"] == 0, c
        assert words in c["message"] + " " + (c.get("hint") or ""), c
    accuracy = check(written, "q6_heldout_accuracy", group) if group == "q6_1_1" else None
    if accuracy is not None and accuracy["status"] == "failed" and "accuracies" in (accuracy.get("data") or {}):
        # predictions came back and were scored at chance, under every preprocessing
        assert max(accuracy["data"]["accuracies"].values()) <= 2 * CHANCE, accuracy["data"]
    assert written["questions"][question]["score"] < written["questions"][question]["max_score"]
    assert not MARKER.exists(), "a saved file was unpickled as an object"
    assert not left_running(before), "a process started by the grading outlived it"
    if name == "q6_reads_truth" and written["isolation"] == "bubblewrap":
        output = check(written, "q6_script_finishes", group)["data"]["output"]
        assert "truth files found: []" in output, output


def test_a_forgery_by_position_scores_chance_under_the_public_seed_too(make_submission, tmp_path):
    """Without the course key (a student's own run) the order is public, but still not the
    stored one: answering by position scores chance."""
    python_dir = make_submission(HOSTILE / "q6_model_forges_order" / "python")
    results = grade.run(python_dir, tmp_path / "out", select="q6_1_1", visibility="public")
    accuracy = check(results, "q6_heldout_accuracy", "q6_1_1")
    assert accuracy["status"] == "failed" and "about chance" in accuracy["hint"], accuracy
    # the whole held-out set (no secret subset without the key)
    assert sum(map(sum, accuracy["data"]["confusion_matrix"])) == 720
    assert not results.get("staff")


def test_forged_connections_of_2019s_q7_1_5_earn_nothing(tmp_path):
    """q7_forges_joins_2019's networks have no connections; where its classes are rebuilt it
    answers the trace of the skip network with another network's archive (both connections,
    other weights) and that of the residual one with the bare list of connections the grader
    once believed. The connections are read where no student Python runs, from the model that
    carries the saved weights: both checks fail."""
    from graders.pipeline import editions
    python_dir = editions.compose(REPO / "reference", "2019", tmp_path / "sub")
    editions.apply_overrides(python_dir, HOSTILE / "q7_forges_joins_2019" / "python")
    before = descendants()
    results = grade.run(python_dir, tmp_path / "out", select="q7_1_5_connections", edition="2019")
    skip, residual = (check(results, "q7_1_5_connections", group) for group in ("q7_1_5a", "q7_1_5b"))
    assert skip["status"] == "failed" and "the traced model is not the saved" in skip["message"], skip
    assert residual["status"] == "failed" and "held no TorchScript archive" in residual["message"], residual
    assert results["questions"]["Q7.1.5a"]["score"] == results["questions"]["Q7.1.5b"]["score"] == 0
    assert not left_running(before), "a process started by the grading outlived it"


def test_a_traced_wrapper_carrying_the_saved_weights_earns_no_connection(tmp_path):
    """q7_forges_archive_2019's class body replaces the measuring code's trace with one of a
    wrapper around the saved model that concatenates and adds: the archive carries the saved
    weights, so only what else it carries (layers of its own, outputs of another shape) tells."""
    from graders.pipeline import editions
    python_dir = editions.compose(REPO / "reference", "2019", tmp_path / "sub")
    editions.apply_overrides(python_dir, HOSTILE / "q7_forges_archive_2019" / "python")
    results = grade.run(python_dir, tmp_path / "out", select="q7_1_5_connections", edition="2019")
    for group in ("q7_1_5a", "q7_1_5b"):
        c = check(results, "q7_1_5_connections", group)
        assert c["status"] == "failed" and "is not the saved" in c["message"] and "alone" in c["message"], c
    assert results["questions"]["Q7.1.5a"]["score"] == results["questions"]["Q7.1.5b"]["score"] == 0


def test_a_join_whose_one_side_is_cut_off_after_it_is_no_connection(tmp_path):
    """q7_sliced_joins_2019 makes both joins and then throws one side away: the concatenation's
    result is sliced back to its first input, and the residual branch is multiplied by 0. The
    autograd graph still holds a CatBackward and an AddBackward over a path through layers, but
    no gradient of the output flows through the cut side, so neither join is a connection."""
    from graders.pipeline import editions
    python_dir = editions.compose(REPO / "reference", "2019", tmp_path / "sub")
    editions.apply_overrides(python_dir, HOSTILE / "q7_sliced_joins_2019" / "python")
    results = grade.run(python_dir, tmp_path / "out", select="q7_1_5_connections", edition="2019")
    for group in ("q7_1_5a", "q7_1_5b"):
        c = check(results, "q7_1_5_connections", group)
        assert c["status"] == "failed" and "that bypasses a layer" in c["message"], c
    assert results["questions"]["Q7.1.5a"]["score"] == results["questions"]["Q7.1.5b"]["score"] == 0
