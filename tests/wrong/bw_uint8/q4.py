import numpy as np
import scipy.sparse.csgraph

import skimage
import skimage.measure
import skimage.color
import skimage.restoration
import skimage.filters
import skimage.morphology
import skimage.segmentation
import skimage.transform


# takes a color image
# returns a list of bounding boxes and black_and_white image
def findLetters(image):
    bboxes = []
    bw = None
    # insert processing in here
    # one idea: estimate noise -> denoise -> greyscale -> threshold -> morphology -> label -> skip small boxes
    # this can be 10 to 15 lines of code using skimage functions
    # BEGIN SOLUTION
    image = skimage.img_as_float(image)
    if image.ndim == 3:
        gray = skimage.color.rgb2gray(image[..., :3]) if image.shape[2] >= 3 else image[..., 0]
    else:
        gray = image
    H, W = gray.shape

    # Phone photos are up to 4032 px wide; about 1000 px keeps every stroke a few pixels wide
    # and the search to a second or two.
    factor = max(1, int(round(max(H, W) / 1000)))
    Hc, Wc = H // factor * factor, W // factor * factor
    small = skimage.transform.downscale_local_mean(gray[:Hc, :Wc], (factor, factor))
    small = skimage.filters.gaussian(small, sigma=1)

    # Lighting varies across a photo, so ink is judged against the local paper: the black
    # top-hat (closing minus image) is near 0 on paper whatever its brightness, large on strokes.
    size = max(small.shape)
    darkness = skimage.morphology.black_tophat(small, skimage.morphology.disk(size // 60, decomposition='sequence'))
    # The floor keeps Otsu from splitting mere paper grain when a page holds little or no ink.
    ink = darkness > max(skimage.filters.threshold_otsu(darkness), 0.08)

    boxes = np.array([r.bbox for r in skimage.measure.regionprops(skimage.measure.label(ink, connectivity=2))
                      if r.area >= 10])
    if len(boxes):
        # Pieces of one character that stayed apart (a crossbar lifted off its stem, a broken
        # pencil stroke) lie one above the other, overlapping in x and close in y; characters
        # of one line sit side by side and lines are far apart, so such pieces become one box.
        def overlap(lo, hi):
            return np.minimum(hi[:, None], hi[None, :]) - np.maximum(lo[:, None], lo[None, :])
        w = boxes[:, 3] - boxes[:, 1]
        typical = np.median(np.maximum(boxes[:, 2] - boxes[:, 0], w))
        same = (overlap(boxes[:, 1], boxes[:, 3]) > 0.5 * np.minimum(w[:, None], w[None, :])) & \
               (overlap(boxes[:, 0], boxes[:, 2]) > -0.25 * typical)
        _, group = scipy.sparse.csgraph.connected_components(same, directed=False)
        boxes = np.array([np.r_[boxes[group == g, :2].min(axis=0), boxes[group == g, 2:].max(axis=0)]
                          for g in range(group.max() + 1)])
        # Periods, specks and paper texture are small in both directions next to a character.
        extent = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        boxes = boxes[extent >= 0.4 * np.median(extent)]
        bboxes = np.column_stack([boxes[:, 0] * factor, boxes[:, 1] * factor,
                                  np.minimum(boxes[:, 2] * factor, H), np.minimum(boxes[:, 3] * factor, W)])
    else:
        bboxes = np.zeros((0, 4), dtype=int)

    # bw at full size: the mask scaled back up, ink black (0) on white (1).
    full = skimage.transform.resize(ink.astype(float), (Hc, Wc), order=1)
    full = np.pad(full, ((0, H - full.shape[0]), (0, W - full.shape[1])), mode='edge')
    bw = skimage.img_as_ubyte(full <= 0.5)
    # END SOLUTION
    return bboxes, bw
