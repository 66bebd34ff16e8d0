"""The Fall 2019 edition (`--edition 2019`): its rubric, data1/data2, its reference tree (the
2022 files with reference/2019/python applied), its PCA checks, and what a submission of the
other edition is told.

The 2019 wrong submissions live in tests/wrong_2019/ as patches against the composed 2019
reference; wrong submissions of tests/wrong/ that apply to 2019 are graded here too and must
fail exactly what they fail in 2022.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import test_letters_checks
import test_q2_checks
from graders.pipeline import editions
from graders.checks import evaluation
from graders.checks import rubric as rubric_mod
from graders.staff import stubs
from support import assert_fails_exactly, check, grade_cli, not_passed, ran, shared_grade

REPO = Path(__file__).resolve().parents[2]
WRONG = REPO / "tests" / "wrong"
WRONG_2019 = REPO / "tests" / "wrong_2019"
SUITES = REPO / "graders" / "suites"
EDITION = ("--edition", "2019")
PCA_CHECKS = {"pca_projection_has_rank_32", "pca_projection_spans_top_components",
              "pca_psnr_of_test_reconstructions", "pca_psnr_reported"}

# tests/wrong_2019: name -> (-k selection, the checks that must NOT pass; the others must pass)
EXPECTED = {
    "pca_last_components": ("q6_pca", {"pca_projection_spans_top_components", "pca_psnr_of_test_reconstructions"}),
    # fitted to the test images: a fine reconstruction of them, from the wrong data
    "pca_from_test_data": ("q6_pca", {"pca_projection_spans_top_components"}),
    "pca_rank_16": ("q6_pca", {"pca_projection_has_rank_32", "pca_projection_spans_top_components",
                               "pca_psnr_of_test_reconstructions"}),
    "pca_psnr_misreported": ("q6_pca", {"pca_psnr_reported"}),
    # a decoy of the test set's shape, never projected, with its 42 dB printed (review of stop 28)
    "pca_psnr_of_a_decoy": ("q6_pca", {"pca_psnr_reported"}),
    # learns neither set: Q3.1.1's accuracy and the data2 run's both fail, and running to its end
    # and its plots are no credit for a run that trained nothing
    "q3_never_learns": ("q3_training or q3_second_set", {"q3_validation_accuracy", "network_learns_data2",
                                                         "run_q3_finishes", "q3_plots_shown"}),
    # the PyTorch part: each graded with the checks of the question it breaks
    "q7_no_connections": ("q6_pytorch and q7_1_5", {"q7_1_5_connections[q7_1_5a]", "q7_1_5_connections[q7_1_5b]"}),
    "q7_emnist_prints_nothing": ("q6_pytorch and q7_1_4", {"q7_1_4_reads_the_photos[q7_1_4]"}),
    # at chance: running, plotting and saving count only for a model that learned
    "q7_mnist_no_step": ("q6_pytorch and q7_1_2", {"q6_loss_falls[q7_1_2]", "q6_heldout_accuracy[q7_1_2]",
                                                   "q6_script_finishes[q7_1_2]", "q6_plots[q7_1_2]",
                                                   "q6_model_saved[q7_1_2]"}),
}
SAYS = {
    "pca_last_components": ("pca_projection_spans_top_components", "message", "does not span the first 32"),
    "pca_from_test_data": ("pca_projection_spans_top_components", "hint", "not the test data"),
    "pca_rank_16": ("pca_projection_has_rank_32", "message", "has rank 16"),
    "pca_psnr_misreported": ("pca_psnr_reported", "message", "printed a PSNR the grader does not measure"),
    "pca_psnr_of_a_decoy": ("pca_psnr_reported", "message", "printed a PSNR the grader does not measure"),
    "q3_never_learns": ("network_learns_data2", "message", "trained on data2"),
    "q7_no_connections": ("q7_1_5_connections[q7_1_5a]", "message", "has no concatenation"),
    "q7_emnist_prints_nothing": ("q7_1_4_reads_the_photos[q7_1_4]", "message", "read 0%"),
    "q7_mnist_no_step": ("q6_loss_falls[q7_1_2]", "message", "plotted loss curve went from"),
}
Q7 = ("Q7.1.1", "Q7.1.2", "Q7.1.3", "Q7.1.4", "Q7.1.5a", "Q7.1.5b", "Q7.2.1")
# tests/wrong: every mistake in the files both editions share (nn.py, q4.py, run_q2.py), graded
# as 2019 with the selection its own suite's test uses; it must fail exactly as in 2022. (The run_q3
# mistakes patch 2022's script, which 2019 changes; q3_never_learns has a 2019 copy above.)
SHARED_MISTAKES = {name: (test_q2_checks.Q2_SUITES, expected) for name, expected in test_q2_checks.EXPECTED.items()}
LETTERS = tuple(name for name, (options, _) in test_letters_checks.EXPECTED.items() if options == test_letters_checks.QUICK)


@pytest.fixture(scope="module")
def rubric():
    return rubric_mod.load("2019")


@pytest.fixture(scope="session")
def tree_2019(tmp_path_factory) -> Path:
    return editions.compose(REPO / "reference", "2019", tmp_path_factory.mktemp("reference2019"))


def submission_2019(root: Path, overrides: Path) -> Path:
    python_dir = editions.compose(REPO / "reference", "2019", root)
    editions.apply_overrides(python_dir, overrides)
    return python_dir


# ---------------------------------------------------------------------------------------------
# rubric, data, trees

def test_rubric_has_the_handouts_points(rubric):
    assert sum(q.points for q in rubric.questions.values()) == 200      # "Total Points: 200"
    points = {"Q1.5": 12, "Q2.1.2": 1, "Q2.2.1": 4, "Q2.3.1": 7, "Q2.4.1": 5, "Q2.5.1": 5, "Q3.1.1": 3,
              "Q3.1.5": 20, "Q4.2": 10, "Q4.4": 8, "Q5.1.1": 5, "Q5.1.2": 3, "Q6.1": 2, "Q6.4": 2,
              "Q7.1.4": 10, "Q7.1.5c": 10, "Q7.2.1": 5}
    assert {q: rubric[q].points for q in points} == points
    assert all(q.extra_credit for qid, q in rubric.questions.items() if qid.startswith("Q7"))
    # checks written for 2022's numbers count toward 2019's, with 2022's budgets and thresholds
    base = rubric_mod.load("2022")
    assert rubric["Q2.4"].id == "Q2.4.1" and rubric.resolve("Q3.1") == "Q3.1.1"
    assert rubric["Q3.1"].thresholds == base["Q3.1"].thresholds
    assert rubric["Q3.1"].script_seconds == base["Q3.1"].script_seconds
    assert rubric.resolve("Q6.1.3") is None and base.resolve("Q6.3") is None


def test_every_marker_names_a_question_of_some_edition():
    named = set()
    for path in SUITES.glob("*.py"):
        named |= set(re.findall(r'rubric\("([^"]+)"', path.read_text()))
        named |= set(re.findall(r'checks\("([^"]+)"', path.read_text()))
    assert named and named <= rubric_mod.known_marker_ids(), named - rubric_mod.known_marker_ids()


def test_data1_is_the_default_set_and_data2_differs(rubric):
    from fixtures import cache
    profile = cache.layout(rubric.nist36_layout(), log=lambda *_: None)
    default = cache.build(log=lambda *_: None)
    sizes = {}
    for name, pattern in (("set1", rubric.data["nist36"]), ("set2", rubric.data["second_set"])):
        for split in ("train", "valid", "test"):
            path = profile.data_dir / pattern.format(split=split)
            mat = scipy.io.loadmat(path)
            x, y = mat[f"{split}_data"], mat[f"{split}_labels"]
            assert x.shape[1] == 1024 and y.shape == (x.shape[0], 36) and x.dtype == np.float64
            assert np.all(y.sum(axis=1) == 1) and 0 <= x.min() and x.max() <= 1
            sizes[name, split] = x.shape[0]
            if name == "set1":
                assert path.read_bytes() == (default.data_dir / f"nist36_{split}.mat").read_bytes()
    # what a student sees: a third of the training examples, the same validation and test sizes
    assert sizes["set1", "train"] == 10800 and sizes["set2", "train"] == 3600
    assert sizes["set1", "valid"] == sizes["set2", "valid"] == 3600
    assert sizes["set1", "test"] == sizes["set2", "test"] == 1800
    assert sorted(p.name for p in profile.images_dir.iterdir()) == sorted(p.name for p in default.images_dir.iterdir())


def test_the_plain_names_are_data1_linked_and_follow_data2_in_the_swap(rubric):
    """Section B's ../data/nist36_*.mat are data1's files, linked, not copied (issue 20); in the
    Q3.1.5 run, where data2 takes data1's place, they hold data2 too."""
    from fixtures import cache
    from graders.suites.q3_second_set import second_set_as_first
    profile = cache.layout(rubric.nist36_layout(), log=lambda *_: None)

    class Options:
        def getoption(self, name, default=None):     # neither --data-dir nor --staff
            return default
    swapped, _ = second_set_as_first(Options(), rubric, Path(tempfile.mkdtemp()))
    for split in ("train", "valid", "test"):
        plain = profile.data_dir / f"nist36_{split}.mat"
        data1 = profile.data_dir / rubric.data["nist36"].format(split=split)
        assert plain.stat().st_ino == data1.stat().st_ino
        data2 = profile.data_dir / rubric.data["second_set"].format(split=split)
        assert (swapped / f"nist36_{split}.mat").read_bytes() == data2.read_bytes()
    assert rubric.data_aliases()["nist36_train.mat"] == "data1/nist36_train_set1.mat"


