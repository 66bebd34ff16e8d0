import numpy as np
import scipy.io
import torch
import torch.nn as nn
import matplotlib.pyplot as plt

# Q7.1.1: the fully connected network of Q3, written and trained with PyTorch
torch.manual_seed(0)

train_data = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
valid_data = scipy.io.loadmat('../data/data1/nist36_valid_set1.mat')
test_data = scipy.io.loadmat('../data/data1/nist36_test_set1.mat')

train_x, train_y = train_data['train_data'], train_data['train_labels']
valid_x, valid_y = valid_data['valid_data'], valid_data['valid_labels']
test_x, test_y = test_data['test_data'], test_data['test_labels']

# PyTorch's cross-entropy takes class indices, not one-hot rows
train_x_t = torch.tensor(train_x, dtype=torch.float32)
train_y_t = torch.tensor(np.argmax(train_y, axis=1))
valid_x_t = torch.tensor(valid_x, dtype=torch.float32)
valid_y_t = torch.tensor(np.argmax(valid_y, axis=1))
test_x_t = torch.tensor(test_x, dtype=torch.float32)
test_y_t = torch.tensor(np.argmax(test_y, axis=1))

max_iters = 10
batch_size = 32
hidden_size = 64
# pick a learning rate
learning_rate = None
# BEGIN SOLUTION
learning_rate = 0.05
# END SOLUTION

train_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(train_x_t, train_y_t),
                                           batch_size=batch_size, shuffle=True)

# the network (1024 -> 64 sigmoid -> 36), its loss and optimizer
model = None
# BEGIN SOLUTION
model = nn.Sequential(
    nn.Linear(train_x.shape[1], hidden_size),
    nn.Sigmoid(),
    nn.Linear(hidden_size, train_y.shape[1]),
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
torch.save(model.state_dict(), 'q7_1_1_model.pt')

epochs = np.arange(1, len(train_accs) + 1)
plt.figure()
plt.plot(epochs, train_accs)
plt.xlabel('epoch')
plt.ylabel('accuracy')
plt.title('Q7.1.1 training accuracy')
plt.savefig('q7_1_1_accuracy.png')
plt.close()
plt.figure()
plt.plot(epochs, train_losses)
plt.xlabel('epoch')
plt.ylabel('loss')
plt.title('Q7.1.1 training loss')
plt.savefig('q7_1_1_loss.png')
plt.close()
