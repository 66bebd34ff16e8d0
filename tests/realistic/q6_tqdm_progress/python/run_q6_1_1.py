import numpy as np
import scipy.io
import torch
import torch.nn as nn
import matplotlib.pyplot as plt
from tqdm import tqdm

torch.manual_seed(3)
train_data = scipy.io.loadmat('../data/nist36_train.mat')
valid_data = scipy.io.loadmat('../data/nist36_valid.mat')
train_x = torch.tensor(train_data['train_data'], dtype=torch.float32)
train_y = torch.tensor(train_data['train_labels'].argmax(1))
valid_x = torch.tensor(valid_data['valid_data'], dtype=torch.float32)
valid_y = torch.tensor(valid_data['valid_labels'].argmax(1))
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train_x, train_y), batch_size=32, shuffle=True)

model = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
criterion = nn.CrossEntropyLoss()

accs, losses = [], []
for epoch in range(8):
    total, right, seen = 0.0, 0, 0
    bar = tqdm(loader, desc=f'epoch {epoch + 1}')
    for xb, yb in bar:
        optimizer.zero_grad()
        out = model(xb)
        loss = criterion(out, yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(yb)
        right += (out.argmax(1) == yb).sum().item()
        seen += len(yb)
        bar.set_postfix(loss=total / seen)
    losses.append(total / seen)
    accs.append(right / seen)
    with torch.no_grad():
        valid_acc = (model(valid_x).argmax(1) == valid_y).float().mean().item()
    print(f'epoch {epoch + 1}: train loss {losses[-1]:.4f} train acc {accs[-1]:.4f} valid acc {valid_acc:.4f}')

torch.save(model.state_dict(), 'q6_1_1_model.pt')
plt.figure()
plt.plot(accs)
plt.title('accuracy')
plt.figure()
plt.plot(losses)
plt.title('loss')
plt.show()
