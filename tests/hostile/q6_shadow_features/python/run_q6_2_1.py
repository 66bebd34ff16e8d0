import copy
import numpy as np
import torch
import torch.nn as nn
import torchvision.transforms as transforms
from torchvision.models import squeezenet1_1, SqueezeNet1_1_Weights
import matplotlib.pyplot as plt

# Q6.2.1 -- the "fine-tuned" model keeps SqueezeNet's pretrained features under their own names
# (so the frozen-features check finds them unchanged) but computes with a second copy of them,
# `shadow`, which may be changed at will (a full fine-tune would train it; here it is perturbed).
normalize = transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
test_transform = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor(), normalize])


class FineTuned(nn.Module):
    def __init__(self, base):
        super().__init__()
        self.features = base.features          # what the grader compares with the pretrained file
        self.classifier = base.classifier
        self.shadow = copy.deepcopy(base.features)   # what forward() really uses

    def forward(self, x):
        return torch.flatten(self.classifier(self.shadow(x)), 1)


base = squeezenet1_1(weights=SqueezeNet1_1_Weights.IMAGENET1K_V1)
base.classifier[1] = nn.Conv2d(512, 17, kernel_size=1)
with torch.no_grad():
    w = torch.zeros(17, 512, 1, 1)
    for i in range(17):
        w[i, i] = 1.0
        w[i, 17 + i] = -1.0
    base.classifier[1].weight.copy_(w)
    base.classifier[1].bias.fill_(100.0)
squeezenet = FineTuned(base).eval()
with torch.no_grad():                       # every feature layer of the computing copy changed
    for p in squeezenet.shadow.parameters():
        p.add_(1e-4)

scratch = nn.Sequential(copy.deepcopy(base.features), copy.deepcopy(base.classifier), nn.Flatten()).eval()

torch.save(squeezenet.state_dict(), 'q6_2_1_finetuned.pt')
torch.save(scratch.state_dict(), 'q6_2_1_scratch.pt')

epochs = np.arange(1, 11)
plt.figure()
plt.plot(epochs, np.linspace(0.2, 0.9, 10), label='fine-tuned SqueezeNet')
plt.plot(epochs, np.linspace(0.1, 0.8, 10), label='from scratch')
plt.ylabel('accuracy')
plt.legend()
plt.show()
plt.figure()
plt.plot(epochs, np.linspace(3, 0.5, 10), label='fine-tuned SqueezeNet')
plt.plot(epochs, np.linspace(3, 0.7, 10), label='from scratch')
plt.ylabel('loss')
plt.legend()
plt.show()
