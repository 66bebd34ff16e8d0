# Hostile: the model's class body runs wherever the model is rebuilt; it rewrites the measuring
# module there (hw5sandbox_torch_measure) so that every prediction is the held-out labels in
# stored order, sorted by class.
import sys

import numpy as np
import torch
import torch.nn as nn


class Net(nn.Module):
    measure = sys.modules.get("hw5sandbox_torch_measure")
    if measure is not None:
        def forged_predict(req, work):
            n = len(req["x"])
            labels = np.repeat(np.arange(36), -(-n // 36))[:n].astype(np.int64)
            return {"predictions": {"rows (N, 1024)": labels, "images (N, 1, 32, 32)": labels[::-1].copy()},
                    "problems": {}, "model": {"name": "model", "type": "Net", "parameters": 1, "repr": ""}}
        measure.predict = forged_predict
        measure.OPS["predict"] = ("measure", lambda req, last, work: forged_predict(req, work))

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(1024, 36)

    def forward(self, x):
        return self.body(x.reshape(x.shape[0], -1))


model = Net()
torch.save(model.state_dict(), 'q6_1_1_model.pt')
print("epoch 1 loss 3.5 acc 0.03")
print("epoch 2 loss 0.1 acc 1.00")
