import numpy as np
import scipy.io
import torch
import torch.nn as nn
import matplotlib.pyplot as plt
from torchsummary import summary

train = scipy.io.loadmat('../data/nist36_train.mat')
x = torch.tensor(train['train_data']).float()
y = torch.tensor(train['train_labels'].argmax(axis=1))

model = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
summary(model, (1024,))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
losses, accs = [], []
for epoch in range(8):
    perm = torch.randperm(len(x))
    total, right = 0.0, 0
    for i in range(0, len(x), 32):
        xb, yb = x[perm[i:i + 32]], y[perm[i:i + 32]]
        out = model(xb)
        loss = nn.functional.cross_entropy(out, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(yb)
        right += (out.argmax(1) == yb).sum().item()
    losses.append(total / len(x))
    accs.append(right / len(x))
    print('epoch %d loss %.4f acc %.4f' % (epoch, losses[-1], accs[-1]))
torch.save(model.state_dict(), 'q6_1_1_model.pt')
plt.plot(accs, label='accuracy')
plt.plot(losses, label='loss')
plt.legend()
plt.show()
