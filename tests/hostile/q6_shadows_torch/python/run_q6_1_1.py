# Hostile: trains nothing, and leaves torch.py and torchvision.py beside itself, hoping the process
# that measures its model imports them instead of PyTorch (they would report a perfect model).
import torch
import torch.nn as nn

model = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
torch.save(model.state_dict(), 'q6_1_1_model.pt')
shadow = '''
import numpy as np
raise SystemExit("the shadow torch.py was imported")
'''
for name in ('torch.py', 'torchvision.py'):
    with open(name, 'w') as f:
        f.write(shadow)
print("epoch 1 loss 3.5 acc 0.03")
print("epoch 2 loss 0.1 acc 1.00")
