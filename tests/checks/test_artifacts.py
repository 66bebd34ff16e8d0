"""The grader's own pictures for the report: drawn from whatever boxes a submission returns."""
import imageio.v3 as iio
import numpy as np

from graders.checks import artifacts


def test_overlay_marks_found_false_and_missed_boxes_and_survives_any_boxes(tmp_path):
    photo = tmp_path / "photo.png"
    iio.imwrite(photo, np.full((300, 400, 3), 204, np.uint8))
    truth = np.array([[10, 10, 50, 60], [200, 200, 250, 260]])
    boxes = np.array([[10, 10, 50, 60], [500, 500, 600, 700], [np.nan, 1, 2, 3], [-50, -50, 20, 20],
                      [100, 300, 90, 280], [0, 0, 299, 399], [120, 120, 160, 170]])
    picture = iio.imread(artifacts.boxes_overlay(photo, truth, boxes, [(0, 0, 0.9)]))
    assert picture.shape[0] == 300 and picture.shape[1] == 2 * 400 + 12
    right = picture[:, 412:].astype(int)

    palette = {**artifacts.COLOURS, "photo": (204, 204, 204)}

    def near(pixel, colour):
        """JPEG blurs one-pixel lines: the nearest colour of the palette is the one drawn."""
        return min(palette.values(), key=lambda c: np.abs(pixel - c).sum()) == tuple(colour)

    # outlines run one pixel outside each box
    assert near(right[9, 30], artifacts.COLOURS["matched"])
    assert near(right[119, 140], artifacts.COLOURS["false"])
    assert near(right[199, 230], artifacts.COLOURS["missed"])
    assert near(picture[199, 230], artifacts.COLOURS["truth"])
    assert near(right[100, 100], palette["photo"])          # the photo itself between the boxes


def test_a_phone_photo_shrinks_to_the_panel_width(tmp_path):
    photo = tmp_path / "photo.jpg"
    iio.imwrite(photo, np.zeros((3024, 4032), dtype=np.uint8))
    picture = iio.imread(artifacts.boxes_overlay(photo, np.array([[100, 100, 400, 300]]), np.zeros((0, 4)), []))
    assert picture.shape[1] == 2 * artifacts.PANEL_WIDTH + 12


def test_image_grid_stacks_rows():
    grid = iio.imread(artifacts.image_grid([[np.zeros((32, 32))] * 3, [np.ones((32, 32))] * 3], zoom=2))
    assert grid.shape[:2] == (2 * 34 * 2, 3 * 34 * 2)
