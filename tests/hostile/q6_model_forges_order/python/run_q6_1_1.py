# Hostile: the "model" ignores its input and answers by position, as if the held-out inputs came
# sorted by class (repeat(arange(36), 20)): a forgery that lives in the model itself, so it runs
# in whatever process measures the model.
import torch
import torch.nn as nn


class ByPosition(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(1024, 36)
        self.seen = 0

    def forward(self, x):
        n = x.shape[0]
        labels = (torch.arange(self.seen, self.seen + n) // 20) % 36
        self.seen += n
        return nn.functional.one_hot(labels, 36).float() + 0 * self.body(x.reshape(n, -1))


model = ByPosition()
torch.save(model.state_dict(), 'q6_1_1_model.pt')
print("epoch 1 loss 3.5 acc 0.03")
print("epoch 2 loss 0.1 acc 1.00")
