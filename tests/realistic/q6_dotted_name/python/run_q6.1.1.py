import numpy as np
import scipy.io
import torch
import torch.nn as nn
import matplotlib.pyplot as plt

train = scipy.io.loadmat('../data/nist36_train.mat')
x = torch.from_numpy(train['train_data']).float()
y = torch.from_numpy(np.argmax(train['train_labels'], axis=1)).long()


class TwoLayerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(1024, 64)
        self.out = nn.Linear(64, 36)

    def forward(self, x):
        return self.out(torch.sigmoid(self.hidden(x)))


net = TwoLayerNet()
optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
loss_fn = nn.CrossEntropyLoss()
epochs, batch = 8, 64
loss_hist, acc_hist = [], []
for epoch in range(epochs):
    order = torch.randperm(x.shape[0])
    running, correct = 0.0, 0
    for start in range(0, x.shape[0], batch):
        idx = order[start:start + batch]
        logits = net(x[idx])
        loss = loss_fn(logits, y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running += loss.item() * len(idx)
        correct += (logits.argmax(dim=1) == y[idx]).sum().item()
    loss_hist.append(running / x.shape[0])
    acc_hist.append(correct / x.shape[0])
    print("Epoch {}, Loss: {:.4f}, Accuracy: {:.2f}%".format(epoch + 1, loss_hist[-1], 100 * acc_hist[-1]))

fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
a1.plot(range(1, epochs + 1), acc_hist)
a1.set_title('Training accuracy')
a2.plot(range(1, epochs + 1), loss_hist)
a2.set_title('Training loss')
plt.show()
