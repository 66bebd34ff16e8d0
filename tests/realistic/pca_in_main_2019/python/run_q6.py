import numpy as np
import scipy.io
import matplotlib.pyplot as plt
from skimage.metrics import peak_signal_noise_ratio


def main():
    train_data = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
    test_data = scipy.io.loadmat('../data/data1/nist36_test_set1.mat')

    train_x = train_data['train_data']
    test_x = test_data['test_data']
    test_y = test_data['test_labels']

    # SVD of the training data
    u, s, vh = np.linalg.svd(train_x, full_matrices=False)
    P = vh[:32, :].T          # 1024 x 32 projection
    print('projection matrix shape:', P.shape, 'rank:', np.linalg.matrix_rank(P))

    recon = test_x @ P @ P.T

    for c in [0, 7, 18, 27, 33]:
        idx = np.where(test_y[:, c] == 1)[0][:2]
        for i in idx:
            plt.subplot(1, 2, 1)
            plt.imshow(test_x[i].reshape(32, 32).T, cmap='gray')
            plt.subplot(1, 2, 2)
            plt.imshow(recon[i].reshape(32, 32).T, cmap='gray')
            plt.show()

    psnrs = [peak_signal_noise_ratio(test_x[i], recon[i]) for i in range(test_x.shape[0])]
    print('average PSNR:', np.mean(psnrs))
    print('number of parameters:', P.size)


if __name__ == '__main__':
    main()
