import numpy as np
import scipy.io

train = scipy.io.loadmat('../data/nist36_train.mat')
print(np.mean(train['train_data']))
