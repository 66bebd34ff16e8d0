import numpy as np
import scipy.io
import matplotlib.pyplot as plt
from skimage.metrics import peak_signal_noise_ratio

train_data = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
test_data = scipy.io.loadmat('../data/data1/nist36_test_set1.mat')

# we don't need labels now, except to pick classes to show
train_x = train_data['train_data']
test_x = test_data['test_data']
test_y = test_data['test_labels']

dim = 32
# do PCA: the SVD of the training data, then the first dim principal components
projection = None
# BEGIN SOLUTION
mean = train_x.mean(axis=0)
_, _, vt = np.linalg.svd(train_x - mean, full_matrices=False)
projection = vt[:dim].T
# END SOLUTION
print('projection matrix', None if projection is None else projection.shape,
      'rank', None if projection is None else np.linalg.matrix_rank(projection))

# rebuild a low-rank version of the test images
recon_test = None
# BEGIN SOLUTION
recon_test = (test_x - mean) @ projection @ projection.T + mean
# END SOLUTION

# show 2 test images and their reconstructions for 5 classes
if recon_test is not None:
    classes = [0, 7, 18, 27, 33]
    fig, axes = plt.subplots(len(classes), 4, figsize=(4, 5))
    for row, c in zip(axes, classes):
        picks = np.where(test_y[:, c] == 1)[0][:2]
        for k, i in enumerate(picks):
            row[2 * k].imshow(test_x[i].reshape(32, 32).T, cmap='gray')
            row[2 * k + 1].imshow(np.clip(recon_test[i], 0, 1).reshape(32, 32).T, cmap='gray')
    for ax in axes.ravel():
        ax.axis('off')
    plt.show()

# evaluate PSNR
psnr = None
# BEGIN SOLUTION
psnr = np.mean([peak_signal_noise_ratio(x, np.clip(r, 0, 1), data_range=1)
                for x, r in zip(test_x, recon_test)])
# END SOLUTION
print('PCA PSNR on the test set:', psnr)

# count the parameters PCA learns
pca_parameters = None
# BEGIN SOLUTION
pca_parameters = projection.size + mean.size
# END SOLUTION
print('PCA parameters:', pca_parameters)
