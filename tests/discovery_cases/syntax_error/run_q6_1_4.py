import torch
import torchvision

data = torchvision.datasets.ImageFolder('../data/sun/train')
model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)
print "training"
