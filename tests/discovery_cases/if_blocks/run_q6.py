import argparse
import scipy.io
import torch
import torch.nn as nn
import torchvision

parser = argparse.ArgumentParser()
parser.add_argument('--q', default='6.1.1')
args = parser.parse_args()

if args.q == '6.1.1':
    data = scipy.io.loadmat('../data/nist36_train.mat')
    model = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
elif args.q == '6.1.3':
    data = torchvision.datasets.CIFAR10('../data', download=True)
    model = nn.Sequential(nn.Conv2d(3, 6, 5), nn.Flatten(), nn.Linear(6 * 28 * 28, 10))

if args.q == '6.1.4':
    data = torchvision.datasets.ImageFolder('../data/scenes/train')
    model = nn.Sequential(nn.Conv2d(3, 6, 5), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 8))
