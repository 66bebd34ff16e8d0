"""The course secret (graders.checks.secret): staff grading draws its photos, their truth, the grader-only
NIST36 split and its run seeds from a key the handout never holds, so nothing a student can
compute from the handout (the public seed, their own cache) earns points there.

The hostile submissions below each pass under the public seed, as a student sees them pass in
`tox`, and earn nothing under a staff key: (a) findLetters looking boxes up by image size in the
student's own truth/pages.json, (b) run_q4 printing the public pages' text, (c) run_q3 training on
nist36_valid, judged on the split the sandbox never mounts, (d) the run seed under a key, which
no student can reproduce offline. The key here is a test key (TEST_KEY), never the staff's own.
"""
from __future__ import annotations

import argparse
import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fixtures import cache
from graders.pipeline import grade
from graders.checks import secret
from support import check, grade_cli

TEST_KEY = "7e57" * 16          # these tests' course key; the staff's is made by `hw5grade secret`
KEY = bytes.fromhex(TEST_KEY)


@pytest.fixture
def no_key(monkeypatch, tmp_path):
    """No key in the environment, and the key file in a scratch folder (never the staff's)."""
    monkeypatch.delenv(secret.ENV_KEY, raising=False)
    monkeypatch.setenv(secret.ENV_FILE, str(tmp_path / "config" / "course.key"))
    return tmp_path / "config" / "course.key"


@pytest.fixture
def test_key(monkeypatch):
    monkeypatch.setenv(secret.ENV_KEY, TEST_KEY)
    return KEY


# --- the key ------------------------------------------------------------------------------------

def test_the_key_is_made_once_and_only_its_owner_reads_it(no_key):
    assert secret.staff_key() is None, "a student's local grade has no key and makes none"
    assert not no_key.exists()
    key = secret.staff_key(create=True)
    assert len(key) == secret.KEY_BYTES and stat.S_IMODE(no_key.stat().st_mode) == 0o600
    assert secret.staff_key(create=True) == secret.staff_key() == key, "made on first use only"
    assert [p.name for p in no_key.parent.iterdir()] == ["course.key"], "no temporary file left"


def test_the_environment_key_wins_and_a_broken_one_is_refused(no_key, monkeypatch):
    secret.staff_key(create=True)
    monkeypatch.setenv(secret.ENV_KEY, TEST_KEY)
    assert secret.staff_key() == KEY
    for bad in ("not hex", "abcd"):
        monkeypatch.setenv(secret.ENV_KEY, bad)
        with pytest.raises(secret.SecretError, match=secret.ENV_KEY):
            secret.staff_key()


def test_hw5grade_secret_says_where_the_key_is_and_never_prints_it(no_key, capsys):
    assert secret.main(argparse.Namespace(check=True)) == 1 and not no_key.exists()
    assert secret.main(argparse.Namespace(check=False)) == 0
    out = capsys.readouterr().out
    key = secret.staff_key()
    assert str(no_key) in out and secret.fingerprint(key) in out
    assert key.hex() not in out


