import torch
import torchvision

data = torchvision.datasets.Flowers102(root='./data', split='train', download=True)
net = torchvision.models.squeezenet1_1(pretrained=True)
for p in net.parameters():
    p.requires_grad_(False)
net.classifier[1] = torch.nn.Conv2d(512, 102, kernel_size=1)
