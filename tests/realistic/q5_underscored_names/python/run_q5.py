import numpy as np
import scipy.io
from nn import *
from collections import Counter
import matplotlib.pyplot as plt
from skimage.metrics import peak_signal_noise_ratio

train_data = scipy.io.loadmat('../data/nist36_train.mat')
valid_data = scipy.io.loadmat('../data/nist36_valid.mat')

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
layers = ['enc_layer1', 'enc_layer2', 'dec_layer1', 'dec_output']
sizes = [1024, hidden_size, hidden_size, hidden_size, 1024]
for name, n_in, n_out in zip(layers, sizes[:-1], sizes[1:]):
    initialize_weights(n_in, n_out, params, name)


def reconstruct(x):
    h = forward(x, params, 'enc_layer1', relu)
    h = forward(h, params, 'enc_layer2', relu)
    h = forward(h, params, 'dec_layer1', relu)
    return forward(h, params, 'dec_output', sigmoid)


n_train = train_x.shape[0]
losses = []
# should look like your previous training loops
for itr in range(max_iters):
    total_loss = 0
    for xb, _ in batches:
        out = reconstruct(xb)
        # squared error of each image, summed over the batch
        total_loss += np.sum((xb - out) ** 2)
        delta = backwards(2 * (out - xb), params, 'dec_output', sigmoid_deriv)
        delta = backwards(delta, params, 'dec_layer1', relu_deriv)
        delta = backwards(delta, params, 'enc_layer2', relu_deriv)
        backwards(delta, params, 'enc_layer1', relu_deriv)
        # momentum; the Counter gives 0 for an accumulator not made yet
        for name in layers:
            for k in ('W' + name, 'b' + name):
                params[k + '_m'] = 0.9 * params[k + '_m'] - learning_rate * params['grad_' + k]
                params[k] += params[k + '_m']
    # I report the loss per image (the total over the set divided by the number of images)
    losses.append(total_loss / n_train)
    if itr % 5 == 0:
        print("epoch %3d  avg loss per image %.3f" % (itr, total_loss / n_train))
    if itr % lr_rate == lr_rate - 1:
        learning_rate *= 0.9

# Q5.3.1
plt.figure()
plt.plot(losses)
plt.xlabel('epoch')
plt.ylabel('squared error per image')
plt.show()

recon = reconstruct(valid_x)
fig, ax = plt.subplots(2, 10)
for i in range(10):
    ax[0, i].imshow(valid_x[i * 360].reshape(32, 32).T, cmap='gray')
    ax[1, i].imshow(recon[i * 360].reshape(32, 32).T, cmap='gray')
plt.show()

# Q5.3.2
# evaluate PSNR
psnrs = [peak_signal_noise_ratio(valid_x[i], recon[i]) for i in range(valid_x.shape[0])]
print('average PSNR on the validation set: %.2f' % np.mean(psnrs))