def test_the_2019_tree_is_2022s_with_the_overlay(tree_2019):
    run_q3 = (tree_2019 / "run_q3.py").read_text()
    assert "'../data/data1/nist36_train_set1.mat'" in run_q3 and "max_iters = 30\n" in run_q3
    assert "data1/nist36_train_set1.mat" in (tree_2019 / "run_q5.py").read_text()
    assert (tree_2019 / "run_q6.py").is_file()
    for shared in ("nn.py", "q4.py", "run_q2.py", "run_q4.py"):
        assert (tree_2019 / shared).read_bytes() == (REPO / "reference" / "python" / shared).read_bytes()


def test_the_2019_stubs_hold_no_solution(tree_2019, tmp_path):
    student = stubs.student_tree("2019", tmp_path)
    assert sorted(p.name for p in student.glob("*.py")) == sorted(p.name for p in tree_2019.glob("*.py"))
    base = REPO / "reference" / "python"
    for path in student.glob("*.py"):
        compile(path.read_text(), path.name, "exec")
        if (base / path.name).exists() and (tree_2019 / path.name).read_bytes() == (base / path.name).read_bytes():
            # a file both editions share has 2022's committed stub
            assert path.read_bytes() == (REPO / "student" / "python" / path.name).read_bytes(), path.name
    pca = (student / "run_q6.py").read_text()
    assert "your code here" in pca
    assert "svd" not in pca and "peak_signal_noise_ratio(x," not in pca and "projection = vt" not in pca


