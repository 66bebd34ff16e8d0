import numpy as np
from util import *
# do not include any more libraries here!
# do not put any code outside of functions!


############################## Q 2.1 ##############################
# initialize b to 0 vector
# b should be a 1D array, not a 2D array with a singleton dimension
# we will do XW + b.
# X be [Examples, Dimensions]
def initialize_weights(in_size, out_size, params, name=''):
    # Xavier: uniform with variance 2 / (in + out)
    bound = np.sqrt(6.0 / np.float(in_size + out_size))
    W = np.random.uniform(-bound, bound, size=(in_size, out_size)).astype(np.float)
    b = np.zeros(out_size, dtype=np.float)
    params['W' + name] = W
    params['b' + name] = b


############################## Q 2.2.1 ##############################
# x is a matrix
# a sigmoid activation function
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


############################## Q 2.2.1 ##############################
def forward(X, params, name='', activation=sigmoid):
    """
    Do a forward pass

    Keyword arguments:
    X -- input vector [Examples x D]
    params -- a dictionary containing parameters
    name -- name of the layer
    activation -- the activation function (default is sigmoid)
    """
    W = params['W' + name]
    b = params['b' + name]
    pre_act = np.dot(X, W) + b
    post_act = activation(pre_act)
    # store the pre-activation and post-activation values
    # these will be important in backprop
    params['cache_' + name] = (X, pre_act, post_act)
    return post_act


############################## Q 2.2.2  ##############################
# x is [examples,classes]
# softmax should be done for each row
def softmax(x):
    shifted = x - np.max(x, axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=1, keepdims=True)


############################## Q 2.2.3 ##############################
# compute total loss and accuracy
# y is size [examples,classes]
# probs is size [examples,classes]
def compute_loss_and_acc(y, probs):
    loss = -np.sum(y * np.log(probs))
    correct = np.argmax(y, axis=1) == np.argmax(probs, axis=1)
    acc = np.sum(correct) / np.float(y.shape[0])
    return loss, acc


############################## Q 2.3 ##############################
# we give this to you
# because you proved it
# it's a function of post_act
# and not of preact
def sigmoid_deriv(post_act):
    res = post_act * (1.0 - post_act)
    return res


def backwards(delta, params, name='', activation_deriv=sigmoid_deriv):
    """
    Do a backwards pass

    Keyword arguments:
    delta -- errors to backprop
    params -- a dictionary containing parameters
    name -- name of the layer
    activation_deriv -- the derivative of the activation_func
    """
    # everything you may need for this layer
    W = params['W' + name]
    b = params['b' + name]
    X, pre_act, post_act = params['cache_' + name]
    # do the derivative through activation first
    # then compute the derivative W,b, and X
    d = delta * activation_deriv(post_act)
    grad_W = np.dot(X.T, d)
    grad_b = np.sum(d, axis=0)
    grad_X = np.dot(d, W.T)

    # store the gradients
    params['grad_W' + name] = grad_W
    params['grad_b' + name] = grad_b
    return grad_X


############################## Q 2.4 ##############################
# split x and y into random batches
# return a list of [(batch1_x,batch1_y)...]
def get_random_batches(x, y, batch_size):
    order = np.random.permutation(x.shape[0])
    n_batches = int(np.ceil(x.shape[0] / np.float(batch_size)))
    batches = []
    for i in range(n_batches):
        idx = order[i * batch_size:(i + 1) * batch_size]
        batches.append((x[idx, :], y[idx, :]))
    return batches
