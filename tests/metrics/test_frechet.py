"""The exact FID trace term (low-rank, mixed and eigh paths) against SciPy's sqrtm, on random and Inception features."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from bench.metrics.frechet import GaussianStats, frechet_distance, sqrt_psd, trace_sqrt_product


def sqrtm_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook FID (pytorch-fid's formula) with scipy.linalg.sqrtm of S1 S2."""
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _sets(n1: int, n2: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    a = rng.normal(size=(n1, d)) @ mix
    b = (rng.normal(size=(n2, d)) * np.linspace(0.5, 1.5, d)) @ mix + 0.2
    return a, b


@pytest.mark.parametrize("n1,n2", [(20, 30), (30, 20), (25, 200), (200, 25), (150, 300)])
def test_all_paths_match_sqrtm(n1, n2):
    """Both sets below d (SVD of A1 A2^T), one below (A S A^T), both above (eigh), in both orders."""
    a, b = _sets(n1, n2, d=64)
    sa, sb = GaussianStats.from_features(torch.from_numpy(a)), GaussianStats.from_features(torch.from_numpy(b))
    assert frechet_distance(sa, sb) == pytest.approx(sqrtm_fid(a, b), rel=1e-6)


def test_moments_and_factor_give_the_same_trace():
    """A full covariance (as loaded from a .npz) against low-rank samples agrees with the sample-only path."""
    a, b = _sets(40, 30, d=64, seed=1)
    sa, sb = GaussianStats.from_features(torch.from_numpy(a)), GaussianStats.from_features(torch.from_numpy(b))
    full = GaussianStats(mu=sa.mu, sigma=sa.cov())
    assert trace_sqrt_product(full, sb) == pytest.approx(trace_sqrt_product(sa, sb), rel=1e-9)
    # singular full covariances through eigh: sqrt of round-off-sized eigenvalues costs some digits (~1e-8 here)
    assert frechet_distance(full, GaussianStats(mu=sb.mu, sigma=sb.cov())) == pytest.approx(
        frechet_distance(sa, sb), rel=1e-6)
    # identical sets: distance 0 up to round-off, the trace term is tr(S)
    assert abs(frechet_distance(sa, sa)) < 1e-9 * sa.trace()
    r = sqrt_psd(sa.cov())
    np.testing.assert_allclose((r @ r).numpy(), sa.cov().numpy(), atol=1e-10)


def test_bad_statistics():
    with pytest.raises(ValueError, match=r"features: expected shape \(n >= 2, d\)"):
        GaussianStats.from_features(torch.zeros(1, 4))
    a = GaussianStats.from_features(torch.randn(5, 4))
    b = GaussianStats.from_features(torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"statistics: dimensions differ \(4 vs 3\)"):
        trace_sqrt_product(a, b)


@pytest.mark.slow
def test_real_inception_features_match_sqrtm():
    """2048-d features of the bundled Inception on 2 x 12 generated images: low-rank path vs sqrtm to 1e-6 relative
    (sqrtm of a 2048-d matrix: ~25 s on a quiet 2-core CPU, minutes on a busy one; the eigh path is checked at 64-d)."""
    from bench.data.generated.gan_shapes import draw, random_scene
    from bench.metrics.generative import InceptionFeatures

    rng = np.random.default_rng(0)
    imgs = np.stack([draw(random_scene(rng, 32, 2), 32) for _ in range(24)]).astype(np.float32) / 255.0
    feats = InceptionFeatures()(torch.from_numpy(imgs).permute(0, 3, 1, 2)).numpy()
    a, b = feats[:12], feats[12:]
    sa, sb = GaussianStats.from_features(torch.from_numpy(a)), GaussianStats.from_features(torch.from_numpy(b))
    ref = sqrtm_fid(a, b)
    assert ref > 1.0
    assert frechet_distance(sa, sb) == pytest.approx(ref, rel=1e-6)
