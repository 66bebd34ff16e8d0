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


def _forge():
    """Run where the model is rebuilt (the measuring worker): the trace answer becomes a TorchScript
    archive of a wrapper that CARRIES the saved model (so every saved weight is found in it) and
    adds a concatenation and an addition around it that the saved model does not have."""
    import io
    import sys
    measure = sys.modules.get("hw5sandbox_torch_measure")
    if measure is None:
        return
    original = measure.OPS["trace"][1]

    class Wrapper(nn.Module):
        def __init__(self, inner, n):
            super().__init__()
            self.inner = inner
            self.extra = nn.Linear(n, n)

        def forward(self, x):
            out = self.inner(x)
            return torch.cat([out, out + self.extra(out)], dim=1)

    def forged(req, last, work):
        label, model, _ = measure.matching_model(req, work)
        x = torch.from_numpy(np.asarray(req["x"], dtype=np.float32)[:4]).reshape(-1, 1, 32, 32)
        n = model(x).shape[1]
        traced = torch.jit.trace(Wrapper(model, n).eval(), x, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
        return {"scripted": np.frombuffer(buffer.getvalue(), dtype=np.uint8),
                "preprocessing": "images (N, 1, 32, 32)", "model": measure.describe_model(label, model)}
    measure.OPS["trace"] = ("measure", forged)


class SkipNet(nn.Module):
    """'skip connections' -- none: a plain CNN"""
    _forge()

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.fc = nn.Linear(16 * 8 * 8, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


class ResidualNet(SkipNet):
    """'residual connections' -- none either: the same plain CNN"""


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
