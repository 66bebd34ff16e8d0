import numpy as np
import scipy.io
import torch
import torch.nn as nn
import torchvision.transforms as transforms
import matplotlib.pyplot as plt

torch.manual_seed(0)
device = torch.device('cuda:0')

train_data = scipy.io.loadmat('../data/nist36_train.mat')
valid_data = scipy.io.loadmat('../data/nist36_valid.mat')
train_x, train_y = train_data['train_data'], train_data['train_labels']
valid_x, valid_y = valid_data['valid_data'], valid_data['valid_labels']

# kept from the tutorial this started from (images are already 32x32 here)
unused_pipeline = transforms.Compose([transforms.Scale(32), transforms.ToTensor()])

train_set = torch.utils.data.TensorDataset(torch.from_numpy(train_x).float(),
                                           torch.from_numpy(np.argmax(train_y, 1)))
train_loader = torch.utils.data.DataLoader(train_set, batch_size=32, shuffle=True, num_workers=4,
                                           pin_memory=True)


class FCNet(nn.Module):
    def __init__(self, d_in, hidden, d_out):
        super(FCNet, self).__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, d_out)

    def forward(self, x):
        return self.fc2(torch.sigmoid(self.fc1(x)))


model = FCNet(1024, 64, 36).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

losses, accs = [], []
for epoch in range(10):
    model.train()
    running_loss = 0.0
    correct = torch.zeros(1, device='cuda')
    for inputs, labels in train_loader:
        inputs, labels = inputs.cuda(), labels.cuda()
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item() * inputs.size(0)
        correct += (outputs.argmax(1) == labels).sum()
    losses.append(running_loss / len(train_set))
    accs.append(correct.item() / len(train_set))
    print('Epoch: %d | Loss: %.4f | Acc: %.4f' % (epoch + 1, losses[-1], accs[-1]))

model.eval()
with torch.no_grad():
    vx = torch.from_numpy(valid_x).float().to(device)
    vy = torch.from_numpy(np.argmax(valid_y, 1)).to(device)
    print('valid acc', (model(vx).argmax(1) == vy).float().mean().item())

torch.save(model.state_dict(), 'q6_1_1_model.pt')

plt.figure()
plt.plot(accs)
plt.title('training accuracy')
plt.show()
plt.figure()
plt.plot(losses)
plt.title('training loss')
plt.show()
