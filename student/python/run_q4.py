import os
import pickle
import string
import warnings

import numpy as np
import scipy.ndimage
import skimage
import skimage.io
import skimage.morphology
import skimage.transform
import matplotlib.pyplot as plt
import matplotlib.patches

from nn import *
from q4 import *

warnings.simplefilter(action='ignore', category=FutureWarning)
warnings.simplefilter(action='ignore', category=UserWarning)

# class index -> character, the order of the NIST36 labels
letters = np.array([c for c in string.ascii_uppercase] + [str(d) for d in range(10)])
params = pickle.load(open('q3_weights.pickle', 'rb'))

for img in sorted(os.listdir('../images')):
    if not img.lower().endswith(('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')):
        continue
    im1 = skimage.img_as_float(skimage.io.imread(os.path.join('../images', img)))
    bboxes, bw = findLetters(im1)

    plt.imshow(bw, cmap='gray')
    for bbox in bboxes:
        minr, minc, maxr, maxc = bbox
        rect = matplotlib.patches.Rectangle((minc, minr), maxc - minc, maxr - minr,
                                            fill=False, edgecolor='red', linewidth=2)
        plt.gca().add_patch(rect)
    plt.title(img)
    plt.show()

    # group the boxes into lines of text, each line sorted left to right
    lines = []
    ##########################
    ##### your code here #####
    ##########################

    # crop the boxes from bw and make each look like the training data:
    # a square 32x32 image, ink ~0 on white ~1, stored transposed, flattened to a row of 1024
    ##########################
    ##### your code here #####
    ##########################

    # classify every crop with the network of Q3 and print the text line by line
    ##########################
    ##### your code here #####
    ##########################
