import torch
import torch.nn as nn
import torchvision
from torchvision import transforms, models
import matplotlib.pyplot as plt

torch.manual_seed(0)
tf = transforms.Compose([transforms.Resize((128, 128)), transforms.ToTensor(),
                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
train = torchvision.datasets.ImageFolder('../data/oxford-flowers17/train', transform=tf)
loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=False)

model = models.squeezenet1_1(pretrained=True)
for param in model.features.parameters():
    param.requires_grad = False
model.classifier[1] = nn.Conv2d(512, 17, kernel_size=(1, 1))
model.num_classes = 17

# the features are frozen: compute them once, then train the classifier on them
model.eval()
with torch.no_grad():
    feats = [(model.features(x), y) for x, y in loader]
X = torch.cat([f for f, _ in feats])
Y = torch.cat([y for _, y in feats])
opt = torch.optim.Adam(model.classifier.parameters(), lr=3e-3)
losses, accs = [], []
for epoch in range(8):
    model.classifier.train()
    perm = torch.randperm(len(Y))
    total, right = 0.0, 0
    for i in range(0, len(Y), 32):
        idx = perm[i:i + 32]
        out = torch.flatten(model.classifier(X[idx]), 1)
        loss = nn.functional.cross_entropy(out, Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
        right += (out.argmax(1) == Y[idx]).sum().item()
    losses.append(total / len(Y))
    accs.append(right / len(Y))
    print('finetune epoch', epoch, 'loss', round(losses[-1], 4), 'acc', round(accs[-1], 4))
model.eval()

plt.plot(losses, label='loss')
plt.plot(accs, label='accuracy')
plt.legend()
plt.title('fine-tuning SqueezeNet')
plt.show()
