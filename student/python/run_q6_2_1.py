import numpy as np
import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as transforms
from torchvision.models import squeezenet1_1, SqueezeNet1_1_Weights
import matplotlib.pyplot as plt

# Q6.2.1: fine-tune SqueezeNet 1.1's classifier on Flowers-17, and compare with a small
# network trained from scratch
torch.manual_seed(0)

finetune_iters = 12
scratch_iters = 10
batch_size = 32
image_size = 128  # smaller than ImageNet's 224 to keep training quick on a CPU

# SqueezeNet was trained on images normalised with ImageNet's mean and deviation
normalize = transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
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
trainset = torchvision.datasets.ImageFolder('../data/oxford-flowers17/train', transform=train_transform)
valset = torchvision.datasets.ImageFolder('../data/oxford-flowers17/val', transform=test_transform)
testset = torchvision.datasets.ImageFolder('../data/oxford-flowers17/test', transform=test_transform)
train_loader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True)
val_loader = torch.utils.data.DataLoader(valset, batch_size=batch_size, shuffle=False)
test_loader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False)
classes = trainset.classes

# the pretrained SqueezeNet 1.1 with a new 17-way classifier; only the classifier is trained
squeezenet = None
##########################
##### your code here #####
##########################

# a network of your own design, trained from scratch
scratch = None
##########################
##### your code here #####
##########################

finetune_losses, finetune_accs = [], []
for itr in range(finetune_iters):
    total_loss = 0.0
    total_acc = 0.0
    ##########################
    ##### your code here #####
    ##########################
    finetune_losses.append(total_loss)
    finetune_accs.append(total_acc)
    print("squeezenet epoch {} loss {:.4f} acc {:.4f}".format(itr + 1, total_loss, total_acc))

scratch_losses, scratch_accs = [], []
for itr in range(scratch_iters):
    total_loss = 0.0
    total_acc = 0.0
    ##########################
    ##### your code here #####
    ##########################
    scratch_losses.append(total_loss)
    scratch_accs.append(total_acc)
    print("scratch epoch {} loss {:.4f} acc {:.4f}".format(itr + 1, total_loss, total_acc))

finetune_val_acc, finetune_test_acc = None, None
scratch_val_acc, scratch_test_acc = None, None
##########################
##### your code here #####
##########################
print('Fine-tuned SqueezeNet: validation accuracy', finetune_val_acc, 'test accuracy', finetune_test_acc)
print('From scratch: validation accuracy', scratch_val_acc, 'test accuracy', scratch_test_acc)

# keep these lines: the grader loads each file into its network and measures it on held-out
# images, and checks that only the classifier of SqueezeNet changed
torch.save(squeezenet.state_dict(), 'q6_2_1_finetuned.pt')
torch.save(scratch.state_dict(), 'q6_2_1_scratch.pt')

plt.figure()
plt.plot(np.arange(1, len(finetune_accs) + 1), finetune_accs, label='fine-tuned SqueezeNet')
plt.plot(np.arange(1, len(scratch_accs) + 1), scratch_accs, label='from scratch')
plt.xlabel('epoch')
plt.ylabel('accuracy')
plt.legend()
plt.title('Q6.2.1 training accuracy')
plt.show()
plt.figure()
plt.plot(np.arange(1, len(finetune_losses) + 1), finetune_losses, label='fine-tuned SqueezeNet')
plt.plot(np.arange(1, len(scratch_losses) + 1), scratch_losses, label='from scratch')
plt.xlabel('epoch')
plt.ylabel('loss')
plt.legend()
plt.title('Q6.2.1 training loss')
plt.show()
