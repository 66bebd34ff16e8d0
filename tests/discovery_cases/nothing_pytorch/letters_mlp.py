# NumPy only: the network of Q3 again, not the PyTorch one
import numpy as np
import scipy.io

train = scipy.io.loadmat('../data/nist36_train.mat')
W = np.zeros((1024, 36))
