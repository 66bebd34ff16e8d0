import numpy as np
import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as transforms
import matplotlib.pyplot as plt

# Q6.1.3: a convolutional network on CIFAR-10
torch.manual_seed(0)

max_iters = 5
batch_size = 64

# tensors in [-1, 1]; downloaded into ../data the first time
transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
])
trainset = torchvision.datasets.CIFAR10(root='../data', train=True, download=True, transform=transform)
testset = torchvision.datasets.CIFAR10(root='../data', train=False, download=True, transform=transform)
train_loader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True)
test_loader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False)
classes = trainset.classes

# pick a learning rate
learning_rate = None
##########################
##### your code here #####
##########################

# the network, its loss and optimizer
model = None
##########################
##### your code here #####
##########################

train_losses, train_accs = [], []
for itr in range(max_iters):
    # average loss per example and fraction correct over this epoch
    total_loss = 0.0
    total_acc = 0.0
    ##########################
    ##### your code here #####
    ##########################
    train_losses.append(total_loss)
    train_accs.append(total_acc)
    print("epoch {} loss {:.4f} acc {:.4f}".format(itr + 1, total_loss, total_acc))

test_acc = None
##########################
##### your code here #####
##########################
print('Test accuracy:', test_acc)

# keep this line: the grader loads the file into `model` and measures it on held-out images
torch.save(model.state_dict(), 'q6_1_3_model.pt')

epochs = np.arange(1, len(train_accs) + 1)
plt.figure()
plt.plot(epochs, train_accs)
plt.xlabel('epoch')
plt.ylabel('accuracy')
plt.title('Q6.1.3 training accuracy')
plt.show()
plt.figure()
plt.plot(epochs, train_losses)
plt.xlabel('epoch')
plt.ylabel('loss')
plt.title('Q6.1.3 training loss')
plt.show()
