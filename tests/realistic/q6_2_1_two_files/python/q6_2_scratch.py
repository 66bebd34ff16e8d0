import torch
import torch.nn as nn
import torchvision
from torchvision import transforms
import matplotlib.pyplot as plt

torch.manual_seed(0)
tf = transforms.Compose([transforms.Resize((128, 128)), transforms.ToTensor(),
                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
train = torchvision.datasets.ImageFolder('../data/oxford-flowers17/train', transform=tf)
loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=True)


class FlowerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 4, stride=4), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, 17))

    def forward(self, x):
        return self.fc(self.features(x))


cnn = FlowerNet()
opt = torch.optim.Adam(cnn.parameters(), lr=1e-3)
losses, accs = [], []
for epoch in range(6):
    cnn.train()
    total, right = 0.0, 0
    for x, y in loader:
        out = cnn(x)
        loss = nn.functional.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(y)
        right += (out.argmax(1) == y).sum().item()
    losses.append(total / len(train))
    accs.append(right / len(train))
    print('scratch epoch', epoch, 'loss', round(losses[-1], 4), 'acc', round(accs[-1], 4))
cnn.eval()

plt.plot(losses, label='loss')
plt.plot(accs, label='accuracy')
plt.legend()
plt.title('CNN from scratch')
plt.show()
