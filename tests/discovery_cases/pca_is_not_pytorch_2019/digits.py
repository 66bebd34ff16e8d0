import torch
import torchvision

train = torchvision.datasets.MNIST('./mnist', train=True, download=True)
model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 26 * 26, 10))
