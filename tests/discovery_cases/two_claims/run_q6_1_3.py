import torch
import torchvision

trainset = torchvision.datasets.CIFAR10(root='../data', train=True, download=True)
model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(3600, 10))