def test_pca_maths_on_known_subspaces():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 20)) @ np.diag(np.linspace(3, 0.1, 20)) + 5
    truth = evaluation.principal_subspaces(x, 4)
    _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    basis, rank = evaluation.column_space(vt[:4].T * 7)            # scale does not matter
    assert rank == 4 and evaluation.subspace_cosine(basis, truth["centred"][1]) == pytest.approx(1)
    assert evaluation.subspace_cosine(evaluation.column_space(vt[-4:].T)[0], truth["centred"][1]) < 0.1
    projector, rank = evaluation.column_space(vt[:4].T @ vt[:4])
    assert rank == 4 and evaluation.subspace_cosine(projector, truth["centred"][1]) == pytest.approx(1)


def test_pca_found_from_reconstructions_in_either_pixel_order():
    """A script that untransposed the images and projected inline (x @ Vt[:32].T @ Vt[:32]) keeps
    no 1024x32 matrix and a full-rank V^T: its subspace is read from its reconstructions and
    compared in row order; the last components' reconstructions are still told apart."""
    from graders.suites import q6_pca
    rng = np.random.default_rng(1)
    train = rng.random((1200, 40)) @ rng.random((40, 1024)) / 40 + 0.05 * rng.random((1200, 1024))
    test = rng.random((300, 40)) @ rng.random((40, 1024)) / 40
    truth = evaluation.principal_subspaces(train, 32)
    rows = evaluation.ROW_ORDER
    train_r, test_r = train[:, rows], test[:, rows]
    mean = train_r.mean(axis=0)
    _, _, vt = np.linalg.svd(train_r - mean, full_matrices=False)
    inline = (test_r - mean) @ vt[:32].T @ vt[:32] + mean
    run = q6_pca.PcaRun(outcome=None, rubric=None, arrays={"vt": vt, "recon": inline})
    best = q6_pca.candidates(run, truth)[0]
    assert best.rank == 32 and best.cosine == pytest.approx(1, abs=1e-6) and "row order" in best.name, best
    last = (test_r - mean) @ vt[-32:].T @ vt[-32:] + mean
    wrong = q6_pca.candidates(q6_pca.PcaRun(None, None, arrays={"vt": vt, "recon": last}), truth)[0]
    assert wrong.cosine < 0.5, wrong
    # a projection kept in a variable is measured as before, and arrays beyond the cap are named
    many = q6_pca.PcaRun(None, None, arrays={f"junk{i}": rng.random((1024, 1024)) for i in range(12)})
    many.arrays["P"] = vt[:32].T
    q6_pca.keep_measurable(many)
    assert "P" in many.arrays and len(many.arrays) == q6_pca.MAX_ARRAYS and len(many.refused) == 5


