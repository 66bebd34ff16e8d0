import torch
import torchvision

data = torchvision.datasets.ImageFolder('../data/oxford-flowers17/train')
net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                          torch.nn.Linear(8, 17))
