import numpy as np
import scipy.io
import torch
import torch.nn as nn
import torch.nn.functional as F
import matplotlib.pyplot as plt

# Q7.1.5: the CNN of Q7.1.3 redesigned twice, with skip connections (an earlier layer's features
# concatenated to a later layer's input, as in DenseNet or U-Net) and with residual connections
# (a block's input added to its output, x + F(x), as in ResNet)
torch.manual_seed(0)

train_data = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
test_data = scipy.io.loadmat('../data/data1/nist36_test_set1.mat')
train_x, train_y = train_data['train_data'], train_data['train_labels']
test_x, test_y = test_data['test_data'], test_data['test_labels']


def as_images(x):
    # each row is a 32x32 image stored transposed (column-major): upright, one channel
    return torch.tensor(x.reshape(-1, 1, 32, 32).transpose(0, 1, 3, 2), dtype=torch.float32)


train_x_t, train_y_t = as_images(train_x), torch.tensor(np.argmax(train_y, axis=1))
test_x_t, test_y_t = as_images(test_x), torch.tensor(np.argmax(test_y, axis=1))
classes = train_y.shape[1]

max_iters = 4
batch_size = 128
learning_rate = 0.05
train_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train_x_t, train_y_t),
                                           batch_size=batch_size, shuffle=True)


class SkipNet(nn.Module):
    """skip connections"""
    def __init__(self):
        super().__init__()
        # BEGIN SOLUTION
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(16, 16, kernel_size=3, padding=1)
        self.fc = nn.Linear(16 * 8 * 8, classes)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        a = F.max_pool2d(F.relu(self.conv1(x)), 2)         # 8 x 16 x 16
        b = F.relu(self.conv2(a))
        x = torch.cat([a, b], dim=1)                       # a skips conv2
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)         # 16 x 8 x 8
        return self.fc(x.flatten(1))
    # END SOLUTION


class ResidualNet(nn.Module):
    """residual connections"""
    def __init__(self):
        super().__init__()
        # BEGIN SOLUTION
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.block1 = nn.Conv2d(16, 16, kernel_size=3, padding=1)
        self.block2 = nn.Conv2d(16, 16, kernel_size=3, padding=1)
        self.fc = nn.Linear(16 * 8 * 8, classes)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)         # 16 x 16 x 16
        x = F.relu(x + self.block2(F.relu(self.block1(x))))  # x + F(x)
        x = F.max_pool2d(x, 2)                             # 16 x 8 x 8
        return self.fc(x.flatten(1))
    # END SOLUTION


def train(model, name):
    """Train one model; returns its loss and accuracy per epoch."""
    losses, accs = [], []
    # BEGIN SOLUTION
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9)
    for itr in range(max_iters):
        model.train()
        total_loss, total_acc = 0.0, 0.0
        for xb, yb in train_loader:
            optimizer.zero_grad()
            out = model(xb)
            loss = criterion(out, yb)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * xb.shape[0]
            total_acc += (out.argmax(dim=1) == yb).sum().item()
        losses.append(total_loss / len(train_loader.dataset))
        accs.append(total_acc / len(train_loader.dataset))
        print("{} epoch {} loss {:.4f} acc {:.4f}".format(name, itr + 1, losses[-1], accs[-1]))
    # END SOLUTION
    return losses, accs


skip = SkipNet()
residual = ResidualNet()
for model, name in ((skip, 'skip'), (residual, 'residual')):
    losses, accs = train(model, name)
    model.eval()
    with torch.no_grad():
        print(name, 'test accuracy:', (model(test_x_t).argmax(dim=1) == test_y_t).float().mean().item())
    # keep this line: the grader loads each file into its model and measures it on held-out images
    torch.save(model.state_dict(), 'q7_1_5_{}.pt'.format(name))
    epochs = np.arange(1, len(accs) + 1)
    plt.figure()
    plt.plot(epochs, accs)
    plt.xlabel('epoch')
    plt.ylabel('accuracy')
    plt.title('Q7.1.5 {} network: training accuracy'.format(name))
    plt.show()
    plt.figure()
    plt.plot(epochs, losses)
    plt.xlabel('epoch')
    plt.ylabel('loss')
    plt.title('Q7.1.5 {} network: training loss'.format(name))
    plt.show()
