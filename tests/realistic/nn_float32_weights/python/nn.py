import numpy as np
from util import *
# do not include any more libraries here!
# do not put any code outside of functions!


# Q 2.1.2
# initialize b to 0 vector
# b should be a 1D array, not a 2D array with a singleton dimension
# we will do XW + b.
# X be [Examples, Dimensions]
def initialize_weights(in_size, out_size, params, name=''):
    a = np.sqrt(6) / np.sqrt(in_size + out_size)
    W = np.random.uniform(low=-a, high=a, size=(in_size, out_size)).astype(np.float32)
    b = np.zeros(out_size, dtype=np.float32)
    params['W' + name] = W
    params['b' + name] = b


# Q 2.2.1
# x is a matrix
# a sigmoid activation function
def sigmoid(x):
    # split to avoid overflow
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def forward(X, params, name='', activation=sigmoid):
    W = params['W' + name]
    b = params['b' + name]
    pre_act = np.dot(X, W) + b
    post_act = activation(pre_act)
    params['cache_' + name] = [X, pre_act, post_act]
    return post_act


# Q 2.2.2
# x is [examples,classes]
# softmax should be done for each row
def softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# Q 2.2.3
# compute total loss and accuracy
# y is size [examples,classes]
# probs is size [examples,classes]
def compute_loss_and_acc(y, probs):
    loss = -np.sum(np.log(probs[y == 1]))
    acc = np.sum(np.argmax(y, 1) == np.argmax(probs, 1)) / y.shape[0]
    return loss, acc


# we give this to you
# because you proved it
# it's a function of post_act
def sigmoid_deriv(post_act):
    res = post_act * (1.0 - post_act)
    return res


def backwards(delta, params, name='', activation_deriv=sigmoid_deriv):
    W = params['W' + name]
    b = params['b' + name]
    X, pre_act, post_act = params['cache_' + name]
    d = delta * activation_deriv(post_act)
    params['grad_W' + name] = np.dot(X.T, d)
    params['grad_b' + name] = d.sum(axis=0)
    return np.dot(d, W.T)


# Q 2.4
# split x and y into random batches
# return a list of [(batch1_x,batch1_y)...]
def get_random_batches(x, y, batch_size):
    idx = np.arange(x.shape[0])
    np.random.shuffle(idx)
    return [[x[idx[i:i + batch_size]], y[idx[i:i + batch_size]]] for i in range(0, x.shape[0], batch_size)]
