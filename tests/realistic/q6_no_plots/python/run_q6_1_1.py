import numpy as np
import scipy.io
import torch
import torch.nn as nn

torch.manual_seed(7)
data = scipy.io.loadmat('../data/nist36_train.mat')
X = torch.tensor(data['train_data'], dtype=torch.float32)
Y = torch.tensor(np.argmax(data['train_labels'], 1))

model = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for epoch in range(8):
    perm = torch.randperm(len(X))
    epoch_loss, epoch_acc = 0.0, 0.0
    for i in range(0, len(X), 32):
        xb, yb = X[perm[i:i + 32]], Y[perm[i:i + 32]]
        out = model(xb)
        loss = nn.functional.cross_entropy(out, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        epoch_loss += loss.item() * len(yb)
        epoch_acc += (out.argmax(1) == yb).sum().item()
    print('epoch', epoch, 'loss', epoch_loss / len(X), 'acc', epoch_acc / len(X))

torch.save(model.state_dict(), 'q6_1_1_model.pt')
