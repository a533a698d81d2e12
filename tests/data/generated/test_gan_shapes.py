"""GAN primitives: a lone disc covers about pi r^2 pixels of its colour; files match the scene list."""

import math

import numpy as np
import pytest

from bench.data import registry
from bench.data.generated.gan_shapes import draw


def test_disc_area_and_colour():
    scene = {"background": [0, 0, 0], "objects": [{"kind": "disc", "center": [32.0, 30.0], "radius": 12.0,
                                                     "angle": 0.0, "color": [200, 10, 50]}]}
    img = draw(scene, 64)
    mask = (img == [200, 10, 50]).all(-1)
    yy, xx = np.mgrid[:64, :64]
    np.testing.assert_array_equal(mask, (xx - 32.0) ** 2 + (yy - 30.0) ** 2 < 144)  # brute-force pixel centres
    assert mask.sum() == pytest.approx(math.pi * 144, rel=0.05)
    ys, xs = np.nonzero(mask)
    assert (xs.mean(), ys.mean()) == pytest.approx((32.0, 30.0), abs=0.3)


def test_square_area():
    scene = {"background": [9, 9, 9], "objects": [{"kind": "square", "center": [32.0, 32.0], "radius": 10.0,
                                                   "angle": 0.3, "color": [1, 2, 3]}]}
    assert (draw(scene, 64) == [1, 2, 3]).all(-1).sum() == pytest.approx(2 * 100, rel=0.06)  # diagonal 2r


def test_dataset_images_match_scenes(tmp_path):
    folder = registry.generate("gan-shapes", tmp_path / "g", seed=1, count=5, image_size=32)
    data = registry.get("gan-shapes").load(folder)
    assert data["images"].shape == (5, 32, 32, 3)
    for img, scene in zip(data["images"], data["scenes"], strict=True):
        np.testing.assert_array_equal((img.numpy() * 255).round().astype(np.uint8), draw(scene, 32))
