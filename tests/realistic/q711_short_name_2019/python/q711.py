import numpy as np
import scipy.io
import torch
import torch.nn as nn
import matplotlib.pyplot as plt

torch.manual_seed(2019)
d = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
X = torch.Tensor(d['train_data'])
Y = torch.LongTensor(d['train_labels'].argmax(1))

net = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
opt = torch.optim.Adam(net.parameters(), lr=2e-3)
lossf = nn.CrossEntropyLoss()
L, A = [], []
for ep in range(10):
    idx = np.random.permutation(len(X))
    s_loss = s_acc = 0.0
    for b in range(0, len(X), 100):
        j = torch.from_numpy(idx[b:b + 100])
        out = net(X[j])
        loss = lossf(out, Y[j])
        opt.zero_grad()
        loss.backward()
        opt.step()
        s_loss += loss.item() * len(j)
        s_acc += (out.argmax(1) == Y[j]).float().sum().item()
    L.append(s_loss / len(X))
    A.append(s_acc / len(X))
    print('itr: {:02d} \t loss: {:.2f} \t acc : {:.2f}'.format(ep, L[-1], A[-1]))

torch.save(net.state_dict(), 'fc_nist36.pth')
plt.figure('accuracy')
plt.plot(range(10), A, 'b')
plt.figure('loss')
plt.plot(range(10), L, 'r')
plt.show()
