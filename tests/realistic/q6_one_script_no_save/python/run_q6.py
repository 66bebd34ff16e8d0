import numpy as np
import scipy.io
import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

torch.manual_seed(1)
train = scipy.io.loadmat('../data/nist36_train.mat')
valid = scipy.io.loadmat('../data/nist36_valid.mat')
X = torch.tensor(train['train_data'], dtype=torch.float32)
Y = torch.tensor(train['train_labels'].argmax(axis=1))
VX = torch.tensor(valid['valid_data'], dtype=torch.float32)
VY = torch.tensor(valid['valid_labels'].argmax(axis=1))


def train(net, shape, epochs, lr, name):
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    losses, accs = [], []
    for ep in range(epochs):
        perm = torch.randperm(len(X))
        tot, right = 0.0, 0
        for i in range(0, len(X), 64):
            idx = perm[i:i + 64]
            xb, yb = X[idx].reshape(shape), Y[idx]
            out = net(xb)
            loss = F.cross_entropy(out, yb, reduction='sum')
            opt.zero_grad()
            (loss / len(idx)).backward()
            opt.step()
            tot += loss.item()
            right += (out.argmax(1) == yb).sum().item()
        losses.append(tot / len(X))
        accs.append(right / len(X))
        with torch.no_grad():
            v = (net(VX.reshape(shape)).argmax(1) == VY).float().mean().item()
        print(f'{name} epoch {ep}: loss={losses[-1]:.3f} train acc={accs[-1]:.3f} valid acc={v:.3f}')
    fig, ax = plt.subplots(1, 2)
    ax[0].plot(losses)
    ax[0].set_title(name + ' loss')
    ax[1].plot(accs)
    ax[1].set_title(name + ' accuracy')
    plt.show()


# Q6.1.1 fully connected network
fc_net = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
train(fc_net, (-1, 1024), 8, 0.05, 'fc')


# Q6.1.2 convolutional network on NIST36
class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 8 * 8, 128)
        self.fc2 = nn.Linear(128, 36)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


cnn = ConvNet()
train(cnn, (-1, 1, 32, 32), 4, 0.05, 'cnn')
