import numpy as np
import scipy.io
from nn import *
from collections import Counter

train_data = scipy.io.loadmat('../data/nist36_train.mat')
valid_data = scipy.io.loadmat('../data/nist36_valid.mat')

# we don't need labels now!
train_x = train_data['train_data']
valid_x = valid_data['valid_data']


def upright(x):
    # the .mat rows are 32x32 images stored column by column (MATLAB): flip them to row order
    # once here, so a plain reshape(32, 32) shows them upright everywhere below
    return x.reshape(-1, 32, 32).transpose(0, 2, 1).reshape(-1, 1024)

train_x, valid_x = upright(train_x), upright(valid_x)

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
        row[2 * j].imshow(valid_x[i].reshape(32, 32), cmap='gray')
        row[2 * j + 1].imshow(valid_out[i].reshape(32, 32), cmap='gray')
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
