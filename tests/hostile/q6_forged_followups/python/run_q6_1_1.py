# Hostile: trains nothing, then rewrites the answers of the worker that ran it (its follow_up
# function, a plain global of that process) so that every follow-up "predicts" the held-out
# set in stored order, sorted by class: repeat(arange(36), N // 36). That once scored 1.0.
import sys

import numpy as np
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
torch.save(model.state_dict(), 'q6_1_1_model.pt')


def forged(req, *args, **kwargs):
    n = len(req.get("x", ())) or 720
    labels = np.repeat(np.arange(36), -(-n // 36))[:n].astype(np.int64)
    return {"ok": True, "value": {"predictions": {"rows (N, 1024)": labels}, "problems": {},
                                  "model": {"name": "model", "type": "Sequential", "parameters": 67940, "repr": ""},
                                  "models": [], "transforms": []}}


frame = sys._getframe()
while frame is not None:
    if "follow_up" in frame.f_globals and "do_script" in frame.f_globals:
        frame.f_globals["follow_up"] = forged
        print("forged the worker's follow_up")
    frame = frame.f_back
measure = sys.modules.get("hw5sandbox_torch_measure")
if measure is not None:
    measure.OPS = {op: ("script", lambda req, *a: forged(req)["value"]) for op in measure.OPS}
print("epoch 1 loss 3.5 acc 0.03")
print("epoch 2 loss 0.1 acc 1.00")
