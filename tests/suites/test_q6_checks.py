"""The PyTorch checks (Q6) judged on known submissions: the reference, the stubs and the wrong
submissions in tests/wrong/q6_*.

The reference is graded once per test session with the Q6 suite only (-n 2: two scripts train
side by side); each wrong submission is graded with the checks of the one script it changes.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from graders.staff import stubs
from support import assert_fails_exactly, check, grade_cli, not_passed, ran, shared_grade

# the tables stay importable without torch (tests/suites/test_wrong_submissions.py reads them)
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None,
    reason="torch and torchvision are not installed (tox -e tests installs them)")

REPO = Path(__file__).resolve().parents[2]
WRONG = Path(__file__).resolve().parents[1] / "wrong"
QUESTIONS = ("Q6.1.1", "Q6.1.2", "Q6.1.3", "Q6.1.4", "Q6.2.1")


def per_script(group: str, *names: str) -> set[str]:
    return {f"{name}[{group}]" for name in names}


Q6_1_CHECKS = ("q6_script_finishes", "q6_plots", "q6_loss_falls", "q6_model_saved", "q6_heldout_accuracy")
# name -> (the -k selection graded, the checks (test_ dropped) that must NOT pass; the others must pass)
EXPECTED = {
    # the loss stays flat and the saved network is at chance: running, plotting and saving count
    # only for a model that learned
    "q6_no_training": ("q6_1_1", per_script("q6_1_1", *Q6_1_CHECKS)),
    # raises after the first epoch: nothing plotted or saved, a single printed loss
    "q6_crash_half_way": ("q6_1_2", per_script("q6_1_2", *Q6_1_CHECKS)),
    # nothing measured: its falling loss is only the script's word
    # no file, but the handout asks for none: the model it left in `model` is measured instead
    "q6_never_saves": ("q6_1_3", set()),
    # saved before training: its falling loss is not that of the model it saved (at chance)
    "q6_saves_before_training": ("q6_1_1", per_script("q6_1_1", *Q6_1_CHECKS)),
    # the features change; training all of the stand-in SqueezeNet at the classifier's learning
    # rate also ruins it (chance), so running, plotting and its 17 outputs count for nothing; the
    # CNN from scratch is unaffected
    "q6_whole_squeezenet": ("q6_2_1", per_script("q6_2_1", "q6_2_1_only_classifier_trained",
                                                 "q6_2_1_classifier_has_17_outputs",
                                                 "q6_2_1_finetuned_accuracy", "q6_script_finishes", "q6_plots")),
}
# name -> [(check, field, words the failure must show)]
SAYS = {
    "q6_no_training": [("q6_loss_falls[q6_1_1]", "message", "plotted loss curve went from"),
                       ("q6_heldout_accuracy[q6_1_1]", "hint", "about chance"),
                       ("q6_script_finishes[q6_1_1]", "message", "counts for a script that trained its model")],
    "q6_crash_half_way": [("q6_script_finishes[q6_1_2]", "message", "raised RuntimeError"),
                          ("q6_model_saved[q6_1_2]", "message", "did not save q6_1_2_model.pt (run_q6_1_2.py stopped early")],
    "q6_saves_before_training": [("q6_loss_falls[q6_1_1]", "message", "not those of its training")],
    "q6_whole_squeezenet": [("q6_2_1_only_classifier_trained[q6_2_1]", "message", "pretrained feature tensors changed"),
                            ("q6_2_1_only_classifier_trained[q6_2_1]", "hint", "requires_grad = False")],
}


@pytest.fixture(scope="session")
def reference_q6(tmp_path_factory, worker_id):
    """The reference graded once per test session with the Q6 suite (-n 2)."""
    return shared_grade(tmp_path_factory, worker_id, "reference-q6-grade", REPO / "reference" / "python",
                        "-n", "2", "-k", "q6")


@pytest.mark.slow
def test_reference_scores_full_marks_on_q6(reference_q6):
    results, out = reference_q6
    names = {c["name"] for c in ran(results)}
    # Static: the advisory check of the repairs (no points), whatever the selection
    assert {c["question"] for c in ran(results)} - {"Static"} == set(QUESTIONS)
    assert not_passed(results) == set()
    for q in QUESTIONS:
        assert results["questions"][q]["score"] == results["questions"][q]["max_score"] > 0, q
    assert "test_q6_2_1_only_classifier_trained[q6_2_1]" in names
    print(f"\nreference, Q6 suite, -n 2: {results['timings']['wall_seconds']:.1f} s wall; "
          + ", ".join(f"{c['name']}: {c['data']['seconds']} s" for c in ran(results) if "seconds" in c.get("data", {})))


@pytest.mark.slow
def test_reference_q6_report_data(reference_q6):
    """What the grader measured reaches grade.json: accuracies with the preprocessing chosen,
    the loss curves read from the plots, the figures, and the note about the stand-ins."""
    results, out = reference_q6
    for c in ran(results):
        data = c.get("data", {})
        if "heldout_accuracy" in c["name"] or "accuracy[" in c["name"]:
            assert data["heldout_accuracy"] == max(data["accuracies"].values()), c
            assert data["preprocessing"] in data["accuracies"]
            assert sum(map(sum, data["confusion_matrix"])) > 0
        if c["name"].startswith("test_q6_loss_falls"):
            assert data["loss_source"] == "plotted loss curve" and data["losses"][-1] < data["losses"][0]
        if c["name"].startswith("test_q6_plots"):
            assert data["figures"] and all((out / f).read_bytes().startswith(b"\x89PNG") for f in data["figures"])
    assert any("stand-ins" in note and "SqueezeNet" in note for note in results["notes"])
    assert results["isolation"] in ("bubblewrap", "none (local feedback)")


@pytest.mark.slow
def test_stubs_score_zero_on_q6_with_messages(tmp_path):
    stubs.generate(REPO / "reference", tmp_path / "student")
    results = grade_cli(tmp_path / "student" / "python", tmp_path / "out", "-n", "2", "-k", "q6")
    for q in QUESTIONS:
        assert results["questions"][q]["score"] == 0, q
    for c in ran(results):
        if c["question"] == "Static":       # the repairs' advisory check (no points)
            continue
        assert c["status"] in ("failed", "skipped") and c["message"], c
        if c["status"] == "failed":
            assert c.get("hint") or c.get("expected") or c.get("traceback"), c
    finishes = check(results, "q6_script_finishes[q6_1_1]")
    assert "None" in finishes["message"] and "your code here" in finishes["hint"]


def test_every_q6_wrong_submission_exists():
    folders = {p.name for p in WRONG.glob("q6_*") if p.is_dir()}
    assert folders == set(EXPECTED), f"not in EXPECTED: {sorted(folders - set(EXPECTED))}"
    for name in EXPECTED:
        assert list((WRONG / name).glob("run_q6_*.py.diff")) or list((WRONG / name).glob("run_q6_*.py")), name
        assert (WRONG / name / "README").read_text().strip(), name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_q6_wrong_submission_fails_exactly_its_checks(name, make_submission, tmp_path):
    selection, expected = EXPECTED[name]
    results = grade_cli(make_submission(WRONG / name), tmp_path / "out", "-k", selection)
    assert_fails_exactly(results, expected, SAYS.get(name, []))
    if name == "q6_never_saves":
        assert "variable model (it saved no q6_1_3_model.pt" in \
            check(results, "q6_model_saved[q6_1_3]")["data"]["measured"]


def test_without_torch_q6_says_so(tmp_path, monkeypatch):
    """A grading environment without PyTorch: the Q6 checks are skipped with a message saying
    what is missing, and nothing else breaks."""
    import importlib.util
    from graders.pipeline import grade
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] in ("torch", "torchvision") else real(name, *a))
    results = grade.run(REPO / "reference" / "python", tmp_path / "out", select="q6_plots")
    assert "error" not in results
    checks = ran(results)
    assert len(checks) == len(QUESTIONS)
    for c in checks:
        assert c["status"] == "skipped" and "torch and torchvision are not installed" in c["message"], c


@pytest.mark.slow
def test_q6_grading_twice_gives_the_same_grade(tmp_path):
    """The reference's run_q6_1_1.py seeds torch itself, so a copy without that seed stands for
    the usual student script: the worker's seed makes its grade repeatable all the same."""
    python = tmp_path / "sub" / "python"
    python.mkdir(parents=True)
    source = (REPO / "reference" / "python" / "run_q6_1_1.py").read_text()
    assert "torch.manual_seed(0)" in source
    (python / "run_q6_1_1.py").write_text(source.replace("torch.manual_seed(0)", "pass"))
    runs = [grade_cli(python, tmp_path / f"out{i}", "-k", "q6_1_1") for i in range(2)]
    views = [sorted((c["name"], c["status"], c["message"], c["points"], json.dumps(c.get("data", {}).get("accuracies")))
                    for c in ran(r)) for r in runs]
    assert views[0] == views[1]
    assert check(runs[0], "q6_heldout_accuracy[q6_1_1]")["status"] == "passed"


