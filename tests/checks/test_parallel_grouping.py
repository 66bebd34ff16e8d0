"""`hw5grade grade -n 2` relies on pytest-xdist's --dist loadgroup to keep the checks of one
training run on one worker (graders/pipeline/grade.py): otherwise each worker trains the network again,
and a grade takes twice the time with the same verdicts, so nothing else would notice. pytest 9.2
broke it (pytest-xdist issue 1386); this proves it holds on the versions installed."""
import json
import subprocess
import sys

# Each check records its group and the worker that ran it.
RECORDER = '''
import json, os, pytest

@pytest.fixture(autouse=True)
def record(request):
    yield
    with open(os.environ["GROUPING_LOG"], "a") as f:
        group = request.node.get_closest_marker("xdist_group").args[0]
        f.write(json.dumps([group, os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")
'''
# the two ways the suites mark their groups: a module's pytestmark (q3_training, q5_autoencoder)
# and each parameter's marks (q4_letters' photos, q6_pytorch's scripts)
MODULE_GROUP = '''
import pytest

pytestmark = pytest.mark.xdist_group("{group}")

@pytest.mark.parametrize("i", range(6))
def test_grouped(i):
    pass
'''
PARAMETER_GROUPS = '''
import pytest

@pytest.mark.parametrize("photo", [pytest.param(n, marks=pytest.mark.xdist_group(f"photo-{n}"))
                                   for n in ("a", "b") for _ in range(4)])
def test_photo(photo):
    pass
'''


def test_loadgroup_keeps_each_group_on_one_worker(tmp_path):
    for group in ("q3", "q5"):
        (tmp_path / f"test_{group}.py").write_text(MODULE_GROUP.format(group=group))
    (tmp_path / "test_photos.py").write_text(PARAMETER_GROUPS)
    (tmp_path / "conftest.py").write_text(RECORDER)
    log = tmp_path / "workers.jsonl"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--disable-plugin-autoload", "-p", "xdist.plugin", "-n", "2", "--dist", "loadgroup",
                           "--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path)],
                          capture_output=True, text=True, timeout=300,
                          env={"GROUPING_LOG": str(log), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen: dict[str, set] = {}
    for line in log.read_text().splitlines():
        group, worker = json.loads(line)
        seen.setdefault(group, set()).add(worker)
    assert sorted(seen) == ["photo-a", "photo-b", "q3", "q5"]
    assert all(len(workers) == 1 for workers in seen.values()), seen
