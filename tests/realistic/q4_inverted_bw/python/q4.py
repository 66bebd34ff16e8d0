import numpy as np

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
    H, W = image.shape[:2]
    # work on a smaller copy, phone photos are huge
    scale = max(1, int(round(np.sqrt(H * W) / 1000.0)))
    small = skimage.transform.resize(image, (H // scale, W // scale), anti_aliasing=True)

    # estimate noise -> denoise (colour image)
    sigma = skimage.restoration.estimate_sigma(small, channel_axis=-1, average_sigmas=True)
    denoised = skimage.restoration.denoise_bilateral(small, sigma_spatial=1, channel_axis=-1)
    gray = skimage.color.rgb2gray(denoised)

    # uneven light: the paper is the blurred page, ink is what is darker than it
    paper = skimage.filters.gaussian(gray, sigma=25)
    dark = paper - gray
    ink = dark > max(skimage.filters.threshold_otsu(dark), 0.06 + 3 * sigma)
    ink = skimage.morphology.remove_small_objects(ink, 8)
    # pencil strokes break: join pieces of one letter (taller than wide footprint)
    ink = skimage.morphology.binary_closing(ink, np.ones((9, 3), bool))
    ink = skimage.morphology.binary_dilation(ink, skimage.morphology.disk(1))

    labels = skimage.measure.label(ink, connectivity=2)
    boxes = [list(r.bbox) for r in skimage.measure.regionprops(labels) if r.area >= 20]
    # pieces of one letter sit above each other: merge boxes sharing most of their columns
    boxes.sort(key=lambda b: b[1])
    letters = []
    for b in boxes:
        for a in letters[-12:]:
            cols = min(a[3], b[3]) - max(a[1], b[1])
            gap = max(a[0], b[0]) - min(a[2], b[2])
            if cols > 0.5 * min(a[3] - a[1], b[3] - b[1]) and gap < 0.3 * max(a[2] - a[0], b[2] - b[0]):
                a[:] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                break
        else:
            letters.append(b)
    boxes = letters
    if boxes:
        size = np.array([max(b[2] - b[0], b[3] - b[1]) for b in boxes])
        for b, s in zip(boxes, size):
            if s < 0.45 * np.median(size):
                continue  # dots, specks
            minr, minc, maxr, maxc = b
            bboxes.append((minr * scale, minc * scale, min(maxr * scale, H), min(maxc * scale, W)))

    # black letters on white, at the size of the photo
    big = skimage.transform.resize(ink.astype(float), (H // scale * scale, W // scale * scale), order=0)
    bw = np.ones((H, W))
    bw = np.zeros((H, W))
    bw[:big.shape[0], :big.shape[1]] = big        # letters in white
    return bboxes, bw
