import numpy as np
import scipy.io
from nn import *
from collections import Counter

train_data = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
valid_data = scipy.io.loadmat('../data/data1/nist36_valid_set1.mat')

# we don't need labels now!
train_x = train_data['train_data']
valid_x = valid_data['valid_data']

max_iters = 100
# pick a batch size, learning rate
batch_size = 36
learning_rate = 3e-5
hidden_size = 32
lr_rate = 20
batches = get_random_batches(train_x, np.ones((train_x.shape[0], 1)), batch_size)
batch_num = len(batches)

params = Counter()

# Q5.1 & Q5.2
# initialize layers here
# BEGIN SOLUTION
layers = [('layer1', 1024, hidden_size), ('hidden', hidden_size, hidden_size),
          ('hidden2', hidden_size, hidden_size), ('output', hidden_size, 1024)]
for name, n_in, n_out in layers:
    initialize_weights(n_in, n_out, params, name)
    params['m_W' + name] = np.zeros((n_in, n_out))
    params['m_b' + name] = np.zeros(n_out)


def reconstruct(x):
    h1 = forward(x, params, 'layer1', relu)
    h2 = forward(h1, params, 'hidden', relu)
    h3 = forward(h2, params, 'hidden2', relu)
    return forward(h3, params, 'output', sigmoid)


train_losses = []
# END SOLUTION

# should look like your previous training loops
for itr in range(max_iters):
    total_loss = 0
    for xb, _ in batches:
        # training loop can be exactly the same as q2!
        # your loss is now squared error
        # delta is the d/dx of (x-y)^2
        # to implement momentum
        #   just use 'm_'+name variables
        #   to keep a saved value over timestamps
        #   params is a Counter(), which returns a 0 if an element is missing
        #   so you should be able to write your loop without any special conditions

        # BEGIN SOLUTION
        out = reconstruct(xb)
        total_loss += np.sum((out - xb) ** 2)
        delta = backwards(2 * (out - xb), params, 'output', sigmoid_deriv)
        delta = backwards(delta, params, 'hidden2', relu_deriv)
        delta = backwards(delta, params, 'hidden', relu_deriv)
        backwards(delta, params, 'layer1', relu_deriv)
        for name, _, _ in layers:
            for p in ('W', 'b'):
                key = p + name
                params['m_' + key] = 0.9 * params['m_' + key] - learning_rate * params['grad_' + key]
                params[key] = params[key] + params['m_' + key]
        # END SOLUTION

    # BEGIN SOLUTION
    train_losses.append(total_loss / train_x.shape[0])
    # END SOLUTION
    if itr % 2 == 0:
        print("itr: {:02d} \t loss: {:.2f}".format(itr, total_loss))
    if itr % lr_rate == lr_rate - 1:
        learning_rate *= 0.9

# Q5.3.1
import matplotlib.pyplot as plt
# BEGIN SOLUTION
plt.figure()
plt.plot(np.arange(1, max_iters + 1), train_losses)
plt.xlabel('epoch')
plt.ylabel('average squared error per image')
plt.title('Autoencoder training loss')
plt.show()
# END SOLUTION

# visualize some results
# BEGIN SOLUTION
valid_y = valid_data['valid_labels']
valid_out = reconstruct(valid_x)
classes = [0, 7, 14, 27, 33]
fig, axes = plt.subplots(len(classes), 4, figsize=(6, 8))
for row, cls in zip(axes, classes):
    idx = np.flatnonzero(np.argmax(valid_y, axis=1) == cls)[:2]
    for j, i in enumerate(idx):
        row[2 * j].imshow(valid_x[i].reshape(32, 32).T, cmap='gray')
        row[2 * j + 1].imshow(valid_out[i].reshape(32, 32).T, cmap='gray')
for ax in axes.ravel():
    ax.set_axis_off()
fig.suptitle('validation images (left) and reconstructions (right)')
plt.show()
# END SOLUTION


# Q5.3.2
from skimage.metrics import peak_signal_noise_ratio
# evaluate PSNR
# BEGIN SOLUTION
psnr = np.mean([peak_signal_noise_ratio(x, r, data_range=1.0) for x, r in zip(valid_x, valid_out)])
print('Average validation PSNR: {:.2f}'.format(psnr))
# END SOLUTION


##########################
# Q6: comparing against PCA
##########################
test_data = scipy.io.loadmat('../data/data1/nist36_test_set1.mat')
train_x_pca = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')['train_data']
test_x = test_data['test_data']
test_y = test_data['test_labels']
train_x = train_x_pca
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
