"""FID / KID: Fréchet distance against SciPy sqrtm, KID against a numpy MMD, the bundled Inception."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import scipy.linalg
import torch
from _tester import assert_bad_input

from bench.metrics.fingerprint import IncomparableError, check_comparable
from bench.metrics.generative import FID, KID, InceptionFeatures, default_inception_path, fid


def frechet_ref(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def _features(seed=0, d=16):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(300, d)) @ rng.normal(size=(d, d)) * 0.5
    b = rng.normal(size=(250, d)) @ rng.normal(size=(d, d)) * 0.4 + 0.3
    return a, b


def test_frechet_distance_matches_scipy_and_accumulates():
    a, b = _features()
    one = FID(use_extractor=False, num_features=16)
    one.update_features(a, real=True)
    one.update_features(b, real=False)
    res = one.compute()
    assert res.value == pytest.approx(frechet_ref(a, b), rel=1e-8)
    chunked = FID(use_extractor=False, num_features=16)
    for k in range(0, 300, 70):
        chunked.update_features(a[k:k + 70], real=True)
    for k in range(0, 250, 110):
        chunked.update_features(b[k:k + 110], real=False)
    assert chunked.compute().value == pytest.approx(res.value, rel=1e-10)
    assert res.items is None and res.extra == {"n_real": 300, "n_fake": 250}
    chunked.reset()
    chunked.update_features(a, real=True)
    chunked.update_features(a, real=False)
    same = chunked.compute().value
    assert abs(same) < 1e-8 * np.trace(np.cov(a, rowvar=False))


def kid_ref(a, b, degree=3, coef=1.0):
    gamma = 1.0 / a.shape[1]

    def k(x, y):
        return (x @ y.T * gamma + coef) ** degree

    m = len(a)
    kxx, kyy, kxy = k(a, a), k(b, b), k(a, b)
    return ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()


def test_kid_matches_numpy_mmd():
    a, b = _features(1)
    a, b = a[:120], b[:120]
    m = KID(use_extractor=False, num_features=16, subsets=1, subset_size=120)
    m.update_features(a, real=True)
    m.update_features(b, real=False)
    res = m.compute()
    assert res.value == pytest.approx(kid_ref(a, b), rel=1e-6)
    sub = KID(use_extractor=False, num_features=16, subsets=20, subset_size=50, seed=5)
    sub.update_features(a, real=True)
    sub.update_features(b, real=False)
    r1 = sub.compute()
    assert r1.value == sub.compute().value  # seeded subsets are reproducible
    assert r1.extra["std"] > 0 and r1.fingerprint["params"]["seed"] == 5


@pytest.mark.slow
def test_bundled_inception_features_and_fingerprint():
    rng = np.random.default_rng(2)
    imgs = rng.uniform(size=(2, 3, 32, 32)).astype(np.float32)
    ext = InceptionFeatures()
    feats = ext(torch.from_numpy(imgs))
    assert feats.shape == (2, 2048) and bool(torch.isfinite(feats).all())
    assert not torch.allclose(feats[0], feats[1])
    # data_range convention: the same picture in [0, 255] gives the same features
    np.testing.assert_allclose(InceptionFeatures(data_range=255.0)(torch.from_numpy(imgs * 255)), feats, atol=1e-5)
    fp = FID().fingerprint()  # a 2048-d FID compute (eigvals) takes ~20 s here: the 16-d test covers the maths
    params = fp["params"]
    assert params["weights_sha256"] == hashlib.sha256(default_inception_path().read_bytes()).hexdigest()
    assert params["resize"] == "nv_bilinear_float" and params["size"] == [299, 299]
    assert params["input_range"] == [-1.0, 0.9921875]


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


def test_custom_extractor_pipeline_and_fingerprint(tmp_path):
    torch.manual_seed(0)
    net = torch.jit.script(_Tiny().eval())
    path = tmp_path / "tiny.pt"
    net.save(str(path))
    imgs = torch.rand(4, 3, 16, 16) * 2 - 1  # images in [-1, 1]
    ext = InceptionFeatures(path, data_range=(-1.0, 1.0), input_range=(0.0, 1.0), size=(16, 16), quantize=False)
    with torch.no_grad():
        expected = net((imgs + 1) / 2).double()  # [-1, 1] -> [0, 1] by hand
    np.testing.assert_allclose(ext(imgs), expected, rtol=1e-5, atol=1e-6)
    res = fid(imgs[:2], imgs[2:], data_range=(-1.0, 1.0), extractor=path, input_range=(0.0, 1.0), size=(16, 16),
              quantize=False)
    assert res.fingerprint["params"]["feature_extractor"] == "custom TorchScript (tiny.pt)"
    m = FID(use_extractor=False, num_features=8)
    m.update_features(ext(imgs[:2]), True)
    m.update_features(ext(imgs[2:]), False)
    assert m.compute().value == pytest.approx(res.value, rel=1e-9)
    default = FID(use_extractor=False, num_features=2048).fingerprint()
    with pytest.raises(IncomparableError, match="feature_extractor"):
        check_comparable(res, default)


def test_generative_bad_inputs(tmp_path):
    m = FID(use_extractor=False, num_features=4)
    assert_bad_input(m.update_features, np.zeros((3, 5)), True, match=r"features: expected shape \(N, 4\)")
    assert_bad_input(m.update, np.zeros((3, 3, 8, 8)), True, match="images: this metric was built on precomputed")
    m.update_features(np.zeros((1, 4)), True)
    assert_bad_input(m.compute, match="real images: FID needs at least 2")
    k = KID(use_extractor=False, num_features=4, subsets=2, subset_size=10)
    k.update_features(np.ones((5, 4)), True)
    k.update_features(np.ones((12, 4)), False)
    assert_bad_input(k.compute, match="subset_size: 10 exceeds the 5 real images")
    assert_bad_input(FID, extractor=tmp_path / "missing.pt", match="path: feature extractor file")
    assert_bad_input(FID, use_extractor=False, match="num_features: required")


def test_images_outside_range_rejected(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    torch.jit.script(_Tiny().eval()).save(str(path))
    m = FID(extractor=path, size=(16, 16))
    assert_bad_input(m.update, torch.full((2, 3, 16, 16), 2.0), True, match="images: values span .* outside data_range")
    assert_bad_input(m.update, torch.zeros(2, 1, 16, 16), True, match=r"images: expected shape \(N, 3, H, W\)")
