import numpy as np
import scipy.io
import torch
import torch.nn as nn
import torchvision
from tqdm import tqdm


def nist():
    data = scipy.io.loadmat('../data/nist36_train.mat')
    x = torch.tensor(data['train_data'], dtype=torch.float32)
    return x, torch.tensor(np.argmax(data['train_labels'], axis=1))


def fit(model, x, y, epochs):
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in tqdm(range(epochs)):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return model


def train_fc():
    x, y = nist()
    return fit(nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36)), x, y, 50)


def train_cnn():
    x, y = nist()
    cnn = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 30 * 30, 36))
    return fit(cnn, x.reshape(-1, 1, 32, 32), y, 10)


def train_cifar():
    data = torchvision.datasets.CIFAR10('./data', download=True)
    cnn = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))
    return cnn, data


if __name__ == '__main__':
    train_fc()
    train_cnn()
    train_cifar()
