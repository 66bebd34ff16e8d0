import scipy.io
import torch
from torch import nn

data = scipy.io.loadmat("../data/nist36_train.mat")
model = nn.Sequential(nn.Linear(1024, 64), nn.ReLU(), nn.Linear(64, 36))
