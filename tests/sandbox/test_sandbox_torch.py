"""PyTorch in the sandbox (Q6): a script trains and its worker hands over its models (pickled,
passed on unread); its saved state_dicts are read on the trusted side with the weights-only
loader (whole pickled models refused unread) and measured by a fresh measuring worker that ran
no script; its plots arrive as data, and labels never cross into the sandbox.

One training script runs once per module (importing torch costs seconds), and one measuring
worker answers every measurement the tests ask about.
"""
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from graders.sandbox.shipped import protocol
from graders.sandbox import sandbox
from graders.checks import saved_models
from graders.sandbox.shipped import torch_measure
from graders.checks.saved_models import Unreadable, captured, models_request, predict_request
from graders.sandbox.sandbox import Limits, Sandbox, bwrap_problem

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

ISOLATION = "bubblewrap" if bwrap_problem() is None else "none"

TRAIN = '''
import os
import numpy as np
import torch
import torch.nn as nn
import matplotlib.pyplot as plt
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms

torch.manual_seed(0)
rng = np.random.default_rng(0)
y = rng.integers(0, 2, 400)
x = rng.random((400, 1024), dtype=np.float32) * 0.1
x[:, :32] += 0.5 * y[:, None]

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1024, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, v):
        return self.body(v.reshape(v.shape[0], -1))

model = Net()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
# workers are processes sharing tensors through /dev/shm: both must work inside the limits
loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=50,
                    shuffle=True, num_workers=2)
losses, accs = [], []
for epoch in range(8):
    total, right = 0.0, 0
    for xb, yb in loader:
        out = model(xb)
        loss = nn.functional.cross_entropy(out, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
        right += (out.argmax(1) == yb).sum().item()
    losses.append(total)
    accs.append(right / len(y))
    print(f"epoch {epoch} loss {total:.4f} acc {accs[-1]:.3f}")
plt.plot(losses, label="training loss")
plt.xlabel("epoch")
plt.ylabel("loss")
plt.title("Training loss")
plt.legend()
plt.show()
plt.plot(accs)
plt.ylabel("accuracy")
torch.save(model.state_dict(), "toy_model.pt")
torch.save(model, "toy_full.pt")
torch.save(nn.Linear(3, 3).state_dict(), "orphan.pt")
torch.save({"epoch": 8, "model_state_dict": model.state_dict()}, "checkpoint.pt")

# an image model whose inputs are 8x8 pictures through the script's own transform
image_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)])
image_model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
with torch.no_grad():
    image_model[1].weight.zero_()
    image_model[1].bias.zero_()
    image_model[1].weight[1, 0] = 1.0      # the red value of the first pixel, normalised
torch.save(image_model.state_dict(), "image_model.pt")

threads = torch.get_num_threads()
import sys
offline_shim = "hw5sandbox_offline_torch" in sys.modules
torch_home = os.environ.get("TORCH_HOME")
hub_files = sorted(os.listdir(os.path.join(torch.hub.get_dir(), "checkpoints")))
label_path = {label_path!r}
try:
    open(label_path, "rb").read()
    labels_seen = True
except OSError:
    labels_seen = False
'''


