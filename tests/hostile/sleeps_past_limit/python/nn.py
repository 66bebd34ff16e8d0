# Every function of the network sleeps: each call is stopped at its own time budget, but the calls
# together outlast the batch's per-job limit, the backstop that stops the whole job.
import time

import numpy as np  # noqa: F401
from util import *  # noqa: F401,F403 -- as the handout's nn.py


def initialize_weights(in_size, out_size, params, name=""):
    time.sleep(1000)


def sigmoid(x):
    time.sleep(1000)


def forward(X, params, name="", activation=sigmoid):
    time.sleep(1000)


def softmax(x):
    time.sleep(1000)


def compute_loss_and_acc(y, probs):
    time.sleep(1000)


def backwards(delta, params, name="", activation_deriv=None):
    time.sleep(1000)


def get_random_batches(x, y, batch_size):
    time.sleep(1000)
