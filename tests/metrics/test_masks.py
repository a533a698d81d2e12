"""IoU of masks and voxels against numpy set operations."""

from __future__ import annotations

from functools import partial

import numpy as np
from _tester import MetricTester, assert_bad_input, assert_ideal

from bench.metrics.accumulate import ItemMetric
from bench.metrics.masks import iou


def iou_ref(pred, target, threshold=0.5, soft=False, **_):
    out = []
    for p, t in zip(pred, target, strict=True):
        t = t.astype(bool)
        if soft:
            inter, union = (p * t).sum(), (p + t - p * t).sum()
        else:
            pb = p > threshold
            inter, union = np.logical_and(pb, t).sum(), np.logical_or(pb, t).sum()
        out.append(1.0 if union == 0 else inter / union)
    return out


def _data(shape, seed=0):
    rng = np.random.default_rng(seed)
    target = rng.uniform(size=shape) > 0.6
    pred = np.clip(target * 0.7 + rng.uniform(size=shape) * 0.5, 0, 1)
    return pred, target


def test_iou_masks_and_voxels():
    for shape in ((6, 16, 12), (5, 8, 8, 8)):
        pred, target = _data(shape)
        for kw in ({}, {"threshold": 0.2}, {"soft": True}):
            res = MetricTester(iou, iou_ref, (pred, target), kw, accumulator=partial(ItemMetric, iou),
                               rtol=1e-12).run()
        assert res.fingerprint["params"]["kind"] == ("masks" if len(shape) == 3 else "voxels")


def test_iou_ideal_and_empty():
    _, target = _data((3, 10, 10))
    assert_ideal(iou(target, target), 1.0)
    empty = np.zeros((2, 4, 4), bool)
    assert_ideal(iou(empty, empty), 1.0)
    assert iou(~empty, empty).value == 0.0


def test_iou_bad_inputs():
    pred, target = _data((2, 5, 5))
    assert_bad_input(iou, pred * 2, target, match="pred: values span")
    assert_bad_input(iou, pred, target * 0.5, match="target: expected a binary mask")
    assert_bad_input(iou, pred, target[:, :4], match="target: shape")
    assert_bad_input(iou, pred[0], target[0], match=r"pred: expected shape \(N, H, W\)")
