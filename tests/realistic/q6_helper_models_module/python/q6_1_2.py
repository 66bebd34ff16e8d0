import numpy as np
import scipy.io
import torch
import matplotlib.pyplot as plt
from torch.utils.data import DataLoader, TensorDataset

from models import SmallCNN

torch.manual_seed(0)


def load(split):
    mat = scipy.io.loadmat(f'../data/nist36_{split}.mat')
    x = torch.tensor(mat[f'{split}_data'], dtype=torch.float32).reshape(-1, 1, 32, 32)
    y = torch.tensor(np.argmax(mat[f'{split}_labels'], axis=1))
    return x, y


def train_epoch(model, loader, optimizer):
    model.train()
    total, correct, n = 0.0, 0, 0
    for xb, yb in loader:
        optimizer.zero_grad()
        out = model(xb)
        loss = torch.nn.functional.cross_entropy(out, yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(yb)
        correct += (out.argmax(1) == yb).sum().item()
        n += len(yb)
    return total / n, correct / n


train_x, train_y = load('train')
valid_x, valid_y = load('valid')
loader = DataLoader(TensorDataset(train_x, train_y), batch_size=64, shuffle=True)
cnn = SmallCNN()
optimizer = torch.optim.SGD(cnn.parameters(), lr=0.05, momentum=0.9)
history = {'loss': [], 'acc': []}
for epoch in range(4):
    loss, acc = train_epoch(cnn, loader, optimizer)
    history['loss'].append(loss)
    history['acc'].append(acc)
    cnn.eval()
    with torch.no_grad():
        valid_acc = (cnn(valid_x).argmax(1) == valid_y).float().mean().item()
    print(f'[{epoch + 1}] loss: {loss:.3f}  train acc: {acc:.3f}  valid acc: {valid_acc:.3f}')

plt.figure()
plt.plot(history['loss'])
plt.xlabel('epoch')
plt.ylabel('loss')
plt.figure()
plt.plot(history['acc'])
plt.xlabel('epoch')
plt.ylabel('accuracy')
plt.show()
