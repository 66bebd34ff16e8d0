import numpy as np
import torch
import torch.nn as nn
import torchvision
import matplotlib.pyplot as plt

torch.manual_seed(11)
trainset = torchvision.datasets.CIFAR10(root='../data', train=True, download=True)
images = torch.from_numpy(np.asarray(trainset.train_data)).permute(0, 3, 1, 2).float() / 255.0
labels = torch.tensor(np.asarray(trainset.train_labels))
images = (images - 0.5) / 0.5

model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(32 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
loss_curve, acc_curve = [], []
for epoch in range(5):
    perm = torch.randperm(len(images))
    total, right = 0.0, 0
    for i in range(0, len(images), 32):
        idx = perm[i:i + 32]
        out = model(images[idx])
        loss = nn.functional.cross_entropy(out, labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
        right += (out.argmax(1) == labels[idx]).sum().item()
    loss_curve.append(total / len(images))
    acc_curve.append(right / len(images))
    print('epoch', epoch + 1, 'loss', round(loss_curve[-1], 4), 'acc', round(acc_curve[-1], 4))

plt.subplot(1, 2, 1)
plt.plot(loss_curve)
plt.title('CIFAR-10 training loss')
plt.subplot(1, 2, 2)
plt.plot(acc_curve)
plt.title('CIFAR-10 training accuracy')
plt.show()
