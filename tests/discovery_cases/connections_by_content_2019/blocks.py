import scipy.io
import torch
import torch.nn as nn

train = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        identity = x
        out = self.conv2(torch.relu(self.conv1(x)))
        out += identity
        return torch.relu(out)


model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), Block(8), nn.Flatten(), nn.Linear(8 * 32 * 32, 36))
