"""A course's download as TAs get it: folders, zips, notebooks, wrong, hostile and unreadable
submissions in one folder, graded by one `hw5grade batch`. Every submission gets a report, the
batch never stops, each grade equals grading that submission alone, and a local Dask cluster
gives the same grades as the local pool.

Kept to the Q2 and static checks (test_batch.SELECT; the attacks sit in sigmoid): the subject is
the batch, not the checks.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import build_submission
from graders.pipeline import grade
from graders.pipeline import ingest
from support import REPO
from test_batch import SELECT, batch_cli, grades, sub_out, verdicts
from test_ingest import definition_cells, make_zip, source, unix_info, write_notebook

WRONG = REPO / "tests" / "wrong"
HOSTILE = REPO / "tests" / "hostile"


def zip_folder(python_dir: Path, path: Path, prefix: str = "") -> Path:
    return make_zip(path, {f"{prefix}{p.name}": p.read_bytes() for p in python_dir.glob("*.py")})


def hostile(root: Path, name: str) -> Path:
    """The reference with the hostile submission's files in place (as tests/test_hostile_grading)."""
    python_dir = build_submission(root / "build" / name)
    for path in (HOSTILE / name / "python").glob("*.py"):
        shutil.copy(path, python_dir / path.name)
    return python_dir


@pytest.fixture(scope="module")
def download(tmp_path_factory) -> Path:
    """Fourteen entries of every kind, named as the course's download names them."""
    root = tmp_path_factory.mktemp("download")
    subs = root / "submissions"
    subs.mkdir()
    build_submission(subs / "alice")                                        # a folder holding python/
    reference = build_submission(root / "build" / "reference")
    zip_folder(reference, subs / "bob.zip")                                 # the handout's zip: files at the top
    zip_folder(reference, subs / "carol.zip", prefix="carol/python/")      # one wrapping folder
    # notebooks: unmarked cells (the definitions are picked out), and Colab's %%writefile cells
    write_notebook(subs / "dave.ipynb", definition_cells(source("nn.py")) + definition_cells(source("q4.py"))
                   + [f"%%writefile run_q2.py\n{source('run_q2.py')}"])
    write_notebook(subs / "erin.ipynb", [f"%%writefile {name}\n{source(name)}" for name in ("nn.py", "q4.py", "run_q2.py")])
    build_submission(subs / "frank", WRONG / "softmax_no_shift")
    zip_folder(build_submission(root / "build" / "grace", WRONG / "sigmoid_nan"), subs / "grace.zip")
    build_submission(subs / "heidi", base=REPO / "student" / "python")    # the stubs, untouched
    shutil.copytree(hostile(root, "fork_bomb").parent, subs / "ivan")
    zip_folder(hostile(root, "print_flood"), subs / "judy.zip")
    shutil.copytree(hostile(root, "exit_at_import").parent, subs / "mallory")
    make_zip(subs / "oscar.zip", {"python/nn.py": source("nn.py"), "../../escape.py": "print('out')\n"})
    (subs / "peggy.zip").write_bytes(zip_folder(reference, root / "whole.zip").read_bytes()[:700])
    make_zip(subs / "trent.zip", {"nn.py": source("nn.py")}, infos=[(unix_info("q4.py", 0o120777), b"/etc/passwd")])
    return subs


@pytest.fixture(scope="module")
def graded(download, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("batch")
    proc = batch_cli(download, out, "-j", "2", timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def names(download: Path) -> list[str]:
    return [sub.name for sub in ingest.discover(download)]


def test_every_submission_of_every_kind_gets_a_report(download, graded):
    found = ingest.discover(download)
    assert len(found) >= 12
    assert {s.kind for s in found} == {"folder", "zip", "notebook"}
    for name in names(download):
        for file in ("grade.json", "report.html", "results.json"):
            assert (sub_out(graded, name) / file).is_file(), f"{name}/{file}"
    assert (graded / "index.html").is_file() and (graded / "grades.csv").is_file()
    index = (graded / "index.html").read_text()
    assert all(f'href="submissions/{name}/report.html"' in index for name in names(download))


def test_what_cannot_be_unpacked_says_why_and_scores_nothing(graded):
    results = grades(graded, ["oscar", "peggy", "trent"])
    for name, words in (("oscar", ".."), ("peggy", "zip"), ("trent", "link")):
        assert results[name]["score"] == 0
        assert words in results[name]["error"], (name, results[name]["error"])
    assert not (graded.parent / "escape.py").exists()


def test_the_right_submissions_earn_what_the_reference_earns(download, graded):
    results = grades(graded, names(download))
    full = results["alice"]["score"]
    assert full == results["alice"]["max_score"] > 0
    for name in ("bob", "carol", "dave", "erin"):
        assert results[name]["score"] == full, (name, [(c["name"], c["message"]) for c in results[name]["checks"]
                                                        if c["status"] != "passed"])
    for name in ("frank", "grace", "heidi", "ivan", "judy", "mallory"):
        assert results[name]["score"] < full, name


def test_each_grade_equals_grading_that_submission_alone(download, graded, tmp_path):
    in_batch = grades(graded, names(download))
    for sub in ingest.discover(download):
        try:
            prepared = ingest.prepare(sub, tmp_path / "prepared")
        except ingest.IngestError:
            continue
        alone = grade.run(prepared.folder, tmp_path / "alone" / sub.name, quick=True, select=SELECT[-1],
                          strict="--strict" in SELECT)
        assert verdicts(in_batch[sub.name]) == verdicts(alone), sub.name


def test_a_local_dask_cluster_gives_the_same_grades(download, graded, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        proc = batch_cli(download, tmp_path / "out", "--scheduler", cluster.scheduler_address, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    on_dask, local = grades(tmp_path / "out", names(download)), grades(graded, names(download))
    for name in names(download):
        assert verdicts(on_dask[name]) == verdicts(local[name]), name
        assert (sub_out(tmp_path / "out", name) / "report.html").is_file()
