import numpy as np
from util import *
# do not include any more libraries here!
# do not put any code outside of functions!


############################## Q 2.1.2 ##############################
def initialize_weights(in_size, out_size, params, name=''):
    # Xavier (Glorot) uniform, eq. 16
    limit = np.sqrt(6) / np.sqrt(in_size + out_size)
    W = np.random.uniform(low=-limit, high=limit, size=(in_size, out_size))
    b = np.zeros((out_size,))
    params['W' + name] = W
    params['b' + name] = b


############################## Q 2.2.1 ##############################
def sigmoid(x):
    x = np.asarray(x, dtype=float)
    z = np.exp(-np.abs(x))
    res = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return res


def forward(X, params, name='', activation=sigmoid):
    pre_act, post_act = None, None
    W = params['W' + name]
    b = params['b' + name]
    pre_act = X @ W + b
    post_act = activation(pre_act)
    params['cache_' + name] = (X, pre_act, post_act)
    return post_act


############################## Q 2.2.2 ##############################
def softmax(x):
    c = -np.max(x, axis=1).reshape(-1, 1)
    s = np.exp(x + c)
    res = s / np.sum(s, axis=1).reshape(-1, 1)
    return res


############################## Q 2.2.3 ##############################
def compute_loss_and_acc(y, probs):
    n = y.shape[0]
    labels = np.argmax(y, axis=1)
    loss = -np.sum(np.log(probs[np.arange(n), labels]))
    preds = np.argmax(probs, axis=1)
    acc = np.sum(preds == labels) / n
    return loss, acc


############################## Q 2.3 ##############################
def sigmoid_deriv(post_act):
    res = post_act * (1.0 - post_act)
    return res


def backwards(delta, params, name='', activation_deriv=sigmoid_deriv):
    grad_X, grad_W, grad_b = None, None, None
    W = params['W' + name]
    b = params['b' + name]
    X, pre_act, post_act = params['cache_' + name]
    d = delta * activation_deriv(post_act)
    grad_W = X.T @ d
    grad_b = np.sum(d, axis=0)
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
