import scipy.io
import torch
import torch.nn as nn

train = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')


class Res(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 8, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
        self.fc = nn.Linear(8 * 32 * 32, 36)

    def forward(self, x):
        x = torch.relu(self.a(x))
        x = x + self.block(x)
        return self.fc(x.flatten(1))
