import numpy as np
from util import *
# do not include any more libraries here!
# do not put any code outside of functions!


############################## Q 2.1.2 ##############################
def initialize_weights(in_size, out_size, params, name=''):
    a = np.sqrt(6.0 / (in_size + out_size))
    W = np.zeros((in_size, out_size))
    for i in range(in_size):
        W[i, :] = np.random.uniform(-a, a, out_size)
    b = np.zeros(out_size)
    params['W' + name] = W
    params['b' + name] = b


############################## Q 2.2.1 ##############################
def sigmoid(x):
    res = 1 / (1 + np.exp(-x))
    return res


def forward(X, params, name='', activation=sigmoid):
    W = params['W' + name]
    b = params['b' + name]
    n = X.shape[0]
    pre_act = np.zeros((n, W.shape[1]))
    for i in range(n):
        pre_act[i] = X[i].dot(W) + b
    post_act = activation(pre_act)
    params['cache_' + name] = (X, pre_act, post_act)
    return post_act


############################## Q 2.2.2 ##############################
def softmax(x):
    res = np.zeros(x.shape)
    for i in range(x.shape[0]):
        row = x[i] - np.max(x[i])
        res[i] = np.exp(row) / np.sum(np.exp(row))
    return res


############################## Q 2.2.3 ##############################
def compute_loss_and_acc(y, probs):
    loss = 0.0
    correct = 0
    for i in range(y.shape[0]):
        k = np.argmax(y[i])
        loss -= np.log(probs[i, k])
        if np.argmax(probs[i]) == k:
            correct += 1
    acc = correct / y.shape[0]
    return loss, acc


############################## Q 2.3 ##############################
def sigmoid_deriv(post_act):
    res = post_act * (1.0 - post_act)
    return res


def backwards(delta, params, name='', activation_deriv=sigmoid_deriv):
    W = params['W' + name]
    X, pre_act, post_act = params['cache_' + name]
    d = delta * activation_deriv(post_act)
    grad_W = np.zeros(W.shape)
    grad_b = np.zeros(W.shape[1])
    for i in range(X.shape[0]):
        grad_W += np.outer(X[i], d[i])
        grad_b += d[i]
    grad_X = d @ W.T
    params['grad_W' + name] = grad_W
    params['grad_b' + name] = grad_b
    return grad_X


############################## Q 2.4 ##############################
def get_random_batches(x, y, batch_size):
    batches = []
    idx = np.random.permutation(x.shape[0])
    for i in range(0, x.shape[0], batch_size):
        sel = idx[i:i + batch_size]
        batches.append((x[sel], y[sel]))
    return batches
