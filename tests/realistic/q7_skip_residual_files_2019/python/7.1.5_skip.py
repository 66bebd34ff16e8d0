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


class DenseishNet(nn.Module):
    def __init__(self):
        super(DenseishNet, self).__init__()
        self.c1 = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.c2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.c3 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.out = nn.Linear(16 * 8 * 8, 36)

    def forward(self, x):
        early = self.c1(x)
        later = self.c2(early)
        x = self.c3(torch.cat((early, later), 1))
        return self.out(x.view(x.size(0), -1))


net = DenseishNet()
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
