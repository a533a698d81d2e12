"""Pose metrics against known rotations (SciPy), linear-algebra centres and brute-force ADD / ADD-S."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from _tester import MetricTester, assert_bad_input, assert_ideal
from scipy.spatial.transform import Rotation

from bench.metrics.accumulate import ItemMetric
from bench.metrics.pose import add, add_s, camera_center_error, rotation_error_deg, translation_error

ANGLES = np.array([0.0, 1e-4, 1e-2, 0.1, 0.5, 1.0, 30.0, 90.0, 150.0, 179.0, 179.9, 179.999, 180.0])


def _known_pairs(seed=0):
    """Random true rotations and predictions off by a known angle about a random axis."""
    rng = np.random.default_rng(seed)
    gt = Rotation.random(len(ANGLES), random_state=seed).as_matrix()
    axes = rng.normal(size=(len(ANGLES), 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    delta = Rotation.from_rotvec(axes * np.deg2rad(ANGLES)[:, None]).as_matrix()
    return delta @ gt, gt


def test_rotation_error_known_angles():
    pred, gt = _known_pairs()
    res = MetricTester(rotation_error_deg, lambda *_: ANGLES, (pred, gt), accumulator=partial(ItemMetric,
                       rotation_error_deg), rtol=1e-9, atol=1e-9).run()
    assert res.unit == "deg"
    # independent check with SciPy's own geodesic magnitude
    ref = (Rotation.from_matrix(pred).inv() * Rotation.from_matrix(gt)).magnitude()
    np.testing.assert_allclose(res.items, np.rad2deg(ref), atol=1e-6)


def test_rotation_error_float32_below_one_degree():
    pred, gt = _known_pairs(1)
    res = rotation_error_deg(torch.tensor(pred, dtype=torch.float32), torch.tensor(gt, dtype=torch.float32))
    small = (ANGLES >= 0.01) & (ANGLES <= 1.0)
    np.testing.assert_allclose(np.array(res.items)[small], ANGLES[small], rtol=2e-3)
    # an acos of the clamped cosine (PyTorch3D's default cos_bound=1e-4) cannot see these angles
    cos = np.clip((np.trace(np.swapaxes(pred, 1, 2) @ gt, axis1=1, axis2=2) - 1) / 2, -1 + 1e-4, 1 - 1e-4)
    assert np.all(np.rad2deg(np.arccos(cos))[ANGLES <= 0.5] > 0.8)


def test_translation_and_camera_center():
    rng = np.random.default_rng(2)
    n = 6
    rp, rg = Rotation.random(n, random_state=3).as_matrix(), Rotation.random(n, random_state=4).as_matrix()
    tp, tg = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    MetricTester(translation_error, lambda a, b: np.linalg.norm(a - b, axis=1), (tp, tg),
                 accumulator=partial(ItemMetric, translation_error)).run()

    def centre(R, T):  # the world point that maps to the camera origin: C @ R + T = 0
        return np.linalg.solve(R.T, -T)

    def ref(rp, tp, rg, tg):
        return [np.linalg.norm(centre(a, b) - centre(c, d)) for a, b, c, d in zip(rp, tp, rg, tg, strict=True)]

    MetricTester(camera_center_error, ref, (rp, tp, rg, tg), accumulator=partial(ItemMetric, camera_center_error),
                 rtol=1e-10).run()
    assert_ideal(camera_center_error(rg, tg, rg, tg), 0.0)


def _add_ref(points, rp, tp, rg, tg, symmetric=False, **_):
    out = []
    for a, b, c, d in zip(rp, tp, rg, tg, strict=True):
        xp, xg = points @ a + b, points @ c + d
        if symmetric:
            out.append(np.mean([np.min(np.linalg.norm(xp - q, axis=1)) for q in xg]))
        else:
            out.append(np.mean(np.linalg.norm(xp - xg, axis=1)))
    return out


def test_add_and_add_s_bruteforce():
    rng = np.random.default_rng(5)
    pts = rng.normal(size=(200, 3))
    n = 5
    rp, rg = Rotation.random(n, random_state=6).as_matrix(), Rotation.random(n, random_state=7).as_matrix()
    tp, tg = rng.normal(size=(n, 3)) * 0.1, rng.normal(size=(n, 3)) * 0.1
    inputs = (pts, rp, tp, rg, tg)
    MetricTester(add, _add_ref, inputs, accumulator=partial(ItemMetric, add), per_item_inputs=(1, 2, 3, 4),
                 rtol=1e-10).run()
    MetricTester(add_s, partial(_add_ref, symmetric=True), inputs, accumulator=partial(ItemMetric, add_s),
                 per_item_inputs=(1, 2, 3, 4), rtol=1e-10).run()
    # column convention R X + t equals the row convention with R transposed
    col = add(pts, np.swapaxes(rp, 1, 2), tp, np.swapaxes(rg, 1, 2), tg, convention="column")
    np.testing.assert_allclose(col.items, add(*inputs).items, rtol=1e-12)
    acc = add(*inputs, threshold=float(np.median(add(*inputs).items)) + 1e-9).extra["accuracy"]
    assert acc == pytest.approx(60.0)


def test_add_s_ignores_symmetry():
    rng = np.random.default_rng(8)
    half = rng.normal(size=(100, 3))
    pts = np.concatenate([half, half * [-1, -1, 1]])  # symmetric under 180 deg about z
    flip = Rotation.from_euler("z", 180, degrees=True).as_matrix()[None]
    eye, zero = np.eye(3)[None], np.zeros((1, 3))
    assert add_s(pts, flip, zero, eye, zero).value == pytest.approx(0.0, abs=1e-12)
    assert add(pts, flip, zero, eye, zero).value > 0.5


def test_pose_bad_inputs():
    eye = np.eye(3)[None]
    assert_bad_input(rotation_error_deg, eye * 2, eye, match=r"R_pred\[0\]: not a rotation matrix")
    assert_bad_input(rotation_error_deg, -eye, eye, match=r"R_pred\[0\]: not a rotation matrix .*det")
    assert_bad_input(rotation_error_deg, np.repeat(eye, 2, 0), eye, match="R_gt: shape")
    assert_bad_input(rotation_error_deg, np.eye(4), eye, match="R_pred: expected shape")
    assert_bad_input(translation_error, np.zeros((2, 3)), np.zeros((3, 3)), match="T_gt: batch size 3")
    assert_bad_input(translation_error, np.full((2, 3), np.nan), np.zeros((2, 3)), match="T_pred: contains NaN")
    assert_bad_input(add, np.zeros((0, 3)), eye, np.zeros((1, 3)), eye, np.zeros((1, 3)), match="points: empty")
    assert_bad_input(add, np.zeros((5, 3)), eye, np.zeros((1, 3)), eye, np.zeros((1, 3)), convention="cv",
                     match="convention: expected one of")
