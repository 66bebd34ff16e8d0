"""The sandbox API (graders/sandbox/sandbox.py) and its plain-data protocol, on small submissions."""
import ast
import collections
import io
import os
from pathlib import Path

import numpy as np
import pytest

from graders.sandbox.shipped import protocol
from graders.sandbox import sandbox
from graders.sandbox.sandbox import NOT_ISOLATED, Limits, Outcome, Ref, Sandbox, SandboxUnavailable, bwrap_problem

HAVE_BWRAP = bwrap_problem() is None
ISOLATIONS = ["none", pytest.param("bubblewrap", marks=pytest.mark.skipif(
    not HAVE_BWRAP, reason=f"no bubblewrap: {bwrap_problem()}"))]

NN = '''
import random
import numpy as np
from util import *

calls = []

def sigmoid(x):
    print("sigmoid called")
    return 1 / (1 + np.exp(-x))

def initialize_weights(in_size, out_size, params, name=""):
    params["W" + name] = np.random.uniform(-1, 1, (in_size, out_size))
    params["b" + name] = np.zeros(out_size)

def draws():
    return np.random.rand(3), random.random()

def shapes():
    return (1, [2, (3,)]), {"a": np.float32(1.5), 2: "int key", (1, 2): np.int64(7)}

def oddities():
    class Thing:
        def __reduce__(self):
            return (print, ("unpickled on the trusted side!",))
    return {"counter": collections_counter(), "objects": np.array([1, "a"], dtype=object),
            "thing": Thing(), "func": len, "nan": float("nan"), "bytes": b"xy", "set": {1, 2}}

def collections_counter():
    import collections
    return collections.Counter("abracadabra")

def apply(f, x):
    return f(x)

def remember(x):
    calls.append(x)
    return len(calls)

def deep_error(x):
    return _helper(x)

def _helper(x):
    return np.dot(x, np.ones(5))

def use_given():
    return given()

def env(name):
    import os
    return os.environ.get(name)

def cwd_listing():
    import os
    return os.getcwd(), sorted(os.listdir("..")), sorted(os.listdir("../data"))

def corrupt_channel():
    import os
    os.write(1001, b"\\xff" * 16)
    return 1

def slow(seconds):
    import time
    time.sleep(seconds)
    return seconds
'''

UTIL = '''
def given():
    return "student util"
'''

SCRIPT = '''
import numpy as np
import matplotlib.pyplot as plt
import pickle
import sys
from nn import sigmoid

x = np.arange(5.0)
plt.plot(x)
plt.show()                     # captured instead of blocking
plt.figure()
plt.plot(sigmoid(x))           # left open: captured at the end
print("trained")
print("a warning", file=sys.stderr)
with open("q3_weights.pickle", "wb") as f:
    pickle.dump({"W": x}, f)
with open("notes.txt", "w") as f:
    f.write("not requested")
accuracy = 0.75
layers = (1024, 64, 36)
'''


@pytest.fixture
def submission(tmp_path):
    python = tmp_path / "sub" / "python"
    python.mkdir(parents=True)
    (python / "nn.py").write_text(NN)
    (python / "util.py").write_text(UTIL)
    (python / "run_q3.py").write_text(SCRIPT)
    (python / "broken.py").write_text("def f(:\n    pass\n")
    (python / "raises.py").write_text("import numpy as np\nnp.zeros(3) + undefined_name\n")
    (python / "old.pickle").write_bytes(b"submitted before the run")
    data = tmp_path / "sub" / "data"
    data.mkdir()
    (data / "nist36_train.mat").write_bytes(b"fake")
    return python


@pytest.fixture(params=ISOLATIONS)
def box(request, submission):
    with Sandbox(submission, submission.parent / "data", isolation=request.param,
                 limits=Limits(wall_seconds=20)) as b:
        yield b


# -- calls --------------------------------------------------------------------------------------

def test_call_returns_value_and_stdout(box):
    x = np.linspace(-3, 3, 7)
    outcome = box.call("nn", "sigmoid", x)
    assert isinstance(outcome, Outcome)
    assert outcome.ok and outcome.error is None
    np.testing.assert_allclose(outcome.value, 1 / (1 + np.exp(-x)))
    assert outcome.stdout == "sigmoid called\n"
    assert outcome.elapsed >= 0


