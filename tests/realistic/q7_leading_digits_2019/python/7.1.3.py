import numpy as np
import scipy.io
import torch
import torch.nn as nn
import matplotlib.pyplot as plt

torch.manual_seed(13)
train = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
valid = scipy.io.loadmat('../data/data1/nist36_valid_set1.mat')
tx = torch.tensor(train['train_data'], dtype=torch.float32).view(-1, 1, 32, 32)
ty = torch.tensor(train['train_labels'].argmax(1))
vx = torch.tensor(valid['valid_data'], dtype=torch.float32).view(-1, 1, 32, 32)
vy = torch.tensor(valid['valid_labels'].argmax(1))

cnn = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(32 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 36))
optimizer = torch.optim.Adam(cnn.parameters(), lr=1e-3)
train_loss, train_acc = [], []
for epoch in range(4):
    cnn.train()
    perm = torch.randperm(len(tx))
    total, right = 0.0, 0
    for i in range(0, len(tx), 50):
        idx = perm[i:i + 50]
        out = cnn(tx[idx])
        loss = nn.functional.cross_entropy(out, ty[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
        right += (out.argmax(1) == ty[idx]).sum().item()
    train_loss.append(total / len(tx))
    train_acc.append(right / len(tx))
    cnn.eval()
    with torch.no_grad():
        val = (cnn(vx).argmax(1) == vy).float().mean().item()
    print('epoch %d: loss %.3f train %.3f valid %.3f' % (epoch + 1, train_loss[-1], train_acc[-1], val))

plt.plot(train_loss)
plt.title('loss')
plt.figure()
plt.plot(train_acc)
plt.title('accuracy')
plt.show()
