"""MPJPE / PA-MPJPE / reprojection / PCK against numpy loops and SciPy Procrustes."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from _tester import MetricTester, assert_bad_input, assert_ideal
from scipy.linalg import orthogonal_procrustes
from scipy.optimize import least_squares
from scipy.spatial import procrustes
from scipy.spatial.transform import Rotation

from bench.metrics.accumulate import ItemMetric
from bench.metrics.body import mpjpe, pa_mpjpe, pck, reprojection_error_px, similarity_align


def _skeletons(n=6, j=17, seed=0, noise=0.05):
    """Ground truth and predictions = similarity transform of the truth + noise (mm-like units)."""
    rng = np.random.default_rng(seed)
    gt = rng.normal(size=(n, j, 3)) * 300
    rot = Rotation.random(n, random_state=seed).as_matrix()
    scale = rng.uniform(0.5, 2.0, size=(n, 1, 1))
    pred = scale * gt @ rot + rng.normal(size=(n, 1, 3)) * 100 + rng.normal(size=gt.shape) * 300 * noise
    return pred, gt


def mpjpe_ref(pred, gt, visibility=None, root=None, **_):
    out = []
    for i in range(len(pred)):
        p, g = pred[i], gt[i]
        if root is not None:
            p, g = p - p[root], g - g[root]
        e = np.linalg.norm(p - g, axis=1)
        w = np.ones(len(e)) if visibility is None else np.asarray(visibility[i], float)
        out.append((e * w).sum() / w.sum())
    return out


def pa_ref(pred, gt, **_):
    """Closed form through SciPy's orthogonal Procrustes (valid when the optimum is a proper rotation)."""
    out = []
    for p, g in zip(pred, gt, strict=True):
        a, b = p - p.mean(0), g - g.mean(0)
        r, s = orthogonal_procrustes(a, b)
        assert np.linalg.det(r) > 0
        aligned = s / (a**2).sum() * a @ r + g.mean(0)
        out.append(np.linalg.norm(aligned - g, axis=1).mean())
    return out


def test_mpjpe_matches_numpy():
    pred, gt = _skeletons()
    MetricTester(mpjpe, mpjpe_ref, (pred, gt), accumulator=partial(ItemMetric, mpjpe), rtol=1e-10).run()
    MetricTester(mpjpe, mpjpe_ref, (pred, gt), {"root": 0}, rtol=1e-10).run()
    vis = np.random.default_rng(1).uniform(size=gt.shape[:2]) > 0.3
    MetricTester(mpjpe, mpjpe_ref, (pred, gt, vis), accumulator=partial(ItemMetric, mpjpe), rtol=1e-10).run()
    assert_ideal(mpjpe(gt, gt), 0.0)


def test_pa_mpjpe_matches_scipy():
    pred, gt = _skeletons()
    res = MetricTester(pa_mpjpe, pa_ref, (pred, gt), accumulator=partial(ItemMetric, pa_mpjpe), rtol=1e-8).run()
    assert res.value < mpjpe(pred, gt).value
    # scipy.spatial.procrustes: disparity = squared error after standardising both; rescaled to gt's units.
    aligned_sq = []
    for p, g in zip(pred, gt, strict=True):
        _, _, disparity = procrustes(g, p)
        aligned_sq.append(disparity * ((g - g.mean(0)) ** 2).sum())
    ours = ((similarity_align(torch.tensor(pred), torch.tensor(gt)).numpy() - gt) ** 2).sum((1, 2))
    np.testing.assert_allclose(ours, aligned_sq, rtol=1e-8)
    # a pure similarity transform is undone exactly
    exact, _ = _skeletons(noise=0.0)
    assert_ideal(pa_mpjpe(exact, gt), 0.0, tol=1e-9)


