import scipy.io
import torch
import torch.nn as nn
import torch.nn.functional as F

train = scipy.io.loadmat('../data/nist36_train.mat')


class LetterCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3)
        self.fc = nn.Linear(8 * 30 * 30, 36)

    def forward(self, x):
        return self.fc(F.relu(self.c1(x)).flatten(1))