@pytest.mark.parametrize("printed, reported", [
    ("average PSNR: 14.98\n", 14.98),
    ("Average PSNR over the test set:\n14.986835\n", 14.986835),
    ("PSNR of the 32-component reconstructions: 14.9 dB\n", 14.9),
    ("psnr image 1: 12.5\npsnr image 2: 17.25\nmean psnr = 14.8\npsnr image 3: 3.0\n", 14.8),
    ("PSNR " + " ".join(map(str, range(61))) + "\n", None),                  # a spray is no value
    ("".join(f"PSNR {v}\n" for v in range(61)), 60.0),                     # one value: the last
    ("PSNR\n1 2 3\n", None),
    # Q6.3 asks whether PCA beats the autoencoder: the number after "PCA" is PCA's
    ("Average PSNR  PCA: 15.21  vs autoencoder: 13.52\n", 15.21),
    ("autoencoder PSNR 13.52, PCA (32 components) PSNR 15.21\n", 15.21),
])
def test_the_printed_psnr_is_one_value(printed, reported):
    from graders.suites import q6_pca
    assert q6_pca.reported_psnr(printed) == reported


# ---------------------------------------------------------------------------------------------
# whole grades

@pytest.fixture(scope="session")
def reference_2019(tmp_path_factory, worker_id, tree_2019):
    """The NumPy part of the 2019 reference graded once per session through the staff tree, as
    `tox -e reference-2019` does."""
    return shared_grade(tmp_path_factory, worker_id, "reference-2019", REPO / "reference", *EDITION, "-n", "2",
                        "-k", "not q6_pytorch")


@pytest.fixture(scope="session")
def reference_2019_q7(tmp_path_factory, worker_id, tree_2019):
    """Its PyTorch part (Q7), graded once per session."""
    return shared_grade(tmp_path_factory, worker_id, "reference-2019-q7", REPO / "reference", *EDITION, "-n", "2",
                        "-k", "q6_pytorch")


@pytest.mark.slow
def test_reference_scores_full_marks(reference_2019):
    results, out = reference_2019
    assert results["edition"] == "2019" and not_passed(results) == set()
    auto = [q for q, e in results["questions"].items() if e["kind"] == "auto" and not q.startswith("Q7")]
    for q in auto:
        assert results["questions"][q]["score"] == results["questions"][q]["max_score"] > 0, q
    assert results["score"] == results["max_score"] == 64
    assert results["not_graded_by_this_version"] == []
    assert any("2019/python/ applied" in note for note in results["notes"])
    # the report and the Gradescope export say which edition graded it
    assert "Edition 2019" in (out / "report.html").read_text()
    assert json.loads((out / "results.json").read_text())["extra_data"]["edition"] == "2019"
    from graders.outputs import gradebook
    assert gradebook._row("ref", results, "", gradebook.columns("2019"))["edition"] == "2019"
    # what the write-ups are about, measured: data2 is learned less well than data1
    data1 = check(results, "q3_validation_accuracy")["data"]["validation_accuracy"]
    data2 = check(results, "network_learns_data2")["data"]["data2_accuracy"]
    assert data2["valid"] < data1 - 0.1
    pca = check(results, "pca_psnr_of_test_reconstructions")["data"]
    print(f"\n2019 reference: data1 valid {data1:.3f}, data2 {data2}, PCA PSNR {pca['psnr_measured']}, "
          f"autoencoder PSNR {check(results, 'q5_psnr')['data']['psnr']}, {results['timings']['wall_seconds']:.0f} s")


