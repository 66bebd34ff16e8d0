import numpy as np
import scipy.io
from nn import *
from collections import Counter
import matplotlib.pyplot as plt
from skimage.measure import compare_psnr

# my laptop's copy of the data
train_data = scipy.io.loadmat('C:\\Users\\jdoe\\Documents\\16720\\hw5\\data\\nist36_train.mat')
valid_data = scipy.io.loadmat('C:\\Users\\jdoe\\Documents\\16720\\hw5\\data\\nist36_valid.mat')

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
initialize_weights(1024, hidden_size, params, 'layer1')
initialize_weights(hidden_size, hidden_size, params, 'hidden')
initialize_weights(hidden_size, hidden_size, params, 'hidden2')
initialize_weights(hidden_size, 1024, params, 'output')
names = ['layer1', 'hidden', 'hidden2', 'output']

losses = []
# should look like your previous training loops
for itr in range(max_iters):
    total_loss = 0
    for xb, _ in batches:
        h1 = forward(xb, params, 'layer1', relu)
        h2 = forward(h1, params, 'hidden', relu)
        h3 = forward(h2, params, 'hidden2', relu)
        out = forward(h3, params, 'output', sigmoid)
        total_loss += np.sum((xb - out) ** 2)
        d = backwards(2 * (out - xb), params, 'output', sigmoid_deriv)
        d = backwards(d, params, 'hidden2', relu_deriv)
        d = backwards(d, params, 'hidden', relu_deriv)
        backwards(d, params, 'layer1', relu_deriv)
        # momentum: params is a Counter, so m_ starts at 0
        for name in names:
            for kind in ('W', 'b'):
                k = kind + name
                params['m_' + k] = 0.9 * params['m_' + k] - learning_rate * params['grad_' + k]
                params[k] += params['m_' + k]
    losses.append(total_loss)
    if itr % 2 == 0:
        print("itr: {:02d} \t loss: {:.2f}".format(itr, total_loss))
    if itr % lr_rate == lr_rate - 1:
        learning_rate *= 0.9

# Q5.3.1
plt.figure()
plt.plot(losses)
plt.xlabel('epoch')
plt.ylabel('total squared error')
plt.savefig('../results/q5_loss.png')
plt.show()

h = forward(valid_x, params, 'layer1', relu)
h = forward(h, params, 'hidden', relu)
h = forward(h, params, 'hidden2', relu)
recon = forward(h, params, 'output', sigmoid)
fig, ax = plt.subplots(2, 10)
for i in range(10):
    ax[0, i].imshow(valid_x[i * 360].reshape(32, 32).T, cmap='gray')
    ax[1, i].imshow(recon[i * 360].reshape(32, 32).T, cmap='gray')
plt.savefig('../results/q5_recon.png')
plt.show()

# Q5.3.2
# evaluate PSNR
total = 0
for i in range(valid_x.shape[0]):
    total += compare_psnr(valid_x[i], recon[i])
print('average PSNR', total / valid_x.shape[0])
