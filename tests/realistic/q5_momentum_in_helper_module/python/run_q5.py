import numpy as np
import scipy.io
from nn import *
from optim import MomentumSGD
from collections import Counter
import matplotlib.pyplot as plt
from skimage.metrics import peak_signal_noise_ratio

train_data = scipy.io.loadmat('../data/nist36_train.mat')
valid_data = scipy.io.loadmat('../data/nist36_valid.mat')
train_x = train_data['train_data']
valid_x = valid_data['valid_data']
valid_y = valid_data['valid_labels']

max_iters = 100
batch_size = 36
learning_rate = 3e-5
hidden_size = 32
lr_rate = 20
batches = get_random_batches(train_x, np.ones((train_x.shape[0], 1)), batch_size)
batch_num = len(batches)

params = Counter()

names = ['layer1', 'layer2', 'layer3', 'layer4']
sizes = [1024, hidden_size, hidden_size, hidden_size, 1024]
for name, n_in, n_out in zip(names, sizes[:-1], sizes[1:]):
    initialize_weights(n_in, n_out, params, name)


opt = MomentumSGD(params, [p + n for n in names for p in ('W', 'b')])


def reconstruct(x):
    h = x
    for n in names[:-1]:
        h = forward(h, params, n, relu)
    return forward(h, params, names[-1], sigmoid)


losses = []
for itr in range(max_iters):
    total_loss = 0
    for xb, _ in batches:
        out = reconstruct(xb)
        total_loss += np.sum((out - xb) ** 2)
        delta = backwards(2 * (out - xb), params, 'layer4', sigmoid_deriv)
        delta = backwards(delta, params, 'layer3', relu_deriv)
        delta = backwards(delta, params, 'layer2', relu_deriv)
        backwards(delta, params, 'layer1', relu_deriv)
        opt.step(params, learning_rate)
    losses.append(total_loss)
    if itr % 2 == 0:
        print("itr: {:02d} \t loss: {:.2f}".format(itr, total_loss))
    if itr % lr_rate == lr_rate - 1:
        learning_rate *= 0.9

plt.plot(losses)
plt.show()

valid_out = reconstruct(valid_x)
labels = np.argmax(valid_y, axis=1)
fig, axes = plt.subplots(5, 4)
for r, c in enumerate([0, 5, 10, 20, 30]):
    idx = np.where(labels == c)[0][:2]
    for j, i in enumerate(idx):
        axes[r, 2 * j].imshow(valid_x[i].reshape(32, 32).T, cmap='gray')
        axes[r, 2 * j + 1].imshow(valid_out[i].reshape(32, 32).T, cmap='gray')
plt.show()

psnr = np.mean([peak_signal_noise_ratio(valid_x[i], valid_out[i]) for i in range(valid_x.shape[0])])
print('PSNR', psnr)
