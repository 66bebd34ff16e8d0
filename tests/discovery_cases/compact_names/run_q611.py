import numpy as np
import scipy.io
import torch
import torch.nn as nn

train = scipy.io.loadmat('../data/nist36_train.mat')
x = torch.tensor(train['train_data'], dtype=torch.float32)
y = torch.tensor(np.argmax(train['train_labels'], axis=1))
net = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
opt = torch.optim.SGD(net.parameters(), lr=0.05)
for epoch in range(10):
    opt.zero_grad()
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    print(epoch, loss.item())
