"""The grading plugin, the rubric, typed failures, static checks and the grade command's
guarantees, on small synthetic suites (no student code needed)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graders.results import messages
from graders.checks import rubric
from graders.checks import static
from support import REPO, hw5grade

HANDOUT_2022 = next((REPO.parent / "shared" / "seeds").glob("001_*.txt"), None) \
    if (REPO.parent / "shared" / "seeds").is_dir() else None

SUITE = '''
import pytest
from graders.results import messages


@pytest.mark.rubric("Q2.1.2", weight=2)
def test_pass(request):
    """passes"""
    # what the torch_run fixture records on a machine with GPUs (graders.sandbox.gpus)
    request.node.user_properties.append(("hw5grade_device", ("run_q6_1_1.py", "GPU 1 (NVIDIA H100)")))


@pytest.mark.rubric("Q2.1.2")
def test_mismatch():
    """fails with a mismatch"""
    raise messages.Mismatch("sigmoid(0)", 0.5, 0.7, hint="look again")


@pytest.mark.rubric("Q2.2.1")
def test_timeout():
    """times out"""
    raise messages.StudentError("timed out after 10 s", timeout=True)


@pytest.mark.rubric("Q2.2.1")
def test_harness_bug():
    """the grader breaks"""
    {}["missing"]


@pytest.mark.rubric("Q2.2.1")
def test_dependency():
    """skipped by a dependency"""
    pytest.skip("nn.py did not import")


@pytest.mark.rubric("Q2.2.2", visibility="hidden")
def test_hidden():
    """compares with the reference"""


@pytest.mark.rubric("Q2.2.2")
def test_plain_assert():
    """a plain assert"""
    assert 1 == 2, "one is not two"


@pytest.mark.rubric("Q3.1")
def test_training():
    """trains (Q3.1 is in the training tier)"""


@pytest.fixture
def broken_fixture():
    raise RuntimeError("fixture bug")


@pytest.mark.rubric("Q2.2.3")
def test_fixture_error(broken_fixture):
    """its fixture breaks"""


def test_unmarked():
    pass
'''


def run_pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_suite.py").write_text(SUITE)
    # as grade.pytest_args loads them: the plugin by name, xdist only for -n
    plugin = ["--disable-plugin-autoload", "-p", "graders.checks.plugin"]
    if "-n" in args:
        plugin += ["-p", "xdist.plugin"]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(tmp_path / "test_suite.py"), *args],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


def results_of(tmp_path: Path, *args: str) -> dict:
    path = tmp_path / "results.json"
    proc = run_pytest(tmp_path, "--submission", str(tmp_path), "--results", str(path), *args)
    assert path.exists(), proc.stdout + proc.stderr
    return json.loads(path.read_text())


def test_plugin_is_inert_without_submission(tmp_path):
    proc = run_pytest(tmp_path, "--strict-markers", "-k", "pass or unmarked or hidden")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
    assert not (tmp_path / "results.json").exists()


@pytest.fixture(scope="module")
def public_quick(tmp_path_factory):
    return results_of(tmp_path_factory.mktemp("serial"), "--visibility", "public", "--quick")


def test_statuses(public_quick):
    status = {c["name"]: c["status"] for c in public_quick["checks"]}
    assert status == {
        "test_pass": "passed", "test_mismatch": "failed", "test_timeout": "timeout",
        "test_harness_bug": "error", "test_dependency": "skipped", "test_hidden": "hidden-not-run",
        "test_plain_assert": "failed", "test_training": "skipped", "test_fixture_error": "error",
    }


def test_messages_and_descriptions(public_quick):
    checks = {c["name"]: c for c in public_quick["checks"]}
    assert checks["test_mismatch"]["description"] == "fails with a mismatch"
    assert checks["test_mismatch"]["expected"] == "0.5" and checks["test_mismatch"]["actual"] == "0.7"
    assert checks["test_mismatch"]["hint"] == "look again"
    assert checks["test_dependency"]["message"] == "nn.py did not import"
    assert "not your fault" in checks["test_harness_bug"]["message"]
    assert checks["test_plain_assert"]["message"] == "one is not two"
    assert checks["test_training"]["not_run"] == "quick"


def test_points_split_by_weight(public_quick):
    checks = {c["name"]: c for c in public_quick["checks"]}
    assert checks["test_pass"]["max_points"] == 2.0 and checks["test_pass"]["points"] == 2.0
    assert checks["test_mismatch"]["max_points"] == 1.0 and checks["test_mismatch"]["points"] == 0
    q = public_quick["questions"]
    assert (q["Q2.1.2"]["score"], q["Q2.1.2"]["max_score"]) == (2.0, 3.0)
    assert q["Q2.2.1"]["score"] == 0 and q["Q2.2.1"]["max_score_run"] == 4.0
    # the hidden check keeps its share; the run's maximum leaves it out
    assert q["Q2.2.2"]["max_score_run"] == 1.5 and "hidden" in q["Q2.2.2"]["status"]
    assert q["Q3.1"]["score"] is None and "--quick" in q["Q3.1"]["status"]
    assert q["Q2.3.1"]["status"] == "not graded by this version" and q["Q2.3.1"]["score"] is None
    assert q["Q1.5"]["status"] == "graded by hand"
    assert public_quick["score"] == 2.0
    assert public_quick["max_score"] == 3.0 + 4.0 + 1.5 + 3.0      # Q2.1.2 + Q2.2.1 + Q2.2.2 + Q2.2.3
    assert any("hidden check" in n for n in public_quick["notes"])
    assert any("Q2.3.1" in n for n in public_quick["notes"])


def test_a_failed_check_is_logged_as_its_message_and_a_harness_bug_as_its_traceback(tmp_path):
    proc = run_pytest(tmp_path, "--submission", str(tmp_path), "--results", str(tmp_path / "r.json"),
                      "--quick", "--tb=short", "-k", "mismatch or harness_bug")
    mismatch = proc.stdout.split("_ test_mismatch _")[1].split("_ test_harness_bug _")[0]
    assert "Mismatch: sigmoid(0)" in mismatch and "hint: look again" in mismatch
    assert "raise messages.Mismatch" not in mismatch          # no traceback of the check's code
    assert '{}["missing"]' in proc.stdout and "KeyError" in proc.stdout


def test_xdist_gives_the_same_results(public_quick, tmp_path):
    spread = results_of(tmp_path, "--visibility", "public", "--quick", "-n", "2")

    def view(results):
        return sorted((c["nodeid"].split("::")[-1], c["status"], c["message"], c["points"], c["max_points"])
                      for c in results["checks"])
    assert view(spread) == view(public_quick)
    assert spread["questions"] == public_quick["questions"]
    assert spread["devices"] == public_quick["devices"]      # the record crosses from the xdist worker


def test_where_each_pytorch_script_ran_is_in_the_document_and_the_notes(public_quick):
    assert public_quick["devices"] == {"run_q6_1_1.py": "GPU 1 (NVIDIA H100)"}
    assert "where the PyTorch scripts ran: run_q6_1_1.py on GPU 1 (NVIDIA H100)" in public_quick["notes"]
    assert "hw5grade_device" not in next(c for c in public_quick["checks"] if c["name"] == "test_pass")


def test_all_visibility_runs_hidden_checks(tmp_path):
    results = results_of(tmp_path, "-k", "hidden or plain_assert")
    status = {c["name"]: c["status"] for c in results["checks"] if not c.get("not_run")}
    assert status == {"test_hidden": "passed", "test_plain_assert": "failed"}
    assert results["questions"]["Q2.2.2"]["score"] == 1.5


def test_grade_json_is_written_when_pytest_fails(tmp_path):
    proc = hw5grade("grade", REPO / "reference" / "python", "--out", tmp_path, "--edition", "1999", timeout=120)
    assert proc.returncode == 2
    results = json.loads((tmp_path / "grade.json").read_text())
    assert results["error"] and results["score"] == 0 and results["checks"] == []
    assert "ERROR" in proc.stdout


def test_rubric_points_match_the_2022_handout():
    if HANDOUT_2022 is None:
        pytest.skip("the 2022 handout is not in ../shared/seeds")
    stated = dict(re.findall(r"^(Q\d(?:\.\d)+) [^\[\n]*\[(\d+) points\]", HANDOUT_2022.read_text(), re.M))
    r = rubric.load("2022")
    handout_questions = {qid: q for qid, q in r.questions.items() if qid != "Static"}
    assert set(handout_questions) == set(stated)
    for qid, points in stated.items():
        assert r[qid].points == float(points), qid
    hand = {"Q1.1", "Q1.2", "Q1.3", "Q1.4", "Q1.5", "Q1.6", "Q2.1.1", "Q2.1.3", "Q3.2", "Q3.3", "Q3.4",
            "Q4.1", "Q4.3", "Q5.3.1"}
    assert {qid for qid, q in handout_questions.items() if q.kind == "hand"} == hand
    assert r["Q2.5"].threshold("total_relative_error") == 1e-4
    assert all(q.extra_credit for qid, q in r.questions.items() if qid.startswith("Q6"))


def test_unknown_question_is_a_rubric_error():
    with pytest.raises(rubric.RubricError):
        rubric.load("2022")["Q9.9"]
    with pytest.raises(rubric.RubricError):
        rubric.load("1999")


def test_typed_failures_render_uniformly():
    rendered = messages.Mismatch("loss", 55.45, 1.386, hint="did you take the mean?").render()
    assert rendered == {"message": "loss: expected 55.45, got 1.386", "expected": "55.45",
                        "actual": "1.386", "hint": "did you take the mean?"}
    missing = messages.Missing("params['cache_layer1']", "params", present=["Wlayer1"]).render()
    assert "cache_layer1" in missing["message"] and "'Wlayer1'" in missing["message"]
    assert "not implemented yet" in messages.NotImplementedYet("sigmoid in nn.py").render()["message"]
    assert messages.StudentError("timed out", timeout=True).status == "timeout"
    text = messages.render_text(rendered)
    assert "hint: did you take the mean?" in text and text.count("55.45") == 1


def test_static_checks(tmp_path):
    (tmp_path / "nn.py").write_text(
        "import numpy as np\nimport cv2\nfrom util import *\nfrom skimage.color import rgb2grey\n"
        "EPS = 1e-6\n'''doc'''\nprint('hi')\nparams = {}\nparams['W'] = 1\n"
        "def f(x):\n    import sklearn\n    return np.float(x) + label(x, neighbors=8).sum()\n"
        "if __name__ == '__main__':\n    f(1)\n")
    (tmp_path / "util.py").write_text("import torch\n")        # a given file: not judged
    (tmp_path / "run_q6.py").write_text("import torch\n")      # the PyTorch part may import torch
    assert [(f.file, f.line, f.text) for f in static.forbidden_imports(tmp_path)] == [
        ("nn.py", 2, "imports cv2"), ("nn.py", 11, "imports sklearn")]
    assert [f.line for f in static.code_outside_functions(tmp_path / "nn.py")] == [7, 9]
    drift = " | ".join(map(str, static.drift_findings(tmp_path / "nn.py")))
    assert "rgb2gray" in drift and "np.float" in drift and "connectivity=" in drift
    hints = static.drift_hints_for_error("nn.py raised AttributeError: module 'numpy' has no attribute 'float'.")
    assert hints == ["np.float was removed in NumPy 1.24: use float (or np.float64)"]
    assert static.drift_hints_for_error(
        "q4.py raised TypeError: gaussian() got an unexpected keyword argument 'multichannel'")[0].startswith(
        "use channel_axis=-1")


def test_a_file_too_deep_for_the_parser_is_unreadable_not_a_grader_crash(tmp_path):
    """The grading process parses from deeper in its stack than the sandbox imports: a file nested
    thousands deep imported there and crashed the end of the run here (a grade discarded as a
    grader error). Now it reads as a file that does not parse."""
    (tmp_path / "nn.py").write_text("import numpy as np\n\ndef unused():\n    return a" + ".b" * 200_000 + "\n")
    with pytest.raises(SyntaxError, match="could not be read by the grader's parser"):
        static.scan(tmp_path / "nn.py")
    assert static.forbidden_imports(tmp_path) == [] and static.removed_names_in(tmp_path) == []


def test_each_edition_judges_the_imports_of_its_own_numpy_files(tmp_path):
    """2019's run_q6.py is its PCA (the NumPy part): sklearn there is flagged; 2022's run_q6.py
    would be PyTorch and is not judged."""
    from graders.checks import rubric as rubric_mod
    (tmp_path / "run_q6.py").write_text("import numpy as np\nfrom sklearn.decomposition import PCA\n")
    fall_2019, spring_2022 = (static.student_files(rubric_mod.load(e)) for e in ("2019", "2022"))
    assert "run_q6.py" in fall_2019 and "run_q6.py" not in spring_2022 and "util.py" not in fall_2019
    assert [(f.file, f.line, f.text) for f in static.forbidden_imports(tmp_path, fall_2019)] == [
        ("run_q6.py", 2, "imports sklearn")]
    assert static.forbidden_imports(tmp_path, spring_2022) == []


def test_checks_that_never_report_are_errors(tmp_path):
    """-x stops after the first failure: the checks left are errors, never silent zeros."""
    results = results_of(tmp_path, "-x")
    status = {c["name"]: c["status"] for c in results["checks"]}
    assert status["test_pass"] == "passed" and status["test_mismatch"] == "failed"
    left = [c for c in results["checks"] if c["name"] not in ("test_pass", "test_mismatch")]
    assert left and all(c["status"] == "error" and "did not report" in c["message"] for c in left)