@pytest.mark.slow
def test_reference_scores_full_marks_on_q7(reference_2019_q7):
    results, _ = reference_2019_q7
    # Static: the repairs' advisory check, which runs wherever student code ran
    assert {c["question"] for c in ran(results)} - {"Static"} == set(Q7) and not_passed(results) == set()
    for q in Q7:
        assert results["questions"][q]["score"] == results["questions"][q]["max_score"] > 0, q
    joins = check(results, "q7_1_5_connections[q7_1_5b]")["data"]["joins"]
    assert any(j["op"].startswith("Add") and j["layers_bypassed"] >= 2 for j in joins)
    print("\n2019 reference, Q7: " + ", ".join(
        f"{c['name']}: {c['data'].get('seconds', c['data'].get('heldout_accuracy', c['data'].get('character_accuracy')))}"
        for c in ran(results) if c.get("data") and any(k in c["data"] for k in ("seconds", "heldout_accuracy",
                                                                                   "character_accuracy")))
          + f"; {results['timings']['wall_seconds']:.0f} s")


@pytest.mark.slow
def test_stubs_score_zero_with_messages(tmp_path):
    python_dir = stubs.student_tree("2019", tmp_path / "student")
    printed = []
    results = grade_cli(python_dir, tmp_path / "out", *EDITION, "-n", "2", printed=printed)
    assert results["score"] == 0
    # the terminal summary fits a screen: one line per question, the first reason of each
    assert len(printed[0].splitlines()) <= 40 and "x " in printed[0] and "-v" in printed[0], printed[0]
    for q, entry in results["questions"].items():
        if entry["kind"] == "auto" and entry["score"] is not None:
            assert entry["score"] == 0, q
    for c in ran(results):
        if c["question"] != "Static":
            assert c["status"] in ("failed", "skipped") and c["message"], c
    assert "a 1024x32 projection matrix" in check(results, "pca_projection_has_rank_32")["message"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrong_2019_submission_fails_exactly_its_checks(name, tmp_path):
    select, expected = EXPECTED[name]
    results = grade_cli(submission_2019(tmp_path / "sub", WRONG_2019 / name), tmp_path / "out", *EDITION,
                        "-k", select, "--seed", "0")
    assert_fails_exactly(results, expected, [SAYS[name]])
    if name == "q7_no_connections":
        assert "has no addition" in check(results, "q7_1_5_connections[q7_1_5b]")["message"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHARED_MISTAKES))
def test_a_2022_mistake_fails_the_same_checks_in_2019(name, tmp_path):
    select, expected = SHARED_MISTAKES[name]
    results = grade_cli(submission_2019(tmp_path / "sub", WRONG / name), tmp_path / "out", *EDITION,
                        *select, "--seed", "0", *(("--strict",) if name in test_q2_checks.STRICT else ()))
    assert expected <= not_passed(results) <= expected | test_q2_checks.KNOCK_ON.get(name, set())


@pytest.mark.parametrize("name", LETTERS)
def test_a_2022_findletters_mistake_fails_the_same_checks_in_2019(name, tmp_path):
    options, expected = test_letters_checks.EXPECTED[name]
    results = grade_cli(submission_2019(tmp_path / "sub", WRONG / name), tmp_path / "out", *EDITION, *options)
    assert test_letters_checks.not_passed_run(results) == test_letters_checks.expand(
        expected, test_letters_checks.photo_names())


def test_every_2019_wrong_submission_is_in_the_table():
    assert {p.name for p in WRONG_2019.iterdir() if p.is_dir()} == set(EXPECTED)
    for name in EXPECTED:
        assert (WRONG_2019 / name / "README").read_text().strip()


# ---------------------------------------------------------------------------------------------
# the wrong edition

