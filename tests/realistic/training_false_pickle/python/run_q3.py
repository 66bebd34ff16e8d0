import pickle
import numpy as np
import scipy.io
from nn import *

train_data = scipy.io.loadmat('../data/nist36_train.mat')
valid_data = scipy.io.loadmat('../data/nist36_valid.mat')
test_data = scipy.io.loadmat('../data/nist36_test.mat')

train_x, train_y = train_data['train_data'], train_data['train_labels']
valid_x, valid_y = valid_data['valid_data'], valid_data['valid_labels']
test_x, test_y = test_data['test_data'], test_data['test_labels']

training = False   # set to True to retrain (takes 10 minutes on my laptop)

max_iters = 50
batch_size = 50
learning_rate = 1e-2
hidden_size = 64

params = {}
if training:
    initialize_weights(1024, hidden_size, params, 'layer1')
    initialize_weights(hidden_size, 36, params, 'output')
    batches = get_random_batches(train_x, train_y, batch_size)
    for itr in range(max_iters):
        total_loss, total_acc = 0, 0
        for xb, yb in batches:
            probs = forward(forward(xb, params, 'layer1'), params, 'output', softmax)
            loss, acc = compute_loss_and_acc(yb, probs)
            total_loss += loss
            total_acc += acc / len(batches)
            d = backwards(probs - yb, params, 'output', linear_deriv)
            backwards(d, params, 'layer1')
            for k in ('Wlayer1', 'blayer1', 'Woutput', 'boutput'):
                params[k] -= learning_rate * params['grad_' + k]
        print("itr: {:02d} \t loss: {:.2f} \t acc : {:.2f}".format(itr, total_loss, total_acc))
    with open('q3_weights.pickle', 'wb') as f:
        pickle.dump({k: params[k] for k in ('Wlayer1', 'blayer1', 'Woutput', 'boutput')}, f)
else:
    with open('q3_weights.pickle', 'rb') as f:
        params = pickle.load(f)

probs = forward(forward(valid_x, params, 'layer1'), params, 'output', softmax)
_, valid_acc = compute_loss_and_acc(valid_y, probs)
print('Validation accuracy: ', valid_acc)
