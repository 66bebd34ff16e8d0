import numpy as np
import scipy.io
import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as transforms


class ConvNet(nn.Module):
    def __init__(self, channels, classes, side):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * (side // 2) ** 2, classes)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv1(x))).flatten(1))


def train(model, loader, epochs=5):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.CrossEntropyLoss()(model(xb), yb)
            loss.backward()
            opt.step()
        print(epoch, loss.item())


train_data = scipy.io.loadmat('../data/nist36_train.mat')
x = torch.tensor(train_data['train_data'], dtype=torch.float32)
y = torch.tensor(np.argmax(train_data['train_labels'], axis=1))
train_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
mlp = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
train(mlp, train_loader)
images = torch.utils.data.TensorDataset(x.reshape(-1, 1, 32, 32), y)
train(ConvNet(1, 36, 32), torch.utils.data.DataLoader(images, batch_size=32))

trainset = torchvision.datasets.CIFAR10(root='./data', train=True, download=True,
                                        transform=transforms.ToTensor())
train_loader = torch.utils.data.DataLoader(trainset, batch_size=64)
train(ConvNet(3, 10, 32), train_loader)
