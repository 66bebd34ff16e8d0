import numpy as np
import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as transforms
import matplotlib.pyplot as plt

# Q6.1.4: scene classification on the 8 SUN classes of homework 1 with a convolutional network
torch.manual_seed(0)

max_iters = 12
batch_size = 16
image_size = 64

# the images differ in size: every one is resized to image_size x image_size
normalize = transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
train_transform = transforms.Compose([
    transforms.Resize((image_size, image_size)),
    transforms.RandomHorizontalFlip(),
    transforms.ToTensor(),
    normalize,
])
test_transform = transforms.Compose([
    transforms.Resize((image_size, image_size)),
    transforms.ToTensor(),
    normalize,
])
trainset = torchvision.datasets.ImageFolder('../data/sun_scenes/train', transform=train_transform)
testset = torchvision.datasets.ImageFolder('../data/sun_scenes/test', transform=test_transform)
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
torch.save(model.state_dict(), 'q6_1_4_model.pt')

epochs = np.arange(1, len(train_accs) + 1)
plt.figure()
plt.plot(epochs, train_accs)
plt.xlabel('epoch')
plt.ylabel('accuracy')
plt.title('Q6.1.4 training accuracy')
plt.show()
plt.figure()
plt.plot(epochs, train_losses)
plt.xlabel('epoch')
plt.ylabel('loss')
plt.title('Q6.1.4 training loss')
plt.show()
