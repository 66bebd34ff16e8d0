import numpy as np
import scipy.io

train = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
U, S, Vt = np.linalg.svd(train['train_data'], full_matrices=False)
projection = Vt[:32].T
