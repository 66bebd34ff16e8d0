import numpy as np
import scipy.io
import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as T

device = torch.device('cuda:0')


def fit(model, loader, epochs):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for epoch in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb.to(device)), yb.to(device))
            loss.backward()
            opt.step()
        print('epoch', epoch, 'loss', loss.item())


# Q6.1.1 fully connected
train = scipy.io.loadmat('../data/nist36_train.mat')
x = torch.tensor(train['train_data'], dtype=torch.float32)
y = torch.tensor(np.argmax(train['train_labels'], axis=1))
nist_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
fc = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36)).to(device)
fit(fc, nist_loader, 30)

# Q6.1.2 convolutional
images = torch.utils.data.TensorDataset(x.reshape(-1, 1, 32, 32), y)
cnn = nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 30 * 30, 36)).to(device)
fit(cnn, torch.utils.data.DataLoader(images, batch_size=32), 10)

# Q6.1.3 CIFAR
cifar = torchvision.datasets.CIFAR10('./data', train=True, download=True, transform=T.ToTensor())
net3 = nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 28 * 28, 10)).to(device)
fit(net3, torch.utils.data.DataLoader(cifar, batch_size=64, num_workers=8), 5)

# Q6.1.4 scenes
scenes = torchvision.datasets.ImageFolder('/home/me/hw1/data/sun_train', transform=T.ToTensor())
net4 = nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 8)).to(device)
fit(net4, torch.utils.data.DataLoader(scenes, batch_size=16), 20)
