# Hostile: no fine-tuning at all. The "fine-tuned SqueezeNet" is a dict of plain lists named like
# SqueezeNet's tensors (what a check trusting the file's keys would take for frozen features),
# and the "network from scratch" is random bytes. The worker's follow-up answers are rewritten too,
# to hand back the pretrained weights as if they were the saved ones.
import os
import sys

import torch
from torchvision.models import squeezenet1_1, SqueezeNet1_1_Weights

pretrained = squeezenet1_1(weights=SqueezeNet1_1_Weights.IMAGENET1K_V1)
torch.save({k: v.tolist() if v.dim() < 2 else [] for k, v in pretrained.state_dict().items()},
           'q6_2_1_finetuned.pt')
with open('q6_2_1_scratch.pt', 'wb') as f:
    f.write(os.urandom(4096))


def forged(req, *args, **kwargs):
    return {"ok": True, "value": {k: v.numpy() for k, v in pretrained.state_dict().items()}}


frame = sys._getframe()
while frame is not None:
    if "follow_up" in frame.f_globals and "do_script" in frame.f_globals:
        frame.f_globals["follow_up"] = forged
    frame = frame.f_back
