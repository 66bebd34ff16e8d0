"""The reference solution runs exactly as a student's copy would and lands where the handout says.

These run the real scripts from inside python/ with ../data and ../images, headless, on the
embedded synthetic data; the training ones take a minute or two each.
"""
import pickle
import re

import numpy as np
import pytest

from fixtures import cache
from support import REPO, lay_out, run_script


@pytest.fixture(scope="module")
def reference_tree(tmp_path_factory):
    profile = cache.build(seed=0, log=lambda *_: None)
    return lay_out(tmp_path_factory.mktemp("reference"), REPO / "reference" / "python",
                   profile.data_dir, profile.images_dir)


def _number_after(label, text):
    m = re.search(label + r"\s*:?\s*([-+0-9.eE]+)", text)
    assert m, f"no '{label}' in the output:\n{text[-2000:]}"
    return float(m.group(1))


def test_run_q2_trains_and_its_gradient_check_agrees(reference_tree):
    done = run_script(reference_tree, "run_q2.py", timeout=120)
    assert done.returncode == 0, done.stderr
    assert _number_after("total", done.stdout) < 1e-4
    first = re.findall(r"loss: ([0-9.]+)", done.stdout)
    assert float(first[-1]) < float(first[0]), "training did not lower the loss"


@pytest.mark.slow
def test_run_q3_reaches_the_handout_validation_accuracy(reference_run_q3):
    done, python_dir = reference_run_q3
    assert done.returncode == 0, done.stderr
    valid = _number_after("Validation accuracy", done.stdout)
    assert 0.75 <= valid <= 0.90, f"validation accuracy {valid}"
    with open(python_dir / "q3_weights.pickle", "rb") as f:
        weights = pickle.load(f)  # staff-written file: trusted
    assert {k: v.shape for k, v in weights.items()} == {
        "Wlayer1": (1024, 64), "blayer1": (64,), "Woutput": (64, 36), "boutput": (36,)}
    assert all(v.dtype == np.float64 for v in weights.values())


@pytest.mark.slow
def test_run_q5_autoencoder_psnr_is_about_15(reference_tree):
    done = run_script(reference_tree, "run_q5.py")
    assert done.returncode == 0, done.stderr
    psnr = _number_after("Average validation PSNR", done.stdout)
    # the handout's "about 15"; real submissions report 13.5-16.1 on the real data
    assert 13.5 <= psnr <= 16.5, f"PSNR {psnr}"
    losses = [float(v) for v in re.findall(r"loss: ([0-9.]+)", done.stdout)]
    assert losses[-1] < 0.7 * losses[0], "the autoencoder's loss hardly fell"
