import numpy as np
from util import *
# do not include any more libraries here!
# do not put any code outside of functions!


############################## Q 2.1.2 ##############################
# initialize b to 0 vector
# b should be a 1D array, not a 2D array with a singleton dimension
# we will do XW + b.
# X be [Examples, Dimensions]
def initialize_weights(in_size, out_size, params, name=''):
    W, b = None, None

    # BEGIN SOLUTION
    # Var[U(-a, a)] = a^2 / 3, so a = sqrt(6 / (in + out)) gives Var = 2 / (in + out).
    bound = xavier_bound(in_size, out_size)
    W = np.random.uniform(-bound, bound, (in_size, out_size))
    b = np.zeros(out_size)
    # END SOLUTION

    params['W' + name] = W
    params['b' + name] = b


############################## Q 2.2.1 ##############################
# x is a matrix
# a sigmoid activation function
def sigmoid(x):
    res = None

    # BEGIN SOLUTION
    # Written piecewise so that neither branch exponentiates a large positive number:
    # no overflow warning at -1000, and exactly 0 and 1 at the extremes.
    x = np.asarray(x, dtype=np.float64)
    res = np.empty_like(x)
    pos = x >= 0
    res[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    res[~pos] = ex / (1.0 + ex)
    # END SOLUTION

    return res


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
    pre_act, post_act = None, None
    # get the layer parameters
    W = params['W' + name]
    b = params['b' + name]

    # BEGIN SOLUTION
    pre_act = X @ W + b
    post_act = activation(pre_act)
    # END SOLUTION

    # store the pre-activation and post-activation values
    # these will be important in backprop
    params['cache_' + name] = (X, pre_act, post_act)

    return post_act


############################## Q 2.2.2  ##############################
# x is [examples,classes]
# softmax should be done for each row
def softmax(x):
    res = None

    # BEGIN SOLUTION
    res = stable_softmax(x)
    # END SOLUTION

    return res


############################## Q 2.2.3 ##############################
# compute total loss and accuracy
# y is size [examples,classes]
# probs is size [examples,classes]
def compute_loss_and_acc(y, probs):
    loss, acc = None, None

    # BEGIN SOLUTION
    # Clipping keeps a confidently wrong prediction finite instead of inf.
    loss = -np.sum(y * np.log(np.clip(probs, 1e-300, None)))
    acc = np.mean(np.argmax(y, axis=1) == np.argmax(probs, axis=1))
    # END SOLUTION

    return loss, acc


############################## Q 2.3 ##############################
# we give this to you
# because you proved it
# it's a function of post_act
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
    grad_X, grad_W, grad_b = None, None, None
    # everything you may need for this layer
    W = params['W' + name]
    b = params['b' + name]
    X, pre_act, post_act = params['cache_' + name]

    # do the derivative through activation first
    # (don't forget activation_deriv is a function of post_act)
    # then compute the derivative W, b, and X
    # BEGIN SOLUTION
    d_pre = delta * activation_deriv(post_act)
    grad_W = X.T @ d_pre
    grad_b = np.sum(d_pre, axis=0)
    grad_X = d_pre @ W.T
    # END SOLUTION

    # store the gradients
    params['grad_W' + name] = grad_W
    params['grad_b' + name] = grad_b
    return grad_X


############################## Q 2.4 ##############################
# split x and y into random batches
# return a list of [(batch1_x,batch1_y)...]
def get_random_batches(x, y, batch_size):
    batches = []
    # BEGIN SOLUTION
    order = np.random.permutation(x.shape[0])
    for start in range(0, x.shape[0], batch_size):
        idx = order[start:start + batch_size]
        batches.append((x[idx], y[idx]))
    # END SOLUTION
    return batches