def test_pa_mpjpe_reflection_fix():
    """A mirrored skeleton cannot be undone by a rotation: the error is the best over rotations only."""
    _, gt = _skeletons(n=2, j=12, seed=3)
    pred = gt * np.array([-1.0, 1.0, 1.0]) + np.random.default_rng(4).normal(size=gt.shape) * 5
    res = pa_mpjpe(pred, gt)
    for i in range(2):
        def resid(x, p=pred[i], g=gt[i]):
            aligned = np.exp(x[3]) * p @ Rotation.from_rotvec(x[:3]).as_matrix() + x[4:]
            return (aligned - g).ravel()

        best = min((least_squares(resid, np.r_[Rotation.random(random_state=s).as_rotvec(), 0, 0, 0, 0])
                    for s in range(8)), key=lambda r: r.cost)
        sq = (best.fun.reshape(-1, 3) ** 2).sum(1)
        ours = similarity_align(torch.tensor(pred[i:i + 1]), torch.tensor(gt[i:i + 1]))[0].numpy()
        assert ((ours - gt[i]) ** 2).sum() == pytest.approx(sq.sum(), rel=1e-6)
        assert res.items[i] > 10 * 5  # far from the ~0 an improper rotation would give


def test_reprojection_and_pck():
    rng = np.random.default_rng(5)
    gt = rng.uniform(0, 256, size=(5, 14, 2))
    pred = gt + rng.normal(size=gt.shape) * 4
    vis = rng.uniform(size=(5, 14)) > 0.2
    MetricTester(reprojection_error_px, mpjpe_ref, (pred, gt), accumulator=partial(ItemMetric, reprojection_error_px),
                 rtol=1e-10).run()
    MetricTester(reprojection_error_px, mpjpe_ref, (pred, gt, vis), rtol=1e-10).run()

    def pck_ref(pred, gt, threshold, normalizer=None, **_):
        lim = threshold * (np.ones(len(pred)) if normalizer is None else normalizer)
        return [100 * np.mean(np.linalg.norm(p - g, axis=1) < t) for p, g, t in zip(pred, gt, lim, strict=True)]

    MetricTester(pck, pck_ref, (pred, gt, 5.0), accumulator=partial(ItemMetric, pck), per_item_inputs=(0, 1),
                 rtol=1e-12).run()
    norm = rng.uniform(20, 60, size=5)
    MetricTester(pck, pck_ref, (pred, gt, 0.1), {"normalizer": norm}, rtol=1e-12).run()
    assert_ideal(pck(gt, gt, 1e-9), 100.0)


def test_body_bad_inputs():
    pred, gt = _skeletons(n=2, j=5)
    assert_bad_input(mpjpe, pred, gt[:, :4], match="gt: shape")
    assert_bad_input(mpjpe, pred[0], gt[0], match=r"pred: expected shape \(N, J, 3\)")
    assert_bad_input(mpjpe, pred, gt, root=7, match="root: joint index 7")
    assert_bad_input(mpjpe, pred, gt, visibility=np.zeros((2, 5)), match=r"visibility: sample\(s\) \[0, 1\]")
    assert_bad_input(reprojection_error_px, pred, gt, match=r"pred: expected shape \(N, J, 2\)")
    assert_bad_input(pa_mpjpe, np.zeros_like(pred), gt, match="all joints at one point")
    assert_bad_input(pck, pred, gt, 0.0, match="threshold: expected a positive")
    assert_bad_input(pck, pred, gt, 0.1, normalizer=[1.0], match="normalizer: expected")


def test_a_named_unit_is_recorded_and_fingerprinted_and_unnamed_ones_stay_as_they_were():
    gt, pred = _skeletons()
    plain, mm = pa_mpjpe(pred, gt), pa_mpjpe(pred, gt, unit="mm")
    assert plain.unit == "" and mm.unit == "mm" and mm.value == plain.value
    assert "unit" not in plain.fingerprint["params"]  # callers that name no unit keep their fingerprints
    assert mm.fingerprint["params"]["unit"] == "mm"
    assert pa_mpjpe(pred / 1000, gt / 1000, unit="m").fingerprint != mm.fingerprint  # m and mm never compared
    assert mpjpe(pred, gt, root=0, unit="mm").unit == "mm"
    with pytest.raises(ValueError, match="unit"):
        pa_mpjpe(pred, gt, unit=1000)


def test_metric_spec_takes_a_unit_only_where_results_are_in_the_inputs_unit():
    from bench.suite import MetricSpec

    assert MetricSpec.of("pa_mpjpe", unit="mm").unit == "mm"
    assert MetricSpec.of("pa_mpjpe").unit == ""
    with pytest.raises(ValueError, match="psnr"):
        MetricSpec.of("psnr", unit="mm")
