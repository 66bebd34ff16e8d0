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
    res = 1 / (1 + np.exp(-x))
    return res


def forward(X, params, name='', activation=sigmoid):
    W, b = params['W' + name], params['b' + name]
    z = np.matmul(X, W) + b
    a = activation(z)
    params['cache_' + name] = (X, z, a)
    return a


############################## Q 2.2.2 ##############################
def softmax(x):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    res = e / np.sum(e, axis=1, keepdims=True)
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
    W = params['W' + name]
    X, Z, A = params['cache_' + name]
    dZ = np.multiply(delta, activation_deriv(A))
    dW = np.dot(X.T, dZ)
    db = dZ.sum(axis=0)
    dX = np.dot(dZ, W.T)
    params['grad_W' + name] = dW
    params['grad_b' + name] = db
    return dX


############################## Q 2.4 ##############################
def get_random_batches(x, y, batch_size):
    batches = []
    idx = np.random.permutation(x.shape[0])
    for i in range(0, x.shape[0], batch_size):
        sel = idx[i:i + batch_size]
        batches.append((x[sel], y[sel]))
    return batches
