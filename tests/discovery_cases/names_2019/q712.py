import torch
import torchvision

mnist = torchvision.datasets.MNIST('../data', train=True, download=True)
train_data = mnist.train_data
model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 26 * 26, 10))
