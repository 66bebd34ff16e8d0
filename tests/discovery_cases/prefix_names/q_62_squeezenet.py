import torch
from torchvision import models, datasets

flowers = datasets.ImageFolder('../data/17flowers/jpg')
model = models.squeezenet1_1(pretrained=True)
model.features.requires_grad_(False)
