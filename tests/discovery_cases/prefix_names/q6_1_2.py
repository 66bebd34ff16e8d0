import scipy.io
import torch.nn as nn

letters = scipy.io.loadmat('../data/nist36_train.mat')
model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 30 * 30, 36))
