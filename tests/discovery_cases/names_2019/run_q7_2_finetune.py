import torch
import torchvision
from torchvision import models

data = torchvision.datasets.ImageFolder('../data/oxford-flowers17/train')
net = models.squeezenet1_1(pretrained=True)
for p in net.features.parameters():
    p.requires_grad = False
net = nn.DataParallel(net, device_ids=[4, 5, 6, 7])
