import numpy as np
import skimage
import skimage.color
import skimage.filters
import skimage.measure
import skimage.morphology


def findLetters(image):
    gray = skimage.color.rgb2gray(image)
    ink = gray < skimage.filters.threshold_local(gray, block_size=51, offset=0.03)
    bboxes = np.array([r.bbox for r in skimage.measure.regionprops(skimage.measure.label(ink))]).reshape(-1, 4)
    bw = 1.0 - ink
    return bboxes, bw
