"""The student handout (`hw5grade release`): nothing of the solution in it, and it works alone.

The slow test runs the handout's own tox in an empty folder, as a student does: tox builds the
package from the handout's pyproject.toml (from the registry, so the first run takes minutes).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graders.staff import release
from graders.staff import stubs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "handout"
    release.build(out)
    return out


def text_files(root: Path):
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            yield path, path.read_text()
        except UnicodeDecodeError:
            continue


def test_no_solution_line_in_any_handout_file(handout):
    lines = release.solution_lines()
    # the search must be able to find something: most distinct solution lines survive the filter
    # (of the stubs' own lines and the common ones); the scripts repeat many lines, so distinct
    total = {line for p in (REPO / "reference" / "python").glob("*.py") for line in stubs.solution_lines(p.read_text())
             if not release.TRIVIAL.fullmatch(line)}
    assert len(lines) > 0.8 * len(total)
    found = [f"{path.relative_to(handout)}: {line.strip()}"
             for path, text in text_files(handout) for line in text.splitlines()
             if any(s in line for s in lines)]
    assert found == []


def test_the_leak_search_finds_a_planted_solution_line(handout, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(handout, copy)
    planted = sorted(release.solution_lines(), key=len)[-1]
    with open(copy / "graders" / "checks" / "numerics.py", "a") as f:
        f.write(f"\n#    {planted}\n")
    assert [hit.split(":")[0] for hit in release.leaks(copy)] == ["graders/checks/numerics.py"]


def test_only_what_students_may_see(handout):
    names = {str(p.relative_to(handout)) for p in handout.rglob("*") if p.is_file()}
    assert {"README.md", "tox.ini", "pyproject.toml", "fixtures/command.py", "graders/cli.py",
            "graders/suites/q2_network.py", "graders/given/util.py", "graders/sandbox/shipped/worker.py",
            "graders/pipeline/grade.py", "graders/results/grade.schema.json",
            "report_templates/report.html.j2"} <= names
    assert not any(n.startswith("graders/staff/") for n in names)      # staff-only, the whole folder
    assert not any(n.startswith(("reference/", "tests/", "student/")) for n in names)
    hidden = {p.name for p in release.hidden_suites()}
    assert hidden, "the hidden checks have a suite of their own"
    assert not {Path(n).name for n in names} & (hidden | {"staff_solution.py", "stubs.py", "release.py",
                                                           "gradescope_bundle.py", "batch.py", "similarity.py"})
    assert not any(Path(n).suffix in (".pickle", ".pkl", ".npy", ".npz", ".png", ".jpg", ".mat")
                   for n in names)
    for path, text in text_files(handout):
        if path.suffix == ".py":
            assert "graders.staff.staff_solution" not in release.imported_modules(text), path
            assert "load_reference_module" not in text, path
        if path.parent.name == "suites" and not path.name.startswith(release.DECLARED_PREFIX):
            assert 'visibility="hidden"' not in text, path
    # the stub tree is the generated one, and the given util.py is the handout's
    for path in (REPO / "student" / "python").glob("*.py"):
        assert (handout / "python" / path.name).read_text() == path.read_text()
    assert (handout / "graders/given/util.py").read_text() == (REPO / "reference/python/util.py").read_text()


def test_hidden_checks_are_declared_without_code(handout):
    declared = list((handout / "graders" / "suites").glob(f"{release.DECLARED_PREFIX}*.py"))
    assert declared
    text = "".join(p.read_text() for p in declared)
    assert "test_backwards_matches_reference" in text and "visibility='hidden'" in text
    assert "reference_nn" not in text and "nn.value" not in text


def test_readme_says_how_and_what(handout):
    readme = (handout / "README.md").read_text()
    for phrase in ("pip install tox", "`tox`", "tox -e quick", "feedback/report.html",
                   "Hidden checks exist", "Q2.3.1", "by hand"):
        assert phrase in readme


def test_release_refuses_a_folder_in_use(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(release.ReleaseError, match="not empty"):
        release.build(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_unsafe_suites_and_missing_modules_are_refused():
    problems = release.check_public_suites({
        "graders/suites/q9.py": '@pytest.mark.rubric("Q2.2.1", visibility="hidden")\ndef test_x(): pass\n',
        "graders/suites/q8.py": "from graders.staff.staff_solution import load_reference_module\n"})
    assert len(problems) == 2
    problems = release.check_closure({"graders/__init__.py": "", "graders/pipeline/grade.py": "from graders.staff import stubs\n"})
    assert problems == ["graders/pipeline/grade.py imports graders.staff, which the handout does not ship",
                        "graders/pipeline/grade.py imports graders.staff.stubs, which the handout does not ship"]


def tox(handout: Path, *args: str) -> subprocess.CompletedProcess:
    # the handout must stand alone: nothing of this checkout on the path, and none of the outer
    # tox's variables (its TOX_WORK_DIR would put the handout's environments in our .tox)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("TOX_")}
    return subprocess.run([sys.executable, "-m", "tox", *args], cwd=handout, env=env,
                          capture_output=True, text=True, timeout=1800)


@pytest.mark.slow
def test_handout_grades_with_its_own_tox(handout, tmp_path):
    """`tox -e quick` in the handout: the stubs score zero with messages; the reference's files
    get every public point that ran."""
    work = tmp_path / "handout"
    shutil.copytree(handout, work)
    done = tox(work, "-e", "quick")
    assert (work / "feedback" / "grade.json").is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    grade = json.loads((work / "feedback" / "grade.json").read_text())
    assert "error" not in grade, done.stdout + done.stderr
    assert grade["visibility"] == "public" and grade["score"] == 0 and grade["max_score"] > 0
    failed = [c for c in grade["checks"] if c["status"] in ("failed", "error", "timeout")]
    assert failed and all(c["message"] for c in failed)
    assert any("not implemented yet" in c["message"] for c in failed)
    hidden = [c for c in grade["checks"] if c["status"] == "hidden-not-run"]
    assert [c["name"] for c in hidden] == ["test_backwards_matches_reference"]
    assert "TOTAL" in done.stdout
    # staff commands are not in the handout, and say so instead of failing obscurely
    hw5grade = work / ".tox" / "quick" / "bin" / "hw5grade"
    staff = subprocess.run([str(hw5grade), "stubs"], capture_output=True, text=True, cwd=work)
    assert staff.returncode != 0 and "unavailable" in staff.stderr

    for path in (REPO / "reference" / "python").glob("*.py"):
        shutil.copyfile(path, work / "python" / path.name)
    done = tox(work, "-e", "quick")
    grade = json.loads((work / "feedback" / "grade.json").read_text())
    public_max = sum(c["max_points"] for c in grade["checks"] if not c.get("not_run"))
    not_passed = [c["nodeid"] for c in grade["checks"] if c["status"] != "passed" and not c.get("not_run")]
    assert not_passed == [], done.stdout
    # each check's share is rounded to 1e-4, so their sum may differ from the total by that much
    assert grade["score"] == pytest.approx(public_max, abs=1e-3) == pytest.approx(grade["max_score"], abs=1e-3)
    assert public_max > 0
    assert (work / "feedback" / "report.html").is_file()
