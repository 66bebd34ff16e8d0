import torch
import torch.nn as nn
import matplotlib.pyplot as plt

# Q6.1.2: trains nothing. The CNN's forward() gives one row of scores for a whole batch,
# so the grader's predictions never have the right length and nothing is scored.


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4, 36)

    def forward(self, x):
        x = x.reshape(-1, 1, 32, 32)
        h = self.conv(x).mean(dim=(0, 2, 3))     # pooled over the batch too
        return self.fc(h)[None]


model = Net()
torch.save(model.state_dict(), 'q6_1_2_model.pt')
plt.figure(); plt.plot([3.0, 2.0, 1.0]); plt.ylabel('loss'); plt.show()
plt.figure(); plt.plot([0.1, 0.5, 0.9]); plt.ylabel('accuracy'); plt.show()
