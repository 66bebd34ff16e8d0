import numpy as np
import scipy.io
import torch
import torch.nn as nn
import matplotlib.pyplot as plt

torch.manual_seed(3)
d = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
x = torch.tensor(d['train_data'].reshape(-1, 1, 32, 32).transpose(0, 1, 3, 2), dtype=torch.float32)
y = torch.tensor(d['train_labels'].argmax(1))
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=100, shuffle=True)


class ResBlock(nn.Module):
    def __init__(self, ch):
        super(ResBlock, self).__init__()
        self.a = nn.Conv2d(ch, ch, 3, padding=1)
        self.b = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.b(torch.relu(self.a(x))))


class ResNetLite(nn.Module):
    def __init__(self):
        super(ResNetLite, self).__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block = ResBlock(16)
        self.head = nn.Linear(16 * 8 * 8, 36)

    def forward(self, x):
        x = nn.functional.max_pool2d(self.block(self.stem(x)), 2)
        return self.head(x.view(x.size(0), -1))


net = ResNetLite()
opt = torch.optim.Adam(net.parameters(), lr=2e-3)
L, A = [], []
for epoch in range(4):
    tl, ta = 0, 0
    for xb, yb in loader:
        opt.zero_grad()
        o = net(xb)
        loss = nn.functional.cross_entropy(o, yb)
        loss.backward()
        opt.step()
        tl += loss.item() * len(yb)
        ta += (o.argmax(1) == yb).sum().item()
    L.append(tl / len(y))
    A.append(ta / len(y))
    print('Epoch %d: loss=%.4f acc=%.4f' % (epoch, L[-1], A[-1]))

plt.plot(L)
plt.title('Loss')
plt.show()
plt.plot(A)
plt.title('Accuracy')
plt.show()
