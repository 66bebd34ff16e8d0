import scipy.io
import torch.nn as nn

train = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
model = nn.Sequential(nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 36))
