import numpy as np
import scipy.io
import matplotlib.pyplot as plt
from skimage.measure import compare_psnr

train_data = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
test_data = scipy.io.loadmat('../data/data1/nist36_test_set1.mat')


def fix_order(x):
    # images come from MATLAB stored column by column: flip each one back to row order once,
    # so that a plain reshape(32, 32) shows it upright from here on
    return x.reshape(-1, 32, 32).transpose(0, 2, 1).reshape(-1, 1024)


train_x = fix_order(train_data['train_data'])
test_x = fix_order(test_data['test_data'])
test_y = test_data['test_labels']

# PCA: SVD of the (centered) training data; rows of Vt are the principal directions
mu = np.mean(train_x, axis=0)
U, S, Vt = np.linalg.svd(train_x - mu, full_matrices=False)
k = 32
print("projection matrix shape:", Vt[:k].T.shape)
print("projection matrix rank:", np.linalg.matrix_rank(Vt[:k].T))

# reconstruct the test set from its 32 coordinates
test_recon = (test_x - mu).dot(Vt[:k].T).dot(Vt[:k]) + mu

for c in [0, 7, 18, 27, 33]:
    idx = np.where(test_y[:, c] == 1)[0][:2]
    for n, i in enumerate(idx):
        plt.subplot(2, 2, 2 * n + 1)
        plt.imshow(test_x[i].reshape(32, 32), cmap='gray')
        plt.subplot(2, 2, 2 * n + 2)
        plt.imshow(test_recon[i].reshape(32, 32), cmap='gray')
    plt.show()

psnrs = []
for i in range(len(test_x)):
    psnrs.append(compare_psnr(test_x[i], np.clip(test_recon[i], 0, 1)))
print("Average PSNR over the test set:")
print(np.mean(psnrs))
