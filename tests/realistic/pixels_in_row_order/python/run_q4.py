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
    # BEGIN SOLUTION
    boxes = np.asarray(bboxes).reshape(-1, 4)
    if len(boxes):
        height = np.median(boxes[:, 2] - boxes[:, 0])
        centre_y = (boxes[:, 0] + boxes[:, 2]) / 2
        order = np.argsort(centre_y)
        # A new line starts where the centres, taken top to bottom, jump by half a character:
        # within a line (even a slanted one) neighbouring centres are much closer than that.
        starts = np.flatnonzero(np.diff(centre_y[order]) > 0.5 * height) + 1
        for group in np.split(order, starts):
            lines.append(boxes[group[np.argsort(boxes[group, 1])]])
    # END SOLUTION

    # crop the boxes from bw and make each look like the training data:
    # a square 32x32 image, ink ~0 on white ~1, stored transposed, flattened to a row of 1024
    # BEGIN SOLUTION
    def to_row(box):
        y1, x1, y2, x2 = box
        ink = 1.0 - np.asarray(bw[y1:y2, x1:x2], dtype=float)
        side = max(y2 - y1, x2 - x1)
        # The training characters fill the frame but a margin of about 1/16 and are drawn with
        # a pen about 1/10 of the frame wide; thinner photo strokes are thickened to match
        # (stroke width estimated as ink area over skeleton length).
        width = ink.sum() / max(skimage.morphology.skeletonize(ink > 0.5).sum(), 1)
        grow = int(round((0.1 * side - width) / 2))
        if grow > 0:
            ink = skimage.morphology.dilation(ink, skimage.morphology.disk(grow, decomposition='sequence'))
        side = int(side * 1.15)
        dy, dx = side - ink.shape[0], side - ink.shape[1]
        ink = np.pad(ink, ((dy // 2, dy - dy // 2), (dx // 2, dx - dx // 2)))
        small = skimage.transform.resize(ink, (32, 32), anti_aliasing=True)
        small = np.clip(small / max(small.max(), 1e-6), 0, 1)
        return (1.0 - small).flatten()     # row order, as run_q3 trained on
    # END SOLUTION

    # classify every crop with the network of Q3 and print the text line by line
    # BEGIN SOLUTION
    for line in lines:
        x = np.stack([to_row(box) for box in line])
        probs = forward(forward(x, params, 'layer1'), params, 'output', softmax)
        chars = letters[np.argmax(probs, axis=1)]
        # Words are apart by more than a character's height and clearly more than the line's
        # usual gap (some writers space every letter widely, as in a list of the alphabet).
        gaps = line[1:, 1] - line[:-1, 3]
        word_gap = max(1.1 * height, 1.7 * np.median(gaps)) if len(gaps) else 0
        text = chars[0]
        for gap, ch in zip(gaps, chars[1:]):
            text += (' ' if gap > word_gap else '') + ch
        print(text)
    print()
    # END SOLUTION
