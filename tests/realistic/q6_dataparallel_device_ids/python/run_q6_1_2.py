import numpy as np
import scipy.io
import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

device = torch.device('cuda:0')
torch.manual_seed(5)

train = scipy.io.loadmat('../data/nist36_train.mat')
X = torch.FloatTensor(train['train_data']).view(-1, 1, 32, 32)
Y = torch.LongTensor(np.argmax(train['train_labels'], axis=1))
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=64, shuffle=True)


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 12, 5, padding=2)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(12, 24, 5, padding=2)
        self.fc1 = nn.Linear(24 * 8 * 8, 120)
        self.fc2 = nn.Linear(120, 36)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 24 * 8 * 8)
        return self.fc2(F.relu(self.fc1(x)))


model = nn.DataParallel(Net(), device_ids=[4, 5, 6, 7]).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
losses, accuracies = [], []
for epoch in range(4):
    running_loss, correct, total = 0.0, 0, 0
    for inputs, labels in loader:
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item() * labels.size(0)
        correct += (outputs.max(1)[1] == labels).sum().item()
        total += labels.size(0)
    losses.append(running_loss / total)
    accuracies.append(correct / total)
    print('Epoch %d: loss %.3f, accuracy %.3f' % (epoch + 1, losses[-1], accuracies[-1]))

torch.save(model.state_dict(), 'q6_1_2_model.pt')
plt.plot(losses, label='loss')
plt.plot(accuracies, label='accuracy')
plt.legend()
plt.title('Q6.1.2 training')
plt.show()
