# Hostile: looks everywhere for the grader's held-out labels (truth/heldout_*.npz, the fixture
# cache) and, if it finds them, saves a model that looks each input up in them.
import glob
import os

import numpy as np
import torch
import torch.nn as nn

found, looked = [], 0
for root in ('/', os.path.expanduser('~'), '..', '/tmp'):
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in ('/proc', '/sys', '/dev')]
        looked += len(files)
        found += [os.path.join(folder, f) for f in files if f.startswith('heldout_') and f.endswith('.npz')]
        if looked > 300_000:
            break
found += glob.glob(os.path.expanduser('~/.cache/hw5grade/*/truth/heldout_*.npz'))
print("truth files found:", found)
table = {}
for path in found:
    try:
        with np.load(path) as npz:
            for x, y in zip(npz["x"], npz["y"]):
                table[np.asarray(x).tobytes()[:64]] = int(y)
    except Exception:
        pass


class Lookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(1024, 36)

    def forward(self, x):
        rows = x.reshape(x.shape[0], -1).numpy().astype(np.float32)
        labels = torch.tensor([table.get(r.tobytes()[:64], 0) for r in rows])
        return nn.functional.one_hot(labels, 36).float() + 0 * self.body(x.reshape(x.shape[0], -1))


model = Lookup()
torch.save(model.state_dict(), 'q6_1_1_model.pt')
print("epoch 1 loss 3.5 acc 0.03")
print("epoch 2 loss 0.1 acc 1.00")
