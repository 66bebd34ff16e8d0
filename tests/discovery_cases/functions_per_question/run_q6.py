import sys
import numpy as np
import scipy.io
import torch
import torch.nn as nn
import torchvision
from torchvision import models, transforms

train = scipy.io.loadmat('../data/nist36_train.mat')
train_x = torch.tensor(train['train_data'], dtype=torch.float32)
train_y = torch.tensor(np.argmax(train['train_labels'], axis=1))


def q6_1_1():
    model = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
    return model(train_x)


def q6_1_2():
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Flatten(), nn.Linear(8 * 30 * 30, 36))
    return model(train_x.reshape(-1, 1, 32, 32))


def q6_1_3():
    data = torchvision.datasets.CIFAR10('../data', download=True, transform=transforms.ToTensor())
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 30 * 30, 10)), data


def q6_2_1():
    data = torchvision.datasets.ImageFolder('../data/flowers17/train')
    net = models.squeezenet1_1(pretrained=True)
    for p in net.features.parameters():
        p.requires_grad = False
    net.classifier[1] = nn.Conv2d(512, 17, 1)
    scratch = nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 17))
    return net, scratch, data


if __name__ == '__main__':
    q6_1_1()
    q6_1_2()
    q6_1_3()
    q6_2_1()