def test_a_grading_process_holding_descriptors_above_1024_still_talks_to_its_worker(submission):
    # select() refuses descriptors of 1024 and above; a long batch or Gradescope run may hold them
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this process may open only {hard} descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200) if hard == resource.RLIM_INFINITY
                                                else min(max(soft, 1200), hard), hard))
    held = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        with Sandbox(submission, submission.parent / "data", limits=Limits(wall_seconds=60)) as box:
            outcome = box.call("nn", "sigmoid", np.zeros(3))
        assert outcome.ok, outcome.message
        assert np.allclose(outcome.value, 0.5)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_arguments_come_back_mutated(box):
    outcome = box.call("nn", "initialize_weights", 4, 3, {}, "layer1", seed=1)
    params = outcome.args[2]
    assert set(params) == {"Wlayer1", "blayer1"}
    assert params["Wlayer1"].shape == (4, 3)
    outcome = box.call("nn", "initialize_weights", 4, 3, params={}, name="x")
    assert set(outcome.kwargs["params"]) == {"Wx", "bx"}


def test_seed_makes_calls_repeatable(box):
    a, b, c = (box.call("nn", "draws", seed=s).value for s in (5, 5, 6))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]
    assert not np.array_equal(a[0], c[0])
    np.random.seed(5)
    np.testing.assert_array_equal(a[0], np.random.rand(3))


def test_plain_data_keeps_its_shape(box):
    value = box.call("nn", "shapes").value
    assert value[0] == (1, [2, (3,)]) and isinstance(value[0][1][1], tuple)
    assert value[1] == {"a": 1.5, 2: "int key", (1, 2): 7}
    assert type(value[1]["a"]) is float and type(value[1][(1, 2)]) is int


def test_unsupported_values_arrive_as_markers(box):
    value = box.call("nn", "oddities").value
    assert type(value["counter"]) is dict and value["counter"]["a"] == 5
    assert value["objects"] == {"__unsupported__": "ndarray"}
    assert value["thing"] == {"__unsupported__": "Thing"}
    assert value["func"] == {"__unsupported__": "builtin_function_or_method"}
    assert np.isnan(value["nan"]) and value["bytes"] == b"xy" and value["set"] == {1, 2}


def test_ref_names_a_submission_function(box):
    outcome = box.call("nn", "apply", Ref("nn", "sigmoid"), 0.0)
    assert outcome.value == 0.5
    assert outcome.args[0] == Ref("nn", "sigmoid")
    assert box.call("nn", "apply", Ref("util", "given"), None).error == "exception"
    missing = box.call("nn", "apply", Ref("nn", "nope"), 0.0)
    assert missing.error == "exception" and "nope" in missing.message


def test_worker_is_persistent_between_calls(box):
    assert [box.call("nn", "remember", i).value for i in range(3)] == [1, 2, 3]


def test_exception_reports_student_frames_only(box):
    outcome = box.call("nn", "deep_error", np.ones(3))
    assert outcome.error == "exception"
    assert outcome.message.startswith("nn.py raised ValueError")
    assert 'File "nn.py"' in outcome.traceback and "_helper" in outcome.traceback
    assert "worker.py" not in outcome.traceback and "numpy" not in outcome.traceback.split("ValueError")[0]


def test_import_errors(box):
    broken = box.call("broken", "f")
    assert broken.error == "import"
    assert broken.message.startswith("broken.py could not be imported: SyntaxError")
    assert "line 1" in broken.message
    raises = box.call("raises", "f")
    assert raises.error == "import" and "NameError" in raises.message
    assert "raises.py" in raises.traceback
    missing = box.call("nn", "no_such_function")
    assert missing.error == "exception" and missing.message == "nn.py has no function no_such_function"
    absent = box.call("q4", "findLetters", 1)
    assert absent.error == "import" and absent.message == "q4.py was not found in the submission"
    # The suites check that a module imports through importlib, in the worker.
    assert box.call("importlib", "import_module", "broken").error == "exception"
    assert box.call("importlib", "import_module", "nn").ok


def test_timeout_then_restart(box):
    outcome = box.call("nn", "slow", 5, limits=Limits(wall_seconds=0.5))
    assert outcome.error == "timeout" and "timed out after 0.5 s" in outcome.message
    assert box.call("nn", "remember", 1).value == 1       # a fresh worker
    assert box.call("nn", "slow", 0.01).ok


