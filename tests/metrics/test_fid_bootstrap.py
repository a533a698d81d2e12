"""The bootstrap of FID(NEW) - FID(BASE) over kept per-image features: intervals, refusals, the kept file."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from bench.metrics.fid_bootstrap import KeptFeatures, bootstrap_fid_difference, load_features, save_features
from bench.metrics.fingerprint import IncomparableError
from bench.metrics.frechet import GaussianStats

D = 6
FP = {"metric": "fid", "implementation": "bench.metrics.frechet", "params": {"num_images": 150, "resize": "x"}}


def _gauss(seed: int, n: int, shift: float = 0.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(n, D)) + shift).astype(np.float32)


def _ref() -> GaussianStats:
    return GaussianStats.from_features(torch.from_numpy(_gauss(0, 400)))


def _scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """FID by the textbook formula with scipy's general matrix square root (independent of bench.metrics.frechet)."""
    ma, mb = a.mean(0), b.mean(0)
    sa, sb = np.cov(a.astype(np.float64), rowvar=False), np.cov(b.astype(np.float64), rowvar=False)
    return float(((ma - mb) ** 2).sum() + np.trace(sa + sb - 2 * scipy.linalg.sqrtm(sa @ sb).real))


def test_identical_feature_sets_give_an_interval_around_zero():
    base = KeptFeatures(_gauss(1, 150), FP)
    res = bootstrap_fid_difference(base, KeptFeatures(base.features.copy(), FP), _ref(), rounds=200, seed=3)
    assert res.delta == pytest.approx(0.0, abs=1e-9)
    assert res.low < 0 < res.high and not res.excludes_zero
    assert res.high - res.low > 1e-3  # the two runs are resampled independently: a real spread, not a point


def test_clearly_different_gaussians_give_an_interval_excluding_zero():
    ref = _ref()
    base, new = KeptFeatures(_gauss(1, 150), FP), KeptFeatures(_gauss(2, 150, shift=0.8), FP)
    res = bootstrap_fid_difference(base, new, ref, rounds=200, seed=3)
    want = _scipy_fid(new.features, _gauss(0, 400)) - _scipy_fid(base.features, _gauss(0, 400))
    assert res.delta == pytest.approx(want, rel=1e-4)
    assert want > 3.0 and res.low > 0 and res.excludes_zero  # mean shift 0.8 per dim: FID up by about 6 * 0.64
    worse_first = bootstrap_fid_difference(new, base, ref, rounds=200, seed=3)
    assert worse_first.high < 0 and worse_first.delta == pytest.approx(-res.delta)
    assert "interval [" in res.describe() and "contains 0" not in res.describe()


def test_different_protocols_are_refused_with_the_reason():
    other = {**FP, "params": {**FP["params"], "num_images": 300}}
    with pytest.raises(IncomparableError, match=r"params.num_images: 150 != 300"):
        bootstrap_fid_difference(KeptFeatures(_gauss(1, 150), FP), KeptFeatures(_gauss(2, 150), other), _ref())


def test_kept_file_round_trip_and_errors(tmp_path):
    feats, ref = torch.from_numpy(_gauss(1, 20)).double(), torch.from_numpy(_gauss(0, 30))
    path = save_features(tmp_path / "f.npz", {"fid": (feats, FP)}, ref)
    kept = load_features(path, "fid")
    assert kept.features.dtype == np.float32 and np.array_equal(kept.features, feats.float().numpy())
    assert kept.fingerprint == FP and kept.reference.shape == (30, D)
    with pytest.raises(ValueError, match=r"f\.npz: no kept features for 'kid'"):
        load_features(path, "kid")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"bad\.npz: not a readable kept-features \.npz"):
        load_features(tmp_path / "bad.npz", "fid")
    with pytest.raises(ValueError, match="rounds >= 10"):
        bootstrap_fid_difference(kept, kept, _ref(), rounds=3)
