import scipy.io
import torch.nn as nn

train = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 30 * 30, 36))