def test_corrupt_channel_is_a_protocol_error(box):
    outcome = box.call("nn", "corrupt_channel")
    assert outcome.error == "protocol"
    assert box.call("nn", "slow", 0).ok


def test_worker_environment(box):
    assert box.call("nn", "env", "OMP_NUM_THREADS").value == "1"
    assert box.call("nn", "env", "OPENBLAS_NUM_THREADS").value == "1"
    assert box.call("nn", "env", "PYTHONHASHSEED").value == "0"
    cwd, above, data = box.call("nn", "cwd_listing").value
    assert cwd.endswith("/work/python") and {"python", "data"} <= set(above)
    assert data == ["nist36_train.mat"]


def test_given_files_replace_the_students(submission, tmp_path):
    given = tmp_path / "util.py"
    given.write_text('def given():\n    return "harness util"\n')
    same = tmp_path / "nn.py"
    same.write_text(NN)
    with Sandbox(submission, isolation="none", given_files={"util.py": given, "nn.py": same}) as b:
        assert b.replaced == ["util.py"]
        assert b.call("nn", "use_given").value == "harness util"
    assert (submission / "util.py").read_text() == UTIL       # the submission itself is untouched


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_spare_serves_the_next_submission_and_sees_only_it(tmp_path, monkeypatch, isolation):
    spares = sandbox._Spares()
    spares.enabled = True               # as keep_spares() does in a batch's process
    monkeypatch.setattr(sandbox, "_spares", spares)
    subs = []
    for i in range(3):
        python = tmp_path / f"sub{i}" / "python"
        python.mkdir(parents=True)
        (python / "nn.py").write_text(f"import os\nWHO = {i}\ndef who():\n    return WHO, sorted(os.listdir('.'))\n")
        (python / "util.py").write_text(UTIL)
        subs.append(python)
    (subs[1] / "extra.py").write_text("")
    given = tmp_path / "util.py"
    given.write_text('def given():\n    return "harness util"\n')

    first = Sandbox.open(subs[0], isolation=isolation)       # nothing spare yet: built afresh
    assert first._worker is None
    assert first.call("nn", "who").value == (0, ["nn.py", "util.py"])
    first.close()
    roots = {first.root}
    for i in (1, 2):
        box = Sandbox.open(subs[i], isolation=isolation, given_files={"util.py": given})
        # the spare's worker started before this submission was copied in, and imports it anyway
        assert box._worker is not None and box._worker.alive() and box.root not in roots
        names = ["extra.py", "nn.py", "util.py"] if i == 1 else ["nn.py", "util.py"]
        assert box.call("nn", "who").value == (i, names)
        assert box.replaced == ["util.py"] and box.call("util", "given").value == "harness util"
        roots.add(box.root)
        box.close()
    waiting = next(iter(spares._waiting.values())).result()
    with pytest.raises(RuntimeError, match="holds no submission"):
        waiting.call("nn", "who")
    spares.close()
    assert not waiting._worker and not Path(waiting.root).exists()
    with Sandbox.open(subs[0], isolation=isolation) as again:                # off: built afresh
        assert again._worker is None and again.call("nn", "who").value[0] == 0


# -- scripts ------------------------------------------------------------------------------------

def test_run_script(box):
    outcome = box.run_script("run_q3.py", globals=("accuracy", "layers", "missing"))
    assert outcome.ok, outcome.message
    assert outcome.globals == {"accuracy": 0.75, "layers": (1024, 64, 36)}
    assert set(outcome.files) == {"q3_weights.pickle"}         # old.pickle was not written
    assert outcome.files["q3_weights.pickle"].startswith(b"\x80")
    assert len(outcome.figures) == 2 and all(f.startswith(b"\x89PNG") for f in outcome.figures)
    assert outcome.stdout == "sigmoid called\ntrained\n" and "a warning" in outcome.stderr
    # The written file stays in the private copy for the next script (run_q4 reads q3's weights).
    assert (Path(box.root) / "work/python/q3_weights.pickle").exists()
    again = box.run_script("run_q3.py", files=("*.txt",))
    assert again.files == {"notes.txt": b"not requested"}