def heldout(n=200, seed=1):
    """Rows as the script's training data: class 1 brightens the first row of the picture."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.random((n, 1024), dtype=np.float32) * 0.1
    x[:, :32] += 0.5 * y[:, None]
    return x, y


def pictures(n=40, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    return x, (x[:, 0, 0, 0] > 127).astype(np.int64)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("torchbox")
    python, data, home = root / "sub" / "python", root / "sub" / "data", root / "torch_home"
    python.mkdir(parents=True)
    data.mkdir()
    (home / "hub" / "checkpoints").mkdir(parents=True)
    (home / "hub" / "checkpoints" / "standin-0000.pth").write_bytes(b"weights")
    x, y = heldout()
    images, image_labels = pictures()
    truth = root / "truth"
    truth.mkdir()
    np.save(truth / "labels.npy", y)
    (python / "train.py").write_text(TRAIN.replace("{label_path!r}", repr(str(truth / "labels.npy"))))
    sent = []
    real_encode = protocol.encode_parts

    def recording_encode(obj, ref_of=None):
        sent.append(obj)
        return real_encode(obj, ref_of)

    names = ("toy_model.pt", "toy_full.pt", "orphan.pt", "checkpoint.pt", "never_saved.pt", "image_model.pt")
    order = saved_models.heldout_order("toy", len(y), run_seed := 7)
    with Sandbox(python, data, torch_home=home, isolation=ISOLATION,
                 limits=Limits(wall_seconds=120, cpu_seconds=120)) as box:
        outcome = box.run_script("train.py", written=("*.pt",), files=(),
                                 globals=("threads", "torch_home", "hub_files", "labels_seen", "offline_shim"),
                                 after=[models_request()], after_limits=Limits(wall_seconds=60))
        work = Path(box.root) / "work" / "python"
        states = {}
        for name in names:
            try:
                states[name] = saved_models.saved_state(work, python, name)
            except Unreadable as unreadable:
                states[name] = unreadable
        capture = captured(outcome.after[0])
        requests = [predict_request("train.py", capture, "toy_model.pt", states["toy_model.pt"], x[order], "nist"),
                    predict_request("train.py", capture, "orphan.pt", states["orphan.pt"], x, "nist"),
                    predict_request("train.py", capture, "image_model.pt", states["image_model.pt"], images, "images")]
        mp = pytest.MonkeyPatch()
        mp.setattr(protocol, "encode_parts", recording_encode)
        try:
            measured = box.measure(requests, seed=run_seed, limits=Limits(wall_seconds=60))
        finally:
            mp.undo()
    return {"outcome": outcome, "y": y, "order": order, "image_labels": image_labels, "sent": sent,
            "states": states, "capture": capture, "measured": measured, "box_isolation": box.isolation}


def test_script_trains_within_the_limits(run):
    outcome = run["outcome"]
    assert outcome.ok, outcome.message + outcome.stderr
    assert outcome.stdout.count("epoch ") == 8, outcome.stdout
    assert "acc 1.000" in outcome.stdout.splitlines()[-1], outcome.stdout
    assert outcome.globals["threads"] == 1          # one BLAS/OpenMP thread per sandbox
    assert set(outcome.written) == {"toy_model.pt", "toy_full.pt", "orphan.pt", "checkpoint.pt",
                                    "image_model.pt"}
    assert outcome.files == {}
    assert len(outcome.after) == 1 and outcome.after[0].ok, outcome.after[0].message


def test_torch_home_and_the_offline_shim(run):
    g = run["outcome"].globals
    assert g["offline_shim"] is True
    assert g["torch_home"] == (sandbox.BOX_TORCH if run["box_isolation"] == "bubblewrap" else g["torch_home"])
    assert g["hub_files"] == ["standin-0000.pth"]


def test_figure_data_of_the_loss_curve(run):
    data = run["outcome"].figure_data
    assert len(data) == 2 == len(run["outcome"].figures)
    (axes,) = data[0]["axes"]
    assert (axes["title"], axes["xlabel"], axes["ylabel"]) == ("Training loss", "epoch", "loss")
    (line,) = axes["lines"]
    assert line["label"] == "training loss" and len(line["y"]) == 8
    assert line["y"][-1] < line["y"][0]
    second = data[1]["axes"][0]
    assert second["ylabel"] == "accuracy" and second["lines"][0]["label"] == ""


def test_the_scripts_worker_hands_over_its_models(run):
    capture = run["capture"]
    assert {m["name"]: m["type"] for m in capture["models"]} == {"model": "Net", "image_model": "Sequential"}
    assert all(isinstance(m["pickle"], bytes) for m in capture["models"])
    assert [t["name"] for t in capture["transforms"]] == ["image_tf"]


def test_predict_measures_the_saved_weights(run):
    answer = run["measured"][0]
    assert answer.ok, answer.message
    predictions = answer.value["predictions"]
    assert set(predictions) == {"rows (N, 1024)", "images (N, 1, 32, 32)", "images (N, 1, 32, 32), transposed"}
    assert all(p.shape == run["y"].shape and p.dtype == np.int64 for p in predictions.values())
    # the inputs went in the secret order: the answers match the labels in that order only
    y = run["y"][run["order"]]
    assert np.mean(predictions["rows (N, 1024)"] == y) > 0.9
    assert np.mean(predictions["rows (N, 1024)"] == run["y"]) < 0.7
    # the model flattens its input: transposed, the bright first row becomes the first column
    assert np.mean(predictions["images (N, 1, 32, 32), transposed"] == y) < 0.8
    model = answer.value["model"]
    assert model["name"] == "model" and model["type"] == "Net"
    assert model["parameters"] == 1024 * 16 + 16 + 16 * 2 + 2


def test_whole_model_is_refused_unread(run):
    refused = run["states"]["toy_full.pt"]
    assert isinstance(refused, Unreadable) and refused.reason == "pickled"
    assert "toy_full.pt" in refused.message and "model.state_dict()" in refused.message
    assert "whole model" in refused.message


def test_state_dict_of_no_model_in_the_script(run):
    orphan = run["measured"][1]
    checkpoint, missing = run["states"]["checkpoint.pt"], run["states"]["never_saved.pt"]
    assert orphan.error == "refused" and orphan.value == {"reason": "no_model"}
    assert "no model of train.py has the tensors saved in orphan.pt" in orphan.message
    assert "model (Net, 4 tensors)" in orphan.message
    assert checkpoint.reason == "not_state_dict" and "'epoch', 'model_state_dict'" in checkpoint.message
    assert "torch.save(model.state_dict(), 'checkpoint.pt')" in checkpoint.message
    assert missing.reason == "missing"


def test_state_is_read_here_as_float32_arrays(run):
    state = run["states"]["toy_model.pt"]
    assert {k: v.shape for k, v in state.items()} == {
        "body.0.weight": (16, 1024), "body.0.bias": (16,), "body.2.weight": (2, 16), "body.2.bias": (2,)}
    assert all(v.dtype == np.float32 for v in state.values())


def test_predict_images_through_the_scripts_transforms(run):
    answer = run["measured"][2]
    assert answer.ok, answer.message
    predictions = answer.value["predictions"]
    # the script's own transform suits the model, so no fallback (ToTensor ...) was needed
    assert set(predictions) == {"image_tf"} and answer.value["problems"] == {}
    assert np.array_equal(predictions["image_tf"], run["image_labels"])


def arrays_in(obj):
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from arrays_in(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from arrays_in(v)


def test_labels_never_cross(run):
    requests = [m for m in run["sent"] if isinstance(m, dict) and m.get("op") == "predict"]
    assert len(requests) == 3
    assert all(set(r) <= {"op", "script", "captured", "file", "state", "inputs", "x", "id", "seed", "limits",
                          "probe_convolutions"}
               for r in requests)
    for r in requests:
        assert r["x"].shape[0] in (len(run["y"]), len(run["image_labels"]))
        assert not any(a.ndim == 1 and a.dtype.kind in "iu" for a in arrays_in(r))
    if run["box_isolation"] == "bubblewrap":
        assert run["outcome"].globals["labels_seen"] is False


def test_definitions_leave_the_training_out(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        "import math\nimport not_a_library_here\nSIZE = 4 * 8\nDEVICE = 'cpu'\nLR = float('0.1')\n"
        "data = open('/nonexistent').read()\nclass Net:\n    width = SIZE\n"
        "def helper():\n    return math.pi\nfor i in range(3):\n    trained = True\n"
        "try:\n    import json\nexcept ImportError:\n    json = None\n"
        "if __name__ == '__main__':\n    trained = True\n")
    module, problems = torch_measure.definitions(str(script))
    assert module.Net.width == 32 and module.helper() == module.math.pi and module.LR == 0.1
    assert module.DEVICE == "cpu" and module.json.dumps(1) == "1"
    assert not hasattr(module, "data") and not hasattr(module, "trained")
    assert len(problems) == 1 and "line 2: ModuleNotFoundError" in problems[0]


def test_torch_home_unisolated(tmp_path):
    python, home = tmp_path / "python", tmp_path / "home"
    python.mkdir()
    home.mkdir()
    (python / "env.py").write_text("import os\nhome = os.environ.get('TORCH_HOME')\n")
    with Sandbox(python, torch_home=home, isolation="none") as box:
        assert box.run_script("env.py", globals=("home",)).globals == {"home": str(home.resolve())}


def saved(tmp_path, name, obj, **options):
    torch.save(obj, tmp_path / name, **options)
    return name


def test_the_trusted_reader_takes_plain_archives_of_tensors_only(tmp_path):
    """What the trusted side reads of a saved file: a zip of stored records holding a dict of
    plain real tensors of bounded size; never a link, a device, an older copy, a whole model."""
    import io
    import os
    import zipfile
    work = tmp_path / "work"
    work.mkdir()
    ok = saved(work, "ok.pt", {"w": torch.ones(2, 3, dtype=torch.float64), "n": torch.tensor(5)})
    state = saved_models.saved_state(work, None, ok)
    assert state["w"].dtype == np.float32 and state["n"].dtype == np.int64 and state["n"] == 5

    def refused(name, words, original=None):
        with pytest.raises(Unreadable) as caught:
            saved_models.saved_state(work, original, name)
        assert words in caught.value.message, caught.value.message
        return caught.value.reason

    saved(work, "view.pt", {"w": torch.ones(1).as_strided((100_000, 100_000), (0, 0))})
    assert refused("view.pt", "numbers in all") == "not_state_dict"
    # under the cap, yet a few bytes that would take 800 MB here once made contiguous
    saved(work, "expanded.pt", {"w": torch.zeros(1).expand(100_000_000)})
    assert refused("expanded.pt", "a view of 100000000 numbers") == "not_state_dict"
    saved(work, "legacy.pt", {"w": torch.ones(3)}, _use_new_zipfile_serialization=False)
    refused("legacy.pt", "not a zip archive")
    packed = io.BytesIO()
    with zipfile.ZipFile(work / ok) as src, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as dst:
        for record in src.infolist():
            dst.writestr(record.filename, src.read(record.filename))
    (work / "deflated.pt").write_bytes(packed.getvalue())
    refused("deflated.pt", "compressed records")
    saved(work, "complex.pt", {"w": torch.ones(3, dtype=torch.complex64)})
    refused("complex.pt", "not a plain real tensor")
    saved(work, "listed.pt", {"w": [1.0, 2.0]})
    refused("listed.pt", "not a model's state_dict")
    os.symlink(work / ok, work / "link.pt")
    refused("link.pt", "could not be opened as a plain file")
    os.mkfifo(work / "fifo.pt")
    refused("fifo.pt", "not a plain file")
    assert refused("absent.pt", "does not exist") == "missing"
    # the copy the submission came with, untouched by the run (copied with its times)
    original = tmp_path / "original"
    original.mkdir()
    saved(original, "old.pt", {"w": torch.ones(3)})
    import shutil
    shutil.copy2(original / "old.pt", work / "old.pt")
    assert refused("old.pt", "not written by this run", original) == "unchanged"
    saved(work, "old.pt", {"w": torch.zeros(3)})
    assert saved_models.saved_state(work, original, "old.pt")["w"].sum() == 0


def test_heldout_order_is_secret_under_a_key():
    public = saved_models.heldout_order("nist36", 720, 11)
    assert sorted(public) == list(range(720)) and not np.array_equal(public, np.arange(720))
    assert np.array_equal(public, saved_models.heldout_order("nist36", 720, 11))
    staff = saved_models.heldout_order("nist36", 720, 11, key=bytes(32))
    assert len(staff) == 576 and len(set(staff)) == 576 and not np.array_equal(staff, public[:576])
    assert not np.array_equal(staff, saved_models.heldout_order("nist36", 720, 11, key=bytes(range(32))))
    # labels sorted by class, answered in stored order, score chance in the order sent
    y = np.repeat(np.arange(36), 20)
    assert np.mean(y[staff] == y[:576]) < 0.06 and np.mean(y[public] == y) < 0.06


def test_a_prepared_measurer_outlives_the_thread_that_asked_for_it(tmp_path):
    """bwrap's --die-with-parent follows the thread that started a sandbox, not the process: a
    measuring worker started ahead must start on a thread that lives on, or it is SIGKILLed
    between being found alive and answering (seen: every second Q6 grading in one process)."""
    python = tmp_path / "python"
    python.mkdir()
    with Sandbox(python, isolation=ISOLATION, limits=Limits(wall_seconds=120, cpu_seconds=60)) as box:
        asker = threading.Thread(target=box.prepare_measure, args=(1,))
        asker.start()
        asker.join()
        worker = box._measurer[1].result(timeout=120)
        time.sleep(1.0)
        assert worker.alive()


@pytest.mark.parametrize("layers, what, classes, inputs, channels, expected", [
    ([(16, 1, 5, 5), (10, 320)], "CNN", 10, "images", 1, True),        # MNIST's CNN takes grey digits
    ([(16, 3, 5, 5), (10, 320)], "CNN", 10, "images", 1, False),
    ([(16, 3, 5, 5), (10, 400)], "CNN", 10, "images", 3, True),        # CIFAR-10's takes colour
    ([(16, 1, 5, 5), (10, 400)], "CNN", 10, "images", 3, False),
    ([(16, 1, 3, 3), (36, 512)], "CNN", 36, "nist", 3, True),          # NIST36 rows are grey 32x32
    ([(64, 1024), (36, 64)], "fully connected network", 36, "nist", 3, True),
    ([(16, 1, 3, 3), (36, 512)], "fully connected network", 36, "nist", 3, False),
    ([(64, 1024), (10, 64)], "fully connected network", 36, "nist", 3, False),   # 10 scores, not 36
])
def test_a_model_left_in_a_variable_fits_the_question_by_its_inputs_and_classes(layers, what, classes, inputs,
                                                                                 channels, expected):
    state = {f"layer{i}.weight": torch.zeros(shape) for i, shape in enumerate(layers)}
    assert saved_models.fits(state, what, classes, inputs, channels) is expected


def test_the_models_a_script_left_are_held_to_one_models_size_in_all(monkeypatch):
    """Every captured model is read and held at once: together they get the cap of one."""
    import io

    def state_bytes(n):
        buffer = io.BytesIO()
        torch.save({"w": torch.ones(n)}, buffer)
        return buffer.getvalue()

    monkeypatch.setattr(saved_models, "MAX_ELEMENTS", 100)
    capture = {"models": [{"name": f"m{i}", "state": state_bytes(60)} for i in range(3)]}
    assert [name for name, _ in saved_models.captured_states(capture)] == ["m0"]


def test_a_notebooks_code_runs_under_a_name_no_file_of_the_submission_has(tmp_path):
    """A file named like the notebook's code (q6.ipynb.py) would otherwise run in its place,
    and a link planted at that name would have the grader write through it."""
    from graders.suites.q6_pytorch import notebook_script
    (tmp_path / "q6.ipynb").write_text("{}")
    assert notebook_script("q6.ipynb", tmp_path) == "q6.ipynb.py"
    (tmp_path / "q6.ipynb.py").write_text("print('not the notebook')")
    assert notebook_script("q6.ipynb", tmp_path) == "q6.ipynb.2.py"
    outside = tmp_path / "grader_file.txt"
    outside.write_text("the grader's")
    work = tmp_path / "work"
    work.mkdir()
    (work / "q6.ipynb.py").symlink_to(outside)
    saved_models.write_fresh(work, "q6.ipynb.py", "print('the notebook')")
    assert outside.read_text() == "the grader's"
    assert not (work / "q6.ipynb.py").is_symlink() and "the notebook" in (work / "q6.ipynb.py").read_text()


def test_a_tensor_fine_tuned_from_a_pretrained_one_is_told_from_one_trained_afresh():
    """The network from scratch may hold no pretrained tensor, as it was or fine-tuned from it."""
    from graders.suites.q6_pytorch import alike
    rng = np.random.default_rng(0)
    pretrained = rng.normal(0, 0.05, (64, 3, 3, 3))
    assert alike(pretrained, pretrained)
    assert alike(pretrained + rng.normal(0, 0.01, pretrained.shape), pretrained)      # fine-tuned
    assert not alike(rng.normal(0, 0.05, pretrained.shape), pretrained)               # trained afresh
    assert not alike(np.full(pretrained.shape, np.nan), pretrained)


def test_grey_characters_are_also_tried_transposed():
    """EMNIST stores its characters transposed; a script that turned them upright with a lambda
    (which the measuring cannot rebuild) or by transposing its dataset once trained on the
    transposed images: each preprocessing of grey square images is tried both ways. Colour
    photos are not."""
    from torchvision import transforms as T
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (3, 28, 28), dtype=np.uint8)
    rounds, n = torch_measure.image_candidates(grey, [("transform", T.ToTensor())])
    names = [name for name, _, _ in rounds[0]]
    assert n == 3 and names == ["transform", "transform, images transposed"]
    plain, turned = (make(0, 3) for _, make, _ in rounds[0])
    assert torch.equal(turned, plain.transpose(2, 3))
    colour, _ = torch_measure.image_candidates(rng.integers(0, 255, (2, 8, 8, 3), dtype=np.uint8), [])
    assert not any("transposed" in name for r in colour for name, _, _ in r)


def test_transforms_kept_in_dicts_are_found():
    """The fine-tuning tutorial keeps data_transforms = {'train': ..., 'val': ...} and its datasets
    in dicts: those transforms are preprocessings to try, as variables' are."""
    from torchvision import transforms as T
    val = T.Compose([T.Resize(128), T.ToTensor()])
    dataset = type("Folder", (), {"transform": T.ToTensor()})()
    found = dict(torch_measure.transforms_in({"data_transforms": {"train": T.RandomCrop(4), "val": val},
                                              "image_datasets": {"val": dataset}, "n": 3}))
    assert found["data_transforms['val']"] is val
    assert "data_transforms['train']" in found and "image_datasets['val'].transform" in found
