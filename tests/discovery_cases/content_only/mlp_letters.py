import numpy as np
import scipy.io
import torch
import torch.nn as nn

train = scipy.io.loadmat('../data/nist36_train.mat')
model = nn.Sequential(nn.Linear(1024, 128), nn.ReLU(), nn.Linear(128, 36))
