# Two million boxes for every photo: the matching and the report's picture would take gigabytes.
import numpy as np


def findLetters(image):
    boxes = np.tile(np.array([[0, 0, 10, 10]], dtype=np.float64), (2_000_000, 1))
    return boxes, np.ones(image.shape[:2])
