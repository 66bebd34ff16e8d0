import numpy as np
import scipy.io
import torch
import torch.nn as nn
import matplotlib.pyplot as plt

torch.manual_seed(21)
train_data = scipy.io.loadmat('../data/nist36_train.mat')
x = torch.tensor(train_data['train_data'], dtype=torch.float32)
y = torch.tensor(np.argmax(train_data['train_labels'], axis=1))
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)

model = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
criterion = nn.CrossEntropyLoss()
losses, accs = [], []
for epoch in range(8):
    tot, ok = 0.0, 0
    for xb, yb in loader:
        optimizer.zero_grad()
        out = model(xb)
        loss = criterion(out, yb)
        loss.backward()
        optimizer.step()
        tot += loss.item() * len(yb)
        ok += (out.argmax(1) == yb).sum().item()
    losses.append(tot / len(x))
    accs.append(ok / len(x))
    print(f'epoch {epoch}: loss {losses[-1]:.4f} accuracy {accs[-1]:.4f}')

torch.save(model, 'q6_1_1_model.pt')
plt.plot(accs)
plt.title('accuracy')
plt.figure()
plt.plot(losses)
plt.title('loss')
plt.show()
