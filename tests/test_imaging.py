"""Labelled, whole-pixel scaled images: the picture is unchanged under the band, each column has its label."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.imaging import BAND_PX, label_columns
from bench.methods.heldout import strip


def test_label_columns_scales_by_whole_pixels_and_labels_each_column():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(10, 2 * 33 + 2, 3), dtype=np.uint8)  # two 33 px columns, 2 px gap
    out = label_columns(img, ["ground truth", "prediction"], gap=2, min_column_px=128)
    k = 4  # ceil(128 / 33)
    assert out.shape == (BAND_PX + 10 * k, img.shape[1] * k, 3)
    assert (out[BAND_PX:][::k, ::k] == img).all()  # nearest-neighbour copy, nothing resampled
    band = out[:BAND_PX].min(axis=2)
    left, right = band[:, : 33 * k], band[:, 35 * k:]
    assert (left < 128).any() and (right < 128).any()  # text drawn over both columns
    assert (band[:, 33 * k: 35 * k] == 255).all()  # and not over the gap


def test_label_columns_refuses_a_width_that_does_not_split():
    with pytest.raises(ValueError, match="does not split into 3 columns"):
        label_columns(np.zeros((4, 10, 3), np.uint8), ["a", "b", "c"])


def test_strip_difference_column_is_the_absolute_error():
    truth, render = torch.full((1, 3, 4, 3), 0.75), torch.full((1, 3, 4, 3), 0.25)
    img = strip(truth, render, gap=1, difference=True)
    assert img.shape == (3, 3 * 4 + 2, 3)
    assert np.allclose(img[:, :4], 0.75) and np.allclose(img[:, 5:9], 0.25) and np.allclose(img[:, 10:], 0.5)


def test_read_obj_fans_polygons_and_refuses_bad_indices():
    from bench.imaging import read_obj

    v, f = read_obj("v -1 -1 0\nv 1 -1 0\nv 1 1 0\nv -1 1 0\nf 1/1 2/2 3/3 4/4\n")
    assert v.shape == (4, 3) and f.tolist() == [[0, 1, 2], [0, 2, 3]]  # the quad fanned into two triangles
    assert read_obj("v 0 0 0\nv 1 0 0\nv 0 1 0\nf -3 -2 -1\n")[1].tolist() == [[0, 1, 2]]  # negative = relative
    with pytest.raises(ValueError, match="indexes vertex 5 of 4"):
        read_obj("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 5\n")
