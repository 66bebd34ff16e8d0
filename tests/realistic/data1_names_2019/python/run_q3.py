import os
import pickle
import numpy as np
import scipy.io
import matplotlib.pyplot as plt
from nn import *

# section A of the handout: data1
train_data = scipy.io.loadmat('../data/data1/nist36_train_set1.mat')
valid_data = scipy.io.loadmat('../data/data1/nist36_valid_set1.mat')
test_data = scipy.io.loadmat('../data/data1/nist36_test_set1.mat')

train_x, train_y = train_data['train_data'], train_data['train_labels']
valid_x, valid_y = valid_data['valid_data'], valid_data['valid_labels']
test_x, test_y = test_data['test_data'], test_data['test_labels']

max_iters = 30
batch_size = 32
learning_rate = 3e-3
hidden_size = 64

batches = get_random_batches(train_x, train_y, batch_size)
batch_num = len(batches)

params = {}
initialize_weights(1024, hidden_size, params, 'layer1')
initialize_weights(hidden_size, 36, params, 'output')


def predict(x):
    h = forward(x, params, 'layer1')
    return forward(h, params, 'output', softmax)


history = {'train_acc': [], 'valid_acc': [], 'train_loss': [], 'valid_loss': []}
for itr in range(max_iters):
    total_loss = 0
    n_correct = 0
    for xb, yb in batches:
        probs = predict(xb)
        loss, acc = compute_loss_and_acc(yb, probs)
        total_loss += loss
        n_correct += acc * len(xb)
        d = backwards(probs - yb, params, 'output', linear_deriv)
        backwards(d, params, 'layer1', sigmoid_deriv)
        for name in ('layer1', 'output'):
            params['W' + name] -= learning_rate * params['grad_W' + name]
            params['b' + name] -= learning_rate * params['grad_b' + name]
    vloss, valid_acc = compute_loss_and_acc(valid_y, predict(valid_x))
    history['train_acc'].append(n_correct / len(train_x))
    history['valid_acc'].append(valid_acc)
    history['train_loss'].append(total_loss / len(train_x))
    history['valid_loss'].append(vloss / len(valid_x))
    print("itr: {:02d} \t loss: {:.2f} \t acc : {:.2f}".format(itr, total_loss, n_correct / len(train_x)))

print('Validation accuracy: ', valid_acc)

with open('q3_weights.pickle', 'wb') as f:
    pickle.dump({k: v for k, v in params.items() if k[0] in 'Wb' and '_' not in k}, f)

plt.figure()
plt.plot(history['train_acc'], label='train')
plt.plot(history['valid_acc'], label='valid')
plt.legend()
plt.title('accuracy')
plt.show()
plt.figure()
plt.plot(history['train_loss'], label='train')
plt.plot(history['valid_loss'], label='valid')
plt.legend()
plt.title('loss')
plt.show()

_, test_acc = compute_loss_and_acc(test_y, predict(test_x))
print('Test accuracy: ', test_acc)