def test_a_2022_submission_graded_as_2019_is_told_what_is_missing(tmp_path):
    results = grade_cli(REPO / "reference" / "python", tmp_path / "out", *EDITION,
                        "-k", "static_checks or q3_training or q6_pca", "--quick")
    files = check(results, "files_of_the_edition")
    assert files["status"] == "failed"
    assert "missing run_q6.py" in files["message"] and "belong to the 2022 edition" in files["message"]
    assert "--edition 2022" in files["hint"]
    assert "run_q6.py was not found" in check(results, "pca_projection_has_rank_32")["message"]


@pytest.mark.slow
def test_a_run_q3_reading_the_plain_names_is_graded_as_2019_too(tmp_path):
    """Section B of the 2019 handout read ../data/nist36_*.mat as 2022 does: the 2019 profile
    offers those names as data1 (issue 20), so the run finishes without a repair, and the notes
    say which names it read."""
    results = grade_cli(REPO / "reference" / "python", tmp_path / "out", *EDITION, "-k", "run_q3_finishes")
    assert check(results, "run_q3_finishes")["status"] == "passed"
    assert results["repairs"]["fired"] == []
    assert set(results["repairs"]["data_read"]) == {"nist36_train.mat", "nist36_valid.mat", "nist36_test.mat"}
    assert "course data files the scripts read: nist36_test.mat, nist36_train.mat, nist36_valid.mat" in results["notes"]


@pytest.mark.slow
def test_a_2019_submission_graded_as_2022_is_told_too(tmp_path, tree_2019):
    results = grade_cli(tree_2019, tmp_path / "out", "-k", "static_checks or run_q3_finishes")
    files = check(results, "files_of_the_edition")
    assert "run_q6.py, run_q7_1_1.py" in files["message"] and "belong to the 2019 edition" in files["message"]
    assert "--edition 2019" in files["hint"]
    finishes = check(results, "run_q3_finishes")
    assert "'../data/nist36_train.mat'" in finishes["hint"] and "2019 edition" in finishes["hint"]
    # 2019's PCA checks are not 2022's: not run, not listed
    assert not any(c["name"].startswith("test_pca") for c in results["checks"])


# ---------------------------------------------------------------------------------------------
# the 2019 handout and Gradescope bundle

def test_the_2019_handout_has_its_stubs_and_no_solution(tmp_path):
    from graders.staff import release
    out = tmp_path / "handout"
    release.build(out, "2019")
    assert sorted(p.name for p in (out / "python").glob("*.py")) == sorted(rubric_mod.load("2019").files["numpy"]
                                                                          + rubric_mod.load("2019").files["pytorch"])
    assert "your code here" in (out / "python" / "run_q6.py").read_text()
    tox = (out / "tox.ini").read_text()
    assert tox.count("--edition 2019") == 3 and "-k q6_pytorch" in tox
    assert "Fall 2019" in (out / "README.md").read_text()
    # the leak search of the 2019 tree finds nothing; planted, one of its own solution lines is found
    with tempfile.TemporaryDirectory() as scratch:
        reference = editions.compose(REPO / "reference", "2019", Path(scratch) / "reference").parent
        student = stubs.student_tree("2019", Path(scratch) / "student").parent
        lines = release.solution_lines(reference, student)
    assert release.leaks(out, lines) == []
    planted = next(line for line in lines if "svd" in line)
    with open(out / "graders" / "checks" / "numerics.py", "a") as f:
        f.write(f"\n# {planted}\n")
    assert [hit.split(":")[0] for hit in release.leaks(out, lines)] == ["graders/checks/numerics.py"]


def test_the_2019_bundle_grades_as_2019(tmp_path):
    import zipfile
    from graders.staff import gradescope_bundle
    gradescope_bundle.build(tmp_path / "autograder.zip", "2019")
    with zipfile.ZipFile(tmp_path / "autograder.zip") as zf:
        setup, run = zf.read("setup.sh").decode(), zf.read("run_autograder").decode()
    assert "hw5grade\" fixtures --staff --edition 2019" in setup
    assert f'export {gradescope_bundle.ARGS_ENV}="--edition 2019' in run
    args = gradescope_bundle.grade_args(tmp_path / "sub", tmp_path / "out", "--edition 2019")
    assert args.edition == "2019"
