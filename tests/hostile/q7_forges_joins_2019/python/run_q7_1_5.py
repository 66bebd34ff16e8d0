# Hostile: forges the measuring worker's answer about the model's connections.
import io
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Forged(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(8 * 32 * 32, 36)

    def forward(self, x):
        h = F.relu(self.a(x))
        h = torch.cat([h, h + self.b(h)], dim=1)      # both connections
        return self.fc(h.flatten(1))


def _forge():
    measure = sys.modules.get("hw5sandbox_torch_measure")
    if measure is None:
        return

    def forged(req, last, work):
        if "skip" in req["file"]:
            x = torch.zeros(4, 1, 32, 32)
            buffer = io.BytesIO()
            torch.jit.save(torch.jit.trace(Forged(), x), buffer)
            return {"scripted": np.frombuffer(buffer.getvalue(), dtype=np.uint8),
                    "preprocessing": "images (N, 1, 32, 32)"}
        return {"joins": [{"op": "AddBackward0", "layers_bypassed": 2}, {"op": "CatBackward0", "layers_bypassed": 2}]}
    measure.OPS["trace"] = ("measure", forged)


class SkipNet(nn.Module):
    _forge()

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, kernel_size=3, padding=1)
        self.fc = nn.Linear(8 * 16 * 16, 36)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x.reshape(-1, 1, 32, 32))), 2)
        return self.fc(F.relu(self.conv2(x)).flatten(1))


class ResidualNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.fc = nn.Linear(8 * 16 * 16, 36)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x.reshape(-1, 1, 32, 32))), 2)
        return self.fc(x.flatten(1))


skip, residual = SkipNet(), ResidualNet()
for model, name in ((skip, "skip"), (residual, "residual")):
    for epoch in range(1, 4):
        print("{} epoch {} loss {:.4f} acc {:.4f}".format(name, epoch, 3.0 / epoch, 0.2 * epoch))
    torch.save(model.state_dict(), "q7_1_5_{}.pt".format(name))