def test_script_exception_keeps_what_ran(box, submission):
    (Path(box.root) / "work/python/fails.py").write_text("x = 3\nprint('before')\n1 / 0\n")
    outcome = box.run_script("fails.py", globals=("x",))
    assert outcome.error == "exception" and "ZeroDivisionError" in outcome.message
    assert outcome.globals == {"x": 3} and outcome.stdout == "before\n"


def test_missing_script(box):
    outcome = box.run_script("run_q9.py")
    assert outcome.error == "import" and outcome.message == "run_q9.py was not found in the submission"


def test_script_sys_exit_zero_is_a_normal_end(box):
    (Path(box.root) / "work/python/exits.py").write_text("import sys\ny = 1\nsys.exit(0)\n")
    outcome = box.run_script("exits.py", globals=("y",))
    assert outcome.ok and outcome.globals == {"y": 1}
    (Path(box.root) / "work/python/exits2.py").write_text("import os\nos._exit(0)\n")
    assert box.run_script("exits2.py").error == "crashed"


# -- isolation choice ---------------------------------------------------------------------------

def test_isolation_bubblewrap_refuses_to_fall_back(submission, monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(SandboxUnavailable, match="bubblewrap"):
        Sandbox(submission, isolation="bubblewrap")
    with Sandbox(submission, isolation="auto") as b:
        assert b.isolation == NOT_ISOLATED
        assert b.call("nn", "sigmoid", 0.0).value == 0.5


@pytest.mark.skipif(not HAVE_BWRAP, reason="no bubblewrap")
def test_hidden_paths_inside_site_packages_are_masked(submission, monkeypatch):
    # As if the harness were installed (not editable) next to pytest in site-packages.
    installed = Path(pytest.__file__).resolve().parent
    from graders.sandbox import bwrap
    monkeypatch.setattr(bwrap, "hidden_paths", lambda: [installed])
    with Sandbox(submission, isolation="bubblewrap") as b:
        assert b.call("os", "listdir", str(installed)).value == []
        assert len(b.call("os", "listdir", str(installed.parent)).value) > 1


@pytest.mark.skipif(not HAVE_BWRAP, reason="no bubblewrap")
def test_auto_uses_bubblewrap_when_it_works(submission):
    with Sandbox(submission, isolation="auto") as b:
        assert b.isolation == "bubblewrap"


# -- protocol -----------------------------------------------------------------------------------

def roundtrip(value):
    return protocol.decode(protocol.encode(value))


def test_protocol_roundtrip():
    value = {"t": (1, (2.5, None)), "l": [True, "s"], 3: {"__tuple__": 1}, (1, "a"): -1,
             "arr": np.arange(12, dtype=np.int16).reshape(3, 4), "f32": np.float32(0.5),
             "inf": float("-inf"), "c": 1 + 2j, "big": 2**80, "fortran": np.asfortranarray(np.eye(3))}
    back = roundtrip(value)
    assert back.keys() == value.keys()
    assert back["t"] == (1, (2.5, None)) and back[3] == {"__tuple__": 1}
    assert back["arr"].dtype == np.int16 and np.array_equal(back["arr"], value["arr"])
    assert back["inf"] == float("-inf") and back["c"] == 1 + 2j and back["big"] == 2**80
    assert type(back["f32"]) is float
    assert roundtrip(collections.OrderedDict(a=1)) == {"a": 1}


@pytest.mark.parametrize("array", [
    np.asfortranarray(np.arange(12.0).reshape(3, 4)), np.arange(10)[::3], np.ones((4, 6))[:, ::2],
    np.array(5), np.zeros((0, 3), np.float32), np.ones(3, bool), np.array([1j, 2], np.complex64),
    np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]), np.array(["ab", "c"])])
def test_protocol_arrays(array):
    back = roundtrip(array)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array) and back.flags.writeable


def test_protocol_never_unpickles():
    # An array header claiming object dtype cannot be loaded without pickle: refused.
    buf = io.BytesIO()
    np.save(buf, np.array([1, None], dtype=object), allow_pickle=True)
    header = b'{"__ndarray__":0}'
    payload = (len(header).to_bytes(4, "big") + header + len(buf.getvalue()).to_bytes(8, "big")
               + buf.getvalue())
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(payload)
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(b"\x00\x00\x00\x05{nope")


