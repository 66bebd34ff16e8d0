import numpy as np
import scipy.io
from nn import *

train_data = scipy.io.loadmat('../data/nist36_train.mat')
valid_data = scipy.io.loadmat('../data/nist36_valid.mat')
test_data = scipy.io.loadmat('../data/nist36_test.mat')

train_x, train_y = train_data['train_data'], train_data['train_labels']
valid_x, valid_y = valid_data['valid_data'], valid_data['valid_labels']
test_x, test_y = test_data['test_data'], test_data['test_labels']

if False:  # view the data
    for crop in train_x:
        import matplotlib.pyplot as plt
        plt.imshow(crop.reshape(32, 32).T, cmap="Greys")
        plt.show()

max_iters = 50
# pick a batch size, learning rate
batch_size = None
learning_rate = None
hidden_size = 64
##########################
##### your code here #####
##########################

batches = get_random_batches(train_x, train_y, batch_size)
batch_num = len(batches)

params = {}

# initialize layers here
##########################
##### your code here #####
##########################

# with default settings, you should get loss < 150 and accuracy > 80%
for itr in range(max_iters):
    total_loss = 0
    total_acc = 0
    for xb, yb in batches:
        # training loop can be exactly the same as q2!
        ##########################
        ##### your code here #####
        ##########################
        pass

    ##########################
    ##### your code here #####
    ##########################

    if itr % 2 == 0:
        print("itr: {:02d} \t loss: {:.2f} \t acc : {:.2f}".format(itr, total_loss, total_acc))

# run on validation set and report accuracy! should be above 75%
valid_acc = None
##########################
##### your code here #####
##########################

print('Validation accuracy: ', valid_acc)
if False:  # view the data
    for crop in valid_x:
        import matplotlib.pyplot as plt
        plt.imshow(crop.reshape(32, 32).T, cmap="Greys")
        plt.show()
import pickle
saved_params = {k: v for k, v in params.items() if '_' not in k}
with open('q3_weights.pickle', 'wb') as handle:
    pickle.dump(saved_params, handle, protocol=pickle.HIGHEST_PROTOCOL)

# Q3.1 plot the accuracy and loss curves
import matplotlib.pyplot as plt
##########################
##### your code here #####
##########################

# Q3.3 visualize the first layer weights
from mpl_toolkits.axes_grid1 import ImageGrid
##########################
##### your code here #####
##########################

# Q3.4 compute the test accuracy and the confusion matrix
confusion_matrix = np.zeros((train_y.shape[1], train_y.shape[1]))
##########################
##### your code here #####
##########################

import string
plt.imshow(confusion_matrix, interpolation='nearest')
plt.grid(True)
plt.xticks(np.arange(36), string.ascii_uppercase[:26] + ''.join([str(_) for _ in range(10)]))
plt.yticks(np.arange(36), string.ascii_uppercase[:26] + ''.join([str(_) for _ in range(10)]))
plt.show()
