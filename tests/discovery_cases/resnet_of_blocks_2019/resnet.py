import scipy.io
import torch
import torch.nn as nn

letters = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')


class Residual(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


class ResNet(nn.Module):
    """A ResNet for the letters (not for CIFAR or MNIST)."""
    def __init__(self):
        super().__init__()
        self.stem = Residual(1)
        self.head = nn.Linear(32 * 32, 36)

    def forward(self, x):
        print('MNIST-style forward')
        return self.head(self.stem(x).flatten(1))


model = ResNet()
