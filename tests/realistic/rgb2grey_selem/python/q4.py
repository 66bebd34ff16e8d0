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
    # grey first, then a smaller copy: phone photos are huge
    gray = skimage.color.rgb2grey(image)
    scale = max(1, int(round(np.sqrt(H * W) / 1000.0)))
    gray = skimage.transform.resize(gray, (H // scale, W // scale), anti_aliasing=True)
    gray = skimage.filters.gaussian(gray, sigma=0.7, multichannel=False)
    sigma = skimage.restoration.estimate_sigma(gray)

    # uneven light: the paper is the blurred page, ink is what is darker than it
    paper = skimage.filters.gaussian(gray, sigma=25)
    dark = paper - gray
    ink = dark > max(skimage.filters.threshold_otsu(dark), 0.06 + 3 * sigma)
    ink = skimage.morphology.remove_small_objects(ink, 8)
    # pencil strokes break: join pieces of one letter (taller than wide footprint)
    ink = skimage.morphology.binary_closing(ink, selem=np.ones((9, 3), bool))
    ink = skimage.morphology.binary_dilation(ink, selem=skimage.morphology.disk(1))

    labels = skimage.measure.label(ink, neighbors=8)
    boxes = [list(r.bbox) for r in skimage.measure.regionprops(labels) if r.area >= 20]
    # pieces of one letter sit above each other: merge boxes sharing most of their columns,
    # unless together they are taller than a letter (then they are letters of two lines)
    tall = np.median([b[2] - b[0] for b in boxes]) if boxes else 0
    boxes.sort(key=lambda b: b[1])
    letters = []
    for b in boxes:
        for a in letters[-12:]:
            cols = min(a[3], b[3]) - max(a[1], b[1])
            gap = max(a[0], b[0]) - min(a[2], b[2])
            height = max(a[2], b[2]) - min(a[0], b[0])
            if cols > 0.5 * min(a[3] - a[1], b[3] - b[1]) and gap < 0.3 * max(a[2] - a[0], b[2] - b[0]) \
                    and height < 1.3 * tall:
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
    bw[:big.shape[0], :big.shape[1]] = 1.0 - big
    return bboxes, bw
