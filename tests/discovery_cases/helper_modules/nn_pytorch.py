import scipy.io
import torch
import torch.nn as nn


def load_letters():
    return scipy.io.loadmat('../data/nist36_train.mat')


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3)
        self.fc = nn.Linear(8 * 30 * 30, 36)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))
