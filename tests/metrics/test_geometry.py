"""Chamfer, normal consistency and F1 against a brute-force numpy loop and concentric spheres."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _tester import MetricTester, assert_bad_input, assert_ideal

from bench.metrics.accumulate import ItemMetric
from bench.metrics.geometry import chamfer_distance, f1_score, normal_consistency


def nn_ref(x, y):
    """Brute force: for each point of x, the squared distance to and index of its nearest point in y."""
    d2, idx = np.empty(len(x)), np.empty(len(x), dtype=int)
    for i, p in enumerate(np.asarray(x, np.float64)):
        dd = ((np.asarray(y, np.float64) - p) ** 2).sum(1)
        idx[i] = dd.argmin()
        d2[i] = dd[idx[i]]
    return d2, idx


def chamfer_ref(xs, ys, squared=True, **_):
    out = []
    for x, y in zip(xs, ys, strict=True):
        a, b = nn_ref(x, y)[0], nn_ref(y, x)[0]
        out.append(a.mean() + b.mean() if squared else np.sqrt(a).mean() + np.sqrt(b).mean())
    return out


def normal_ref(xs, ys, xns, yns, absolute=True, **_):
    out = []
    for x, y, xn, yn in zip(xs, ys, xns, yns, strict=True):
        cos = []
        for p, q, pn, qn in ((x, y, xn, yn), (y, x, yn, xn)):
            j = nn_ref(p, q)[1]
            c = (pn * qn[j]).sum(1) / (np.linalg.norm(pn, axis=1) * np.linalg.norm(qn[j], axis=1))
            cos.append(np.abs(c).mean() if absolute else c.mean())
        out.append(0.5 * (cos[0] + cos[1]))
    return out


def f1_ref(xs, ys, threshold, **_):
    out = []
    for x, y in zip(xs, ys, strict=True):
        p = 100 * np.mean(np.sqrt(nn_ref(x, y)[0]) < threshold)
        r = 100 * np.mean(np.sqrt(nn_ref(y, x)[0]) < threshold)
        out.append(2 * p * r / (p + r + 1e-8))
    return out


def _clouds(seed=0, sizes=((300, 250), (120, 400), (200, 200), (50, 80))):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(a, 3)) for a, _ in sizes]
    ys = [rng.normal(size=(b, 3)) * 1.1 + 0.05 for _, b in sizes]
    return xs, ys


class Chamfer(ItemMetric):
    fn = staticmethod(chamfer_distance)


class Normals(ItemMetric):
    fn = staticmethod(normal_consistency)


class F1(ItemMetric):
    fn = staticmethod(f1_score)


@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("knn", ["kdtree", "torch"])
def test_chamfer_matches_bruteforce(squared, knn):
    xs, ys = _clouds()
    res = MetricTester(chamfer_distance, chamfer_ref, (xs, ys), {"squared": squared, "knn": knn},
                       accumulator=Chamfer, rtol=1e-10).run()
    assert res.fingerprint["params"]["squared"] is squared


def test_chamfer_padded_with_lengths_equals_list():
    xs, ys = _clouds(sizes=((30, 40), (50, 20)))
    pad = np.zeros((2, 50, 3))
    for i, x in enumerate(xs):
        pad[i, : len(x)] = x
    pad[0, 30:] = 1e3  # padding must be ignored
    a = chamfer_distance(pad, ys, x_lengths=[30, 50])
    np.testing.assert_allclose(a.items, chamfer_ref(xs, ys), rtol=1e-10)


def test_normal_consistency_matches_bruteforce():
    xs, ys = _clouds(1)
    rng = np.random.default_rng(2)
    xn = [rng.normal(size=x.shape) for x in xs]
    yn = [rng.normal(size=y.shape) for y in ys]
    for absolute in (True, False):
        MetricTester(normal_consistency, normal_ref, (xs, ys, xn, yn), {"absolute": absolute},
                     accumulator=Normals, rtol=1e-10).run()


@pytest.mark.parametrize("t", [0.05, 0.3, 1.0])
def test_f1_matches_bruteforce(t):
    xs, ys = _clouds(3)
    res = MetricTester(f1_score, f1_ref, (xs, ys), {"threshold": t}, accumulator=F1, rtol=1e-10).run()
    assert res.name == f"F1@{t:g}" and res.unit == "%"
    p = 100 * np.mean(np.sqrt(nn_ref(xs[0], ys[0])[0]) < t)
    assert res.extra["precision_items"][0] == pytest.approx(p)


def test_identical_clouds_are_ideal():
    xs, _ = _clouds()
    assert_ideal(chamfer_distance(xs, xs), 0.0)
    assert_ideal(f1_score(xs, xs, 1e-6), 100.0, tol=1e-6)
    assert_ideal(normal_consistency(xs, xs, xs, xs), 1.0, tol=1e-12)


def fibonacci_sphere(n, r):
    """Deterministic, near-uniform points on a sphere of radius r; the unit vectors are the normals."""
    k = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * k / n)
    theta = np.pi * (1 + 5**0.5) * k
    u = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)
    return u * r, u


def test_concentric_spheres_analytic():
    r1, r2, n = 1.0, 1.3, 5000
    (x, xn), (y, yn) = fibonacci_sphere(n, r1), fibonacci_sphere(n + 1, r2)
    # Dense sampling: every nearest neighbour is ~radially across, at distance |r1 - r2|.
    cd = chamfer_distance(x, y).value
    assert cd == pytest.approx(2 * (r2 - r1) ** 2, rel=1e-4)
    assert normal_consistency(x, y, xn, yn).value == pytest.approx(1.0, abs=1e-4)
    assert normal_consistency(x, y, xn, -yn, absolute=False).value == pytest.approx(-1.0, abs=1e-4)
    gap = r2 - r1
    assert f1_score(x, y, gap * 0.999).value == 0.0
    assert f1_score(x, y, gap * 1.05).value == pytest.approx(100.0)


def test_geometry_bad_inputs():
    xs, ys = _clouds(sizes=((10, 12),))
    assert_bad_input(chamfer_distance, np.zeros((0, 3)), ys[0], match=r"x\[0\]: empty point set")
    assert_bad_input(chamfer_distance, xs[0][:, :2], ys[0], match=r"x\[0\]: expected shape \(P, 3\)")
    bad = xs[0].copy()
    bad[3, 1] = np.nan
    assert_bad_input(chamfer_distance, bad, ys[0], match="x: contains NaN")
    assert_bad_input(chamfer_distance, xs * 2, ys, match="y: 1 point sets but x has 2")
    assert_bad_input(f1_score, xs, ys, 0.0, match="threshold: expected a positive distance")
    assert_bad_input(normal_consistency, xs, ys, [xs[0][:5]], ys, match=r"x_normals\[0\]: shape")
    assert_bad_input(chamfer_distance, np.zeros((2, 5, 3)), ys * 2, x_lengths=[5, 6], match="x_lengths")
    assert_bad_input(chamfer_distance, xs, ys, knn="faiss", match="knn: expected one of")
    assert_bad_input(chamfer_distance, torch.zeros(4, 3, dtype=torch.bool), ys, match="x: expected a numeric")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (the batched torch NN path is the GPU default)")
def test_cuda_default_path_matches_cpu_kdtree():
    xs, ys = _clouds()
    cpu = chamfer_distance(xs, ys, knn="kdtree")
    gpu = chamfer_distance([torch.tensor(x, device="cuda") for x in xs], [torch.tensor(y, device="cuda") for y in ys])
    np.testing.assert_allclose(gpu.items, cpu.items, rtol=1e-9)
    f_cpu = f1_score(xs, ys, 0.3, knn="kdtree")
    f_gpu = f1_score([torch.tensor(x, device="cuda") for x in xs], [torch.tensor(y, device="cuda") for y in ys], 0.3)
    assert f_gpu.items == f_cpu.items
