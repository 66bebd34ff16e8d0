import numpy as np


class MomentumSGD:
    """velocity form: v = mu*v + lr*grad; p -= v"""

    def __init__(self, params, keys, mu=0.9):
        self.mu = mu
        self.velocity = {k: np.zeros_like(params[k]) for k in keys}

    def step(self, params, lr):
        for k, v in self.velocity.items():
            self.velocity[k] = self.mu * v + lr * params['grad_' + k]
            params[k] = params[k] - self.velocity[k]
