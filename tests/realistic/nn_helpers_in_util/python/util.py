import numpy as np
# useful for debugging and for the autoencoder


def linear(x):
    return x


def linear_deriv(post_act):
    return np.ones_like(post_act)


def tanh(x):
    return np.tanh(x)


def tanh_deriv(post_act):
    return 1 - post_act**2


def relu(x):
    return np.maximum(x, 0)


def relu_deriv(x):
    # The course's copy wrote `.astype(np.float)`; np.float was removed in NumPy 1.24.
    res = np.zeros(x.shape)
    res[x > 0] = 1
    return res


# my helpers
def xavier_bound(in_size, out_size):
    return np.sqrt(6.0 / (in_size + out_size))


def stable_softmax(x):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)
