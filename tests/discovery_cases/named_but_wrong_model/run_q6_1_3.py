import torch
import torchvision

# named for CIFAR-10, trains on MNIST
data = torchvision.datasets.MNIST('./data', download=True)
model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 26 * 26, 10))
