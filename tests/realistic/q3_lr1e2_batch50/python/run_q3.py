import numpy as np
import scipy.io
from nn import *
import matplotlib.pyplot as plt
import pickle

train_data = scipy.io.loadmat('../data/nist36_train.mat')
valid_data = scipy.io.loadmat('../data/nist36_valid.mat')
test_data = scipy.io.loadmat('../data/nist36_test.mat')

train_x, train_y = train_data['train_data'], train_data['train_labels']
valid_x, valid_y = valid_data['valid_data'], valid_data['valid_labels']
test_x, test_y = test_data['test_data'], test_data['test_labels']

max_iters = 50
# pick a batch size, learning rate
batch_size = 50
learning_rate = 1e-2
hidden_size = 64

batches = get_random_batches(train_x, train_y, batch_size)
batch_num = len(batches)

params = {}

# initialize layers here
initialize_weights(1024, hidden_size, params, 'layer1')
initialize_weights(hidden_size, 36, params, 'output')


def predict(x):
    hidden = forward(x, params, 'layer1')
    return forward(hidden, params, 'output', softmax)


history = {'train_acc': [], 'valid_acc': [], 'train_loss': [], 'valid_loss': []}

# with default settings, you should get loss < 150 and accuracy > 80%
for itr in range(max_iters):
    total_loss = 0
    total_acc = 0
    for xb, yb in batches:
        probs = predict(xb)
        loss, acc = compute_loss_and_acc(yb, probs)
        total_loss += loss
        total_acc += acc
        delta = backwards(probs - yb, params, 'output', linear_deriv)
        backwards(delta, params, 'layer1', sigmoid_deriv)
        for name in ('layer1', 'output'):
            params['W' + name] -= learning_rate * params['grad_W' + name]
            params['b' + name] -= learning_rate * params['grad_b' + name]
    total_acc /= batch_num
    vloss, vacc = compute_loss_and_acc(valid_y, predict(valid_x))
    history['train_acc'].append(total_acc)
    history['valid_acc'].append(vacc)
    history['train_loss'].append(total_loss / train_x.shape[0])
    history['valid_loss'].append(vloss / valid_x.shape[0])
    print("Epoch {}/{}: train loss {:.4f}, train acc {:.4f}, valid acc {:.4f}".format(
        itr + 1, max_iters, total_loss / train_x.shape[0], total_acc, vacc))

# run on validation set and report accuracy! should be above 75%
_, valid_acc = compute_loss_and_acc(valid_y, predict(valid_x))
print('Validation accuracy: ', valid_acc)

saved_params = {k: v for k, v in params.items() if '_' not in k}
with open('q3_weights.pickle', 'wb') as handle:
    pickle.dump(saved_params, handle, protocol=pickle.HIGHEST_PROTOCOL)

# Q3.1 plot the accuracy and loss curves
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
plt.title('average cross-entropy')
plt.show()
