import numpy as np
import scipy.io
import torch
import torch.nn as nn
import matplotlib.pyplot as plt

# Q6.1.2: a convolutional network on NIST36
torch.manual_seed(0)

train_data = scipy.io.loadmat('../data/nist36_train.mat')
valid_data = scipy.io.loadmat('../data/nist36_valid.mat')
test_data = scipy.io.loadmat('../data/nist36_test.mat')

train_x, train_y = train_data['train_data'], train_data['train_labels']
valid_x, valid_y = valid_data['valid_data'], valid_data['valid_labels']
test_x, test_y = test_data['test_data'], test_data['test_labels']


def as_images(x):
    # each row is a 32x32 image stored transposed (column-major): upright, one channel
    return torch.tensor(x.reshape(-1, 1, 32, 32).transpose(0, 1, 3, 2), dtype=torch.float32)


# PyTorch's cross-entropy takes class indices, not one-hot rows
train_x_t, train_y_t = as_images(train_x), torch.tensor(np.argmax(train_y, axis=1))
valid_x_t, valid_y_t = as_images(valid_x), torch.tensor(np.argmax(valid_y, axis=1))
test_x_t, test_y_t = as_images(test_x), torch.tensor(np.argmax(test_y, axis=1))

max_iters = 5
batch_size = 128
# pick a learning rate
learning_rate = None
# BEGIN SOLUTION
learning_rate = 0.05
# END SOLUTION

train_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train_x_t, train_y_t),
                                           batch_size=batch_size, shuffle=True)

# the network, its loss and optimizer
model = None
# BEGIN SOLUTION
model = nn.Sequential(
    nn.Conv2d(1, 8, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 8 x 16 x 16
    nn.Conv2d(8, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 8 x 8
    nn.Flatten(),
    nn.Linear(16 * 8 * 8, 128), nn.ReLU(),
    nn.Linear(128, train_y.shape[1]),
)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9)


def accuracy(x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()
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
    total_loss /= len(train_loader.dataset)
    total_acc /= len(train_loader.dataset)
    # END SOLUTION
    train_losses.append(total_loss)
    train_accs.append(total_acc)
    print("epoch {} loss {:.4f} acc {:.4f}".format(itr + 1, total_loss, total_acc))

valid_acc = None
test_acc = None
# BEGIN SOLUTION
valid_acc = accuracy(valid_x_t, valid_y_t)
test_acc = accuracy(test_x_t, test_y_t)
# END SOLUTION
print('Validation accuracy:', valid_acc)
print('Test accuracy:', test_acc)

# keep this line: the grader loads the file into `model` and measures it on held-out images
torch.save(model.state_dict(), 'q6_1_1_model.pt')

epochs = np.arange(1, len(train_accs) + 1)
plt.figure()
plt.plot(epochs, train_accs)
plt.xlabel('epoch')
plt.ylabel('accuracy')
plt.title('Q6.1.2 training accuracy')
plt.show()
plt.figure()
plt.plot(epochs, train_losses)
plt.xlabel('epoch')
plt.ylabel('loss')
plt.title('Q6.1.2 training loss')
plt.show()