def test_protocol_cycles_and_depth():
    loop = []
    loop.append(loop)
    assert roundtrip(loop) == [{"__unsupported__": "list"}]
    deep = current = []
    for _ in range(200):
        current.append([])
        current = current[0]
    assert "__unsupported__" in str(roundtrip(deep))


def test_nothing_shipped_imports_graders():
    shipped = sorted((Path(sandbox.__file__).parent / "shipped").glob("*.py"))
    assert {p.name for p in shipped} >= {"worker.py", "protocol.py", "repairs.py", "capture_backend.py"}
    for path in shipped:
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add("." if node.level else node.module)
        assert not {m for m in imported if m == "." or m.split(".")[0] in ("graders", "fixtures")}, path.name


def test_nothing_left_running(submission):
    b = Sandbox(submission, isolation="bubblewrap" if HAVE_BWRAP else "none")
    b.call("nn", "sigmoid", 0.0)
    pid = b._worker.proc.pid
    b.close()
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert not Path(b.root).exists()


CHECK_BEFORE_TRAINING = '''
import numpy as np
from nn import backwards

params = {"W": np.ones(3)}
backwards(params)
checker = params["grad_W"]
checker[:] = [7.0, 8.0, 9.0]        # a gradient checker writing into backwards' own array
for step in range(3):
    backwards(params)               # training: each call makes new gradients
'''


def test_params_watch_reads_a_checkers_gradients_written_in_place(tmp_path):
    """A gradient check run before training (the handout allows it) leaves its estimates in
    params['grad_*'] for training to overwrite: the watch copies them at training's first
    backwards call, whether the checker stored new arrays or wrote into backwards' own."""
    python = tmp_path / "python"
    python.mkdir()
    (python / "nn.py").write_text("import numpy as np\n\ndef backwards(params):\n"
                                  "    params['grad_W'] = -np.ones(3)\n")
    (python / "run_q2.py").write_text(CHECK_BEFORE_TRAINING)
    with Sandbox(python, isolation="none") as box:
        outcome = box.run_script("run_q2.py", globals=("params", "__params_seen__"), files=())
    assert outcome.ok, outcome.message
    entry = next(e for e in outcome.globals["__params_seen__"] if e.get("is_params"))
    assert list(entry["written_before_backwards"]["grad_W"]) == [7.0, 8.0, 9.0]
    assert list(outcome.globals["params"]["grad_W"]) == [-1.0, -1.0, -1.0]


def test_a_given_file_is_the_handouts_with_what_the_students_copy_adds():
    """util.py: the handout's definitions stand (a changed relu does not), the student's new
    helpers and imports are added after them, an import the grader lacks is harmless, and a copy
    that does not parse adds nothing."""
    given = "import numpy as np\n\ndef relu(x):\n    return np.maximum(x, 0)\n"
    own = ("import numpy as np\nimport not_installed_anywhere\nfrom math import sqrt\n\n"
           "def relu(x):\n    return x * 0\n\nSCALE = 6.0\n\n"
           "def xavier_bound(a, b):\n    return sqrt(SCALE / (a + b))\n")
    text, added = sandbox.with_own_additions(given, own)
    assert added == ["SCALE", "xavier_bound"]
    namespace = {}
    exec(text, namespace)
    assert namespace["relu"](np.array([2.0]))[0] == 2.0
    assert namespace["xavier_bound"](2, 4) == 1.0
    assert sandbox.with_own_additions(given, own + "\ndef broken(:\n") == (given, [])
    assert sandbox.with_own_additions(given, given) == (given, [])
    # a __future__ import may only open a file, and a decorator belongs to its function
    text, added = sandbox.with_own_additions(given, "from __future__ import annotations\nimport numpy as np\n\n"
                                                    "@np.vectorize\ndef clip01(v):\n    return min(max(v, 0), 1)\n")
    namespace = {}
    exec(text, namespace)
    assert added == ["clip01"] and list(namespace["clip01"]([0.5, -1.0, 2.0])) == [0.5, 0, 1]
    # a file that makes the parser itself fail adds nothing, and fails nothing of the grader's
    assert sandbox.with_own_additions(given, "x = " + "-" * 200_000 + "1\n") == (given, [])
