import scipy.io
import torch
import torch.nn as nn

train = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')


class Skip(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(1, 8, 3, padding=1)
        self.up = nn.Conv2d(9, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 32 * 32, 36)

    def forward(self, x):
        features = torch.relu(self.down(x))
        return self.fc(self.up(torch.cat([x, features], dim=1)).flatten(1))
