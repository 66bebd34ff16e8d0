import numpy as np
import scipy.io
import torch
import torch.nn as nn

train = scipy.io.loadmat('../data/nist36_train.mat')
x = torch.tensor(train['train_data'].reshape(-1, 1, 32, 32), dtype=torch.float32)
y = torch.tensor(np.argmax(train['train_labels'], axis=1))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 5)
        self.fc = nn.Linear(6 * 28 * 28, 36)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


net = Net().cuda()
opt = torch.optim.Adam(net.parameters())
for epoch in range(5):
    opt.zero_grad()
    loss = nn.CrossEntropyLoss()(net(x.cuda()), y.cuda())
    loss.backward()
    opt.step()
