import scipy.io
import torch
import torch.nn as nn

train = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')


class Dense(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(16 * 32 * 32, 36)

    def forward(self, x):
        a = torch.relu(self.a(x))
        return self.fc(torch.cat((a, torch.relu(self.b(a))), 1).flatten(1))
