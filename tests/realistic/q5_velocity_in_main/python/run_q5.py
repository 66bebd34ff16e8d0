import numpy as np
import scipy.io
from nn import *
from collections import Counter
import matplotlib.pyplot as plt
from skimage.metrics import peak_signal_noise_ratio


def reconstruct(x, params):
    h1 = forward(x, params, 'layer1', relu)
    h2 = forward(h1, params, 'layer2', relu)
    h3 = forward(h2, params, 'layer3', relu)
    return forward(h3, params, 'output', sigmoid)


def main():
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
    sizes = [('layer1', 1024, hidden_size), ('layer2', hidden_size, hidden_size),
             ('layer3', hidden_size, hidden_size), ('output', hidden_size, 1024)]
    for name, n_in, n_out in sizes:
        initialize_weights(n_in, n_out, params, name)
    # momentum: one zero-initialized accumulator per parameter
    velocity = {}
    for name, _, _ in sizes:
        velocity['W' + name] = np.zeros_like(params['W' + name])
        velocity['b' + name] = np.zeros_like(params['b' + name])

    losses = []
    for itr in range(max_iters):
        total_loss = 0
        for xb, _ in batches:
            out = reconstruct(xb, params)
            total_loss += np.sum((xb - out) ** 2)
            d = backwards(-2 * (xb - out), params, 'output', sigmoid_deriv)
            d = backwards(d, params, 'layer3', relu_deriv)
            d = backwards(d, params, 'layer2', relu_deriv)
            backwards(d, params, 'layer1', relu_deriv)
            for k in velocity:
                velocity[k] = 0.9 * velocity[k] - learning_rate * params['grad_' + k]
                params[k] += velocity[k]
        losses.append(total_loss)
        if itr % 2 == 0:
            print("itr: {:02d} \t loss: {:.2f}".format(itr, total_loss))
        if itr % lr_rate == lr_rate - 1:
            learning_rate *= 0.9

    plt.figure()
    plt.plot(losses)
    plt.xlabel('epoch')
    plt.ylabel('total squared error')
    plt.show()

    recon = reconstruct(valid_x, params)
    for i in [0, 1, 700, 701, 1400, 1401, 2700, 2701, 3300, 3301]:
        plt.subplot(1, 2, 1)
        plt.imshow(valid_x[i].reshape(32, 32).T, cmap='gray')
        plt.subplot(1, 2, 2)
        plt.imshow(recon[i].reshape(32, 32).T, cmap='gray')
        plt.show()

    psnr = 0
    for i in range(valid_x.shape[0]):
        psnr += peak_signal_noise_ratio(valid_x[i], recon[i])
    print('PSNR:', psnr / valid_x.shape[0])


if __name__ == '__main__':
    main()
