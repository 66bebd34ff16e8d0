import numpy as np
import scipy.io
from nn import *
from collections import Counter
import matplotlib.pyplot as plt
from skimage.metrics import peak_signal_noise_ratio

train_data = scipy.io.loadmat('../data/nist36_train.mat')
valid_data = scipy.io.loadmat('../data/nist36_valid.mat')
train_x = train_data['train_data']
valid_x = valid_data['valid_data']

max_iters = 100
batch_size = 36
learning_rate = 3e-5
hidden_size = 32
lr_rate = 20
batches = get_random_batches(train_x, np.ones((train_x.shape[0], 1)), batch_size)
batch_num = len(batches)

params = Counter()

initialize_weights(1024, hidden_size, params, 'layer1')
initialize_weights(hidden_size, hidden_size, params, 'hidden')
initialize_weights(hidden_size, hidden_size, params, 'hidden2')
initialize_weights(hidden_size, 1024, params, 'output')


def my_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def run_net(x):
    h1 = forward(x, params, 'layer1', relu)
    h2 = forward(h1, params, 'hidden', relu)
    h3 = forward(h2, params, 'hidden2', relu)
    z = forward(h3, params, 'output', linear)
    return my_sigmoid(z)


losses = []
for itr in range(max_iters):
    total_loss = 0
    for xb, _ in batches:
        out = run_net(xb)
        total_loss += np.sum((out - xb) ** 2)
        # output sigmoid's derivative applied here by hand
        delta = 2 * (out - xb) * out * (1 - out)
        delta = backwards(delta, params, 'output', linear_deriv)
        delta = backwards(delta, params, 'hidden2', relu_deriv)
        delta = backwards(delta, params, 'hidden', relu_deriv)
        backwards(delta, params, 'layer1', relu_deriv)
        for k in ['Wlayer1', 'blayer1', 'Whidden', 'bhidden', 'Whidden2', 'bhidden2', 'Woutput', 'boutput']:
            params['m_' + k] = 0.9 * params['m_' + k] - learning_rate * params['grad_' + k]
            params[k] += params['m_' + k]
    losses.append(total_loss)
    if itr % 2 == 0:
        print("itr: {:02d} \t loss: {:.2f}".format(itr, total_loss))
    if itr % lr_rate == lr_rate - 1:
        learning_rate *= 0.9

plt.plot(losses)
plt.show()

valid_out = run_net(valid_x)
psnr = np.mean([peak_signal_noise_ratio(valid_x[i], valid_out[i]) for i in range(valid_x.shape[0])])
print('PSNR', psnr)