def as_notebook(source: str, heading: str) -> str:
    """A script as a student's notebook: a markdown heading, then one code cell per blank-line block."""
    import nbformat
    blocks = [b for b in source.split("\n\n") if b.strip()]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(heading)]
                                  + [nbformat.v4.new_code_cell(b) for b in blocks])
    return nbformat.writes(nb)


@pytest.mark.slow
def test_scripts_under_other_names_and_notebooks_are_found_and_graded(make_submission, tmp_path):
    """The handout names no PyTorch scripts: run_q611.py answers Q6.1.1 by its name, a notebook
    answers Q6.1.2 by its heading and content, and a missing Q6.1.3 fails saying what was looked for;
    the notes say which file was graded as which question."""
    python = make_submission()
    (python / "run_q6_1_1.py").rename(python / "run_q611.py")
    source = (python / "run_q6_1_2.py").read_text()
    (python / "run_q6_1_2.py").unlink()
    (python / "pytorch_part.ipynb").write_text(as_notebook(source, "## Q6.1.2: a CNN on NIST36"))
    (python / "run_q6_1_3.py").unlink()
    results = grade_cli(python, tmp_path / "out", "-n", "2", "-k", "q6_1_1 or q6_1_2 or q6_1_3")
    for q in ("Q6.1.1", "Q6.1.2"):
        assert results["questions"][q]["score"] == results["questions"][q]["max_score"] > 0, \
            [(c["name"], c["message"]) for c in ran(results) if c["question"] == q and c["status"] != "passed"]
    assert any(n.startswith("Q6.1.1 graded from run_q611.py") for n in results["notes"]), results["notes"]
    assert any(n.startswith("Q6.1.2 graded from pytorch_part.ipynb") for n in results["notes"]), results["notes"]
    assert results["questions"]["Q6.1.3"]["score"] == 0
    finishes = check(results, "q6_script_finishes[q6_1_3]")
    assert "nothing found to grade" in finishes["message"] and "CIFAR" in finishes["message"], finishes


def test_a_ta_map_that_cannot_be_read_stops_before_grading(tmp_path):
    from support import hw5grade
    bad = tmp_path / "map.toml"
    bad.write_text('"Q6.1.2" = 3\n')
    done = hw5grade("grade", REPO / "reference" / "python", "--out", tmp_path / "out", "--map", bad, "-k", "q6_1_2")
    assert done.returncode == 2 and "--map" in done.stderr and "Q6.1.2" in done.stderr
    assert not (tmp_path / "out" / "grade.json").exists()