def test_hw5grade_secret_warns_about_a_key_inside_a_repository(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(secret.ENV_KEY, raising=False)
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    monkeypatch.setenv(secret.ENV_FILE, str(tmp_path / "repo" / "keys" / "course.key"))
    assert secret.main(argparse.Namespace(check=False)) == 0
    assert f"inside the repository {tmp_path / 'repo'}" in capsys.readouterr().out


def test_derived_seeds_need_the_key():
    public, keyed, other = secret.derive(None, "pages"), secret.derive(KEY, "pages"), secret.derive(b"x" * 32, "pages")
    assert len({public, keyed, other}) == 3
    assert secret.derive(KEY, "pages") == keyed and secret.derive(KEY, "nist36 grader") != keyed
    assert all(0 <= s < 2 ** 63 for s in (public, keyed, other))
    assert secret.cache_tag(KEY) != secret.cache_tag(b"x" * 32) and TEST_KEY not in secret.cache_tag(KEY)


def test_d_the_run_seed_under_a_key_is_stable_per_submission_and_not_the_public_one(tmp_path):
    """A student who tries trailing comments offline until a weak loop passes learns nothing about
    the seed staff grading will use."""
    python = tmp_path / "python"
    python.mkdir()
    (python / "nn.py").write_text("x = 1\n")
    (python / "run_q3.py").write_text("print(1)\n")
    public, keyed = secret.run_seed(None, python), secret.run_seed(KEY, python)
    assert keyed != public and keyed == secret.run_seed(KEY, python), "stable for the same files"
    assert keyed != secret.run_seed(b"x" * 32, python)
    (python / "run_q3.py").write_text("print(1)\n# another try\n")
    assert secret.run_seed(KEY, python) not in (keyed, secret.run_seed(None, python))


def test_the_key_never_reaches_the_pytest_command_line(tmp_path):
    staff = grade.pytest_args(tmp_path, tmp_path / "r.json", visibility="all", quick=True, data_dir=None,
                              edition="2022", jobs=0, seed=None, staff=True)
    public = grade.pytest_args(tmp_path, tmp_path / "r.json", visibility="public", quick=True, data_dir=None,
                               edition="2022", jobs=0, seed=None)
    assert "--staff" in staff and "--staff" not in public
    assert not any(TEST_KEY in arg for arg in staff)


def test_release_refuses_a_handout_holding_the_key(test_key, tmp_path):
    from graders.staff import release
    (tmp_path / "graders").mkdir()
    (tmp_path / "graders" / "fine.py").write_text("x = 1\n")
    release.check_no_key(tmp_path)
    for i, leaked in enumerate((TEST_KEY.upper(), KEY)):
        path = tmp_path / f"leak{i}.bin"
        path.write_bytes(leaked.encode() if isinstance(leaked, str) else b"\0" + leaked)
        with pytest.raises(release.ReleaseError, match=path.name):
            release.check_no_key(tmp_path)
        path.unlink()


def test_the_gradescope_bundle_carries_the_key_to_run_autograder(test_key, tmp_path):
    from graders.staff import gradescope_bundle
    names = gradescope_bundle.build(tmp_path / "autograder.zip")
    with zipfile.ZipFile(tmp_path / "autograder.zip") as zf:
        assert zf.read(gradescope_bundle.KEY_NAME).decode().strip() == TEST_KEY
        assert stat.S_IMODE(zf.getinfo(gradescope_bundle.KEY_NAME).external_attr >> 16) == 0o600
        run = zf.read("run_autograder").decode()
        setup = zf.read("setup.sh").decode()
    assert gradescope_bundle.KEY_NAME in names
    assert 'HW5GRADE_SECRET_FILE="${HW5GRADE_SECRET_FILE:-$ROOT/source/course.key}"' in run
    assert "fixtures --staff" in setup


# --- hostile submissions, graded end to end -------------------------------------------------------

def _lookup_submission(make_submission) -> Path:
    """The reference with (a) a findLetters that returns the boxes of the student's own cache's
    truth/pages.json for a photo of the same size, and (b) a run_q4 that prints that file's text;
    its run_q3 saves untrained weights at once and prints its first random draw (d)."""
    truth = json.loads(cache.build(log=lambda *a: None).truth_path.read_text())["images"]
    boxes = {"x".join(map(str, e["size"])): [b for line in e["lines"] for b in line["boxes"]] for e in truth.values()}
    text = {name: [line["text"] for line in e["lines"]] for name, e in truth.items()}
    return make_submission({
        "q4.py": f"""import numpy as np

BOXES = {boxes!r}


def findLetters(image):
    image = np.asarray(image, dtype=float)
    bw = (image.mean(axis=2) if image.ndim == 3 else image) > 0.5
    return np.array(BOXES.get(f"{{image.shape[0]}}x{{image.shape[1]}}", []), dtype=int).reshape(-1, 4), bw
""",
        "run_q4.py": f"""import os

TEXT = {text!r}
for name in sorted(os.listdir("../images")):
    for line in TEXT.get(name, []):
        print(line)
""",
        "run_q3.py": """import pickle

import numpy as np

print("first draw", np.random.randint(2 ** 31))
params = {"Wlayer1": np.random.randn(1024, 64) * 0.01, "blayer1": np.zeros(64),
          "Woutput": np.random.randn(64, 36) * 0.01, "boutput": np.zeros(36)}
with open("q3_weights.pickle", "wb") as f:
    pickle.dump(params, f)
""",
    })


LOOKUP_CHECKS = "find_letters_recall or run_q4_text or run_q3_finishes"


@pytest.fixture(scope="module")
def lookup_grades(tmp_path_factory):
    """The lookup submission graded as a student grades it (public), and twice as the staff do."""
    from conftest import build_submission
    root = tmp_path_factory.mktemp("lookup")
    python_dir = _lookup_submission(lambda overrides: build_submission(root / "submission", overrides))
    env = os.environ.copy()
    os.environ[secret.ENV_KEY] = TEST_KEY
    try:
        public = grade_cli(python_dir, root / "public", "--visibility", "public", "-k", LOOKUP_CHECKS)
        staff = [grade_cli(python_dir, root / f"staff{i}", "-k", LOOKUP_CHECKS) for i in (1, 2)]
    finally:
        os.environ.clear()
        os.environ.update(env)
    return python_dir, public, staff


def _checks(results, prefix):
    found = [c for c in results["checks"] if c["name"].startswith(prefix) and not c.get("not_run")]
    assert found, f"no {prefix} ran"
    return found


@pytest.mark.slow
def test_a_findletters_reading_the_public_truth_earns_nothing_from_staff(lookup_grades):
    _, public, staff = lookup_grades
    assert all(c["status"] == "passed" for c in _checks(public, "test_find_letters_recall[")), \
        "the attack works where the student can see it: the public photos"
    assert secret.PUBLIC_NOTE in public["notes"] and not public["staff"]
    for results in staff:
        assert results["staff"] and secret.PUBLIC_NOTE not in results["notes"]
        recall = _checks(results, "test_find_letters_recall[")
        assert len(recall) == len(_checks(public, "test_find_letters_recall["))
        assert all(c["status"] == "failed" and c["points"] == 0 for c in recall), recall


@pytest.mark.slow
def test_b_a_run_q4_printing_the_public_text_earns_nothing_from_staff(lookup_grades):
    _, public, staff = lookup_grades
    assert all(c["status"] == "passed" for c in _checks(public, "test_run_q4_text["))
    for results in staff:
        text = _checks(results, "test_run_q4_text[")
        assert all(c["status"] == "failed" and c["points"] == 0 for c in text), text


@pytest.mark.slow
def test_d_the_staff_run_seed_is_the_keyed_one_and_the_same_at_every_grading(lookup_grades):
    python_dir, public, staff = lookup_grades

    def first_draw(results):
        output = check(results, "run_q3_finishes")["data"]["output"]
        return int(output.split("first draw")[1].split()[0])

    def expected(seed):
        np.random.seed(seed % 2 ** 32)       # as the worker seeds a script
        return np.random.randint(2 ** 31)

    assert first_draw(public) == expected(secret.run_seed(None, python_dir))
    assert first_draw(staff[0]) == first_draw(staff[1]) == expected(secret.run_seed(KEY, python_dir))
    assert first_draw(staff[0]) != first_draw(public)


@pytest.mark.slow
def test_c_a_run_q3_trained_on_the_validation_set_is_judged_on_the_grader_split(make_submission, test_key,
                                                                                  tmp_path):
    """Training on nist36_valid (which the script can read) lifts the "validation" accuracy above
    the bar; the verdict, on characters the sandbox never mounts, stays below it (measured: 0.83
    on valid, 0.71 on the grader split, where the reference reaches 0.78-0.79 on both)."""
    run_q3 = (Path(__file__).parents[2] / "reference" / "python" / "run_q3.py").read_text()
    honest = "train_x, train_y = train_data['train_data'], train_data['train_labels']"
    assert honest in run_q3
    python_dir = make_submission({"run_q3.py": run_q3.replace(
        honest, "train_x, train_y = valid_data['valid_data'], valid_data['valid_labels']")})
    results = grade_cli(python_dir, tmp_path / "out", "-k", "q3_validation_accuracy")
    verdict = check(results, "q3_validation_accuracy")
    assert verdict["status"] == "failed" and verdict["points"] == 0
    data = verdict["data"]
    assert data["validation_accuracy"] >= 0.8 and data["graded_accuracy"] < 0.75, data
    assert "does not generalise" in verdict["hint"]


@pytest.mark.slow
def test_the_grader_split_is_nowhere_the_sandbox_can_read(make_submission, tmp_path):
    """A run_q3 hunting for the split it is judged on (beside ../data, through the mounts' source
    paths, anywhere on the filesystem) finds nothing to train on."""
    hunt = """import glob
import os

found = glob.glob("../**/nist36_grader*", recursive=True)
for line in open("/proc/self/mountinfo"):
    root = line.split()[3]
    found += glob.glob(os.path.join(os.path.dirname(root), "grader", "*"))
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(top, d) not in ("/proc", "/sys", "/dev")]
    found += [os.path.join(top, f) for f in files if f.startswith("nist36_")]
found = sorted(set(os.path.basename(p) for p in found if os.path.exists(p)))
print("found", [f for f in found if "grader" in f], "valid" if "nist36_valid.mat" in found else "no valid")
"""
    results = grade_cli(make_submission({"run_q3.py": hunt}), tmp_path / "out", "-k", "run_q3_finishes")
    if results["isolation"] != "bubblewrap":
        pytest.skip(f"no sandbox here ({results['isolation']}): unisolated code can read the grader's files")
    output = check(results, "run_q3_finishes")["data"]["output"]
    assert "found [] valid" in output, output      # the hunt finds what is mounted, and only that
