import scipy.io
import torch
from models import MLP

data = scipy.io.loadmat('../data/nist36_train.mat')
model = MLP()
