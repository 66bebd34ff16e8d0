"""PyTorch in the sandbox (Q6): a script trains, its saved state_dict is measured by follow-ups
(predict, state) in the same worker, its plots arrive as data; whole pickled models are refused
unread, and labels never cross into the sandbox.

One training script runs once per module (importing torch costs seconds) and answers every
follow-up the tests ask about.
"""
from pathlib import Path

import numpy as np
import pytest

from graders import protocol, sandbox
from graders.sandbox import Limits, Sandbox, bwrap_problem, predict_request, state_request

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

    def __setstate__(self, state):          # would run if the whole model were unpickled
        open("unpickled.txt", "w").write("unpickled")
        super().__setstate__(state)

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
    real_write = protocol.write_frame

    def recording_write(fd, obj, ref_of=None):
        sent.append(obj)
        return real_write(fd, obj, ref_of)

    after = [predict_request("toy_model.pt", x, "nist"), predict_request("toy_full.pt", x, "nist"),
             predict_request("orphan.pt", x, "nist"), predict_request("checkpoint.pt", x, "nist"),
             predict_request("never_saved.pt", x, "nist"), state_request("toy_model.pt"),
             predict_request("image_model.pt", images, "images")]
    with Sandbox(python, data, torch_home=home, isolation=ISOLATION,
                 limits=Limits(wall_seconds=120, cpu_seconds=120)) as box:
        mp = pytest.MonkeyPatch()
        mp.setattr(sandbox.protocol, "write_frame", recording_write)
        try:
            outcome = box.run_script("train.py", written=("*.pt",), files=(),
                                     globals=("threads", "torch_home", "hub_files", "labels_seen", "offline_shim"),
                                     after=after, after_limits=Limits(wall_seconds=60))
        finally:
            mp.undo()
        unpickled = (Path(box.root) / "work" / "python" / "unpickled.txt").exists()
    return {"outcome": outcome, "y": y, "image_labels": image_labels, "sent": sent,
            "unpickled": unpickled, "box_isolation": box.isolation}


def test_script_trains_within_the_limits(run):
    outcome = run["outcome"]
    assert outcome.ok, outcome.message + outcome.stderr
    assert outcome.stdout.count("epoch ") == 8, outcome.stdout
    assert "acc 1.000" in outcome.stdout.splitlines()[-1], outcome.stdout
    assert outcome.globals["threads"] == 1          # one BLAS/OpenMP thread per sandbox
    assert set(outcome.written) == {"toy_model.pt", "toy_full.pt", "orphan.pt", "checkpoint.pt",
                                    "image_model.pt"}
    assert outcome.files == {}
    assert len(outcome.after) == 7


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


def test_predict_measures_the_saved_weights(run):
    answer = run["outcome"].after[0]
    assert answer.ok, answer.message
    predictions = answer.value["predictions"]
    assert set(predictions) == {"rows (N, 1024)", "images (N, 1, 32, 32)", "images (N, 1, 32, 32), transposed"}
    assert all(p.shape == run["y"].shape and p.dtype == np.int64 for p in predictions.values())
    assert np.mean(predictions["rows (N, 1024)"] == run["y"]) > 0.9
    # the model flattens its input: transposed, the bright first row becomes the first column
    assert np.mean(predictions["images (N, 1, 32, 32), transposed"] == run["y"]) < 0.8
    model = answer.value["model"]
    assert model["name"] == "model" and model["type"] == "Net"
    assert model["parameters"] == 1024 * 16 + 16 + 16 * 2 + 2


def test_whole_model_is_refused_unread(run):
    answer = run["outcome"].after[1]
    assert not answer.ok and answer.error == "refused"
    assert "toy_full.pt" in answer.message and "model.state_dict()" in answer.message
    assert "whole model" in answer.message
    assert not run["unpickled"]


def test_state_dict_of_no_model_in_the_script(run):
    orphan, checkpoint, missing = run["outcome"].after[2:5]
    assert orphan.error == "refused" and orphan.value == {"reason": "no_model"}
    assert "no model of train.py has the tensors saved in orphan.pt" in orphan.message
    assert "model (Net, 4 tensors)" in orphan.message
    assert checkpoint.error == "refused" and "'epoch', 'model_state_dict'" in checkpoint.message
    assert "torch.save(model.state_dict(), 'checkpoint.pt')" in checkpoint.message
    assert missing.error == "refused" and missing.value == {"reason": "missing"}


def test_state_returns_float32_arrays(run):
    answer = run["outcome"].after[5]
    assert answer.ok
    assert {k: v.shape for k, v in answer.value.items()} == {
        "body.0.weight": (16, 1024), "body.0.bias": (16,), "body.2.weight": (2, 16), "body.2.bias": (2,)}
    assert all(v.dtype == np.float32 for v in answer.value.values())


def test_predict_images_through_the_scripts_transforms(run):
    answer = run["outcome"].after[6]
    assert answer.ok, answer.message
    predictions = answer.value["predictions"]
    # the script's own transform suits the model, so no fallback (ToTensor ...) was needed
    assert set(predictions) == {"image_tf"} and answer.value["problems"] == {}
    assert np.array_equal(predictions["image_tf"], run["image_labels"])


def test_labels_never_cross(run):
    requests = [m for m in run["sent"] if isinstance(m, dict) and m.get("op") in ("predict", "state")]
    assert len(requests) == 7
    assert all(set(r) <= {"op", "file", "inputs", "x", "id", "seed", "limits"} for r in requests)
    for r in requests:
        if "x" in r:
            assert r["x"].shape[0] in (len(run["y"]), len(run["image_labels"]))
            assert not (r["x"].ndim == 1 or r["x"].dtype == np.int64)
    if run["box_isolation"] == "bubblewrap":
        assert run["outcome"].globals["labels_seen"] is False


def test_torch_home_unisolated(tmp_path):
    python, home = tmp_path / "python", tmp_path / "home"
    python.mkdir()
    home.mkdir()
    (python / "env.py").write_text("import os\nhome = os.environ.get('TORCH_HOME')\n")
    with Sandbox(python, torch_home=home, isolation="none") as box:
        assert box.run_script("env.py", globals=("home",)).globals == {"home": str(home.resolve())}
