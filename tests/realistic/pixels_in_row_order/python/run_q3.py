import numpy as np
import scipy.io
from nn import *

train_data = scipy.io.loadmat('../data/nist36_train.mat')
valid_data = scipy.io.loadmat('../data/nist36_valid.mat')
test_data = scipy.io.loadmat('../data/nist36_test.mat')

train_x, train_y = train_data['train_data'], train_data['train_labels']
valid_x, valid_y = valid_data['valid_data'], valid_data['valid_labels']
test_x, test_y = test_data['test_data'], test_data['test_labels']


def upright(x):
    # the .mat rows are 32x32 images stored column by column (MATLAB): flip them to row order
    # once here, so a plain reshape(32, 32) shows them upright everywhere below
    return x.reshape(-1, 32, 32).transpose(0, 2, 1).reshape(-1, 1024)

train_x, valid_x, test_x = upright(train_x), upright(valid_x), upright(test_x)

if False:  # view the data
    for crop in train_x:
        import matplotlib.pyplot as plt
        plt.imshow(crop.reshape(32, 32), cmap="Greys")
        plt.show()

max_iters = 50
# pick a batch size, learning rate
batch_size = None
learning_rate = None
hidden_size = 64
# BEGIN SOLUTION
batch_size = 32
learning_rate = 2e-3
# END SOLUTION

batches = get_random_batches(train_x, train_y, batch_size)
batch_num = len(batches)

params = {}

# initialize layers here
# BEGIN SOLUTION
initialize_weights(train_x.shape[1], hidden_size, params, 'layer1')
initialize_weights(hidden_size, train_y.shape[1], params, 'output')
initial_W = params['Wlayer1'].copy()


def evaluate(x, y):
    probs = forward(forward(x, params, 'layer1'), params, 'output', softmax)
    loss, acc = compute_loss_and_acc(y, probs)
    return loss / x.shape[0], acc, probs


train_losses, train_accs, valid_losses, valid_accs = [], [], [], []
# END SOLUTION

# with default settings, you should get loss < 150 and accuracy > 80%
for itr in range(max_iters):
    total_loss = 0
    total_acc = 0
    for xb, yb in batches:
        # training loop can be exactly the same as q2!
        # BEGIN SOLUTION
        h1 = forward(xb, params, 'layer1')
        probs = forward(h1, params, 'output', softmax)
        loss, acc = compute_loss_and_acc(yb, probs)
        total_loss += loss
        total_acc += acc * xb.shape[0]
        delta2 = backwards(probs - yb, params, 'output', linear_deriv)
        backwards(delta2, params, 'layer1', sigmoid_deriv)
        for k in ['Wlayer1', 'blayer1', 'Woutput', 'boutput']:
            params[k] -= learning_rate * params['grad_' + k]
        # END SOLUTION

    # BEGIN SOLUTION
    total_acc /= train_x.shape[0]
    valid_loss, valid_acc, _ = evaluate(valid_x, valid_y)
    train_losses.append(total_loss / train_x.shape[0])
    train_accs.append(total_acc)
    valid_losses.append(valid_loss)
    valid_accs.append(valid_acc)
    # END SOLUTION

    if itr % 2 == 0:
        print("itr: {:02d} \t loss: {:.2f} \t acc : {:.2f}".format(itr, total_loss, total_acc))

# run on validation set and report accuracy! should be above 75%
valid_acc = None
# BEGIN SOLUTION
_, valid_acc, _ = evaluate(valid_x, valid_y)
# END SOLUTION

print('Validation accuracy: ', valid_acc)
if False:  # view the data
    for crop in valid_x:
        import matplotlib.pyplot as plt
        plt.imshow(crop.reshape(32, 32), cmap="Greys")
        plt.show()
import pickle
saved_params = {k: v for k, v in params.items() if '_' not in k}
with open('q3_weights.pickle', 'wb') as handle:
    pickle.dump(saved_params, handle, protocol=pickle.HIGHEST_PROTOCOL)

# Q3.1 plot the accuracy and loss curves
import matplotlib.pyplot as plt
# BEGIN SOLUTION
epochs = np.arange(1, max_iters + 1)
plt.figure()
plt.plot(epochs, train_accs, label='training')
plt.plot(epochs, valid_accs, label='validation')
plt.xlabel('epoch')
plt.ylabel('accuracy')
plt.legend()
plt.title('Accuracy')
plt.show()
plt.figure()
plt.plot(epochs, train_losses, label='training')
plt.plot(epochs, valid_losses, label='validation')
plt.xlabel('epoch')
plt.ylabel('average cross-entropy loss')
plt.legend()
plt.title('Loss')
plt.show()
# END SOLUTION

# Q3.3 visualize the first layer weights
from mpl_toolkits.axes_grid1 import ImageGrid
# BEGIN SOLUTION
for title, W in [('initial first-layer weights', initial_W), ('learned first-layer weights', params['Wlayer1'])]:
    fig = plt.figure(figsize=(8, 8))
    grid = ImageGrid(fig, 111, nrows_ncols=(8, 8), axes_pad=0.05)
    for ax, w in zip(grid, W.T):
        ax.imshow(w.reshape(32, 32), cmap='gray')
        ax.set_axis_off()
    fig.suptitle(title)
    plt.show()
# END SOLUTION

# Q3.4 compute the test accuracy and the confusion matrix
confusion_matrix = np.zeros((train_y.shape[1], train_y.shape[1]))
# BEGIN SOLUTION
_, test_acc, test_probs = evaluate(test_x, test_y)
print('Test accuracy: ', test_acc)
np.add.at(confusion_matrix, (np.argmax(test_y, axis=1), np.argmax(test_probs, axis=1)), 1)
# END SOLUTION

import string
plt.imshow(confusion_matrix, interpolation='nearest')
plt.grid(True)
plt.xticks(np.arange(36), string.ascii_uppercase[:26] + ''.join([str(_) for _ in range(10)]))
plt.yticks(np.arange(36), string.ascii_uppercase[:26] + ''.join([str(_) for _ in range(10)]))
plt.show()
