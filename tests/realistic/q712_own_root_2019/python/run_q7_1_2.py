import numpy as np
import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as transforms
import matplotlib.pyplot as plt

# Q7.1.2: a convolutional network on MNIST
torch.manual_seed(0)

max_iters = 3
batch_size = 64

# tensors in [-1, 1]; downloaded into ../data the first time
transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize((0.1307,), (0.3081,)),
])
trainset = torchvision.datasets.MNIST(root='./mnist_data', train=True, download=True, transform=transform)
testset = torchvision.datasets.MNIST(root='./mnist_data', train=False, download=True, transform=transform)
train_loader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True)
test_loader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False)
classes = trainset.classes

# pick a learning rate
learning_rate = None
# BEGIN SOLUTION
learning_rate = 0.05
# END SOLUTION

# the network, its loss and optimizer
model = None
# BEGIN SOLUTION
model = nn.Sequential(
    nn.Conv2d(1, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 8 x 14 x 14
    nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 7 x 7
    nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 3 x 3
    nn.Flatten(),
    nn.Linear(32 * 3 * 3, 64), nn.ReLU(),
    nn.Linear(64, len(classes)),
)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9)
# END SOLUTION

train_losses, train_accs = [], []
for itr in range(max_iters):
    # average loss per example and fraction correct over this epoch
    total_loss = 0.0
    total_acc = 0.0
    # BEGIN SOLUTION
    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()
        out = model(xb)
        loss = criterion(out, yb)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * xb.shape[0]
        total_acc += (out.argmax(dim=1) == yb).sum().item()
    total_loss /= len(trainset)
    total_acc /= len(trainset)
    # END SOLUTION
    train_losses.append(total_loss)
    train_accs.append(total_acc)
    print("epoch {} loss {:.4f} acc {:.4f}".format(itr + 1, total_loss, total_acc))

test_acc = None
# BEGIN SOLUTION
model.eval()
correct = 0
with torch.no_grad():
    for xb, yb in test_loader:
        correct += (model(xb).argmax(dim=1) == yb).sum().item()
test_acc = correct / len(testset)
# END SOLUTION
print('Test accuracy:', test_acc)

# keep this line: the grader loads the file into `model` and measures it on held-out images
torch.save(model.state_dict(), 'q7_1_2_model.pt')

epochs = np.arange(1, len(train_accs) + 1)
plt.figure()
plt.plot(epochs, train_accs)
plt.xlabel('epoch')
plt.ylabel('accuracy')
plt.title('Q7.1.2 training accuracy')
plt.show()
plt.figure()
plt.plot(epochs, train_losses)
plt.xlabel('epoch')
plt.ylabel('loss')
plt.title('Q7.1.2 training loss')
plt.show()
