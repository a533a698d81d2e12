"""PSNR against numpy, SSIM against scikit-image, through the shared tester."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _tester import MetricTester, assert_bad_input, assert_ideal
from skimage.metrics import structural_similarity

from bench.metrics.image import PSNR, SSIM, psnr, ssim


def _pair(n=5, c=3, h=24, w=20, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    target = rng.uniform(0, 1, (n, c, h, w)) * scale
    noise = rng.normal(0, 0.05, (n, c, h, w)) * np.linspace(0.2, 2, n)[:, None, None, None] * scale
    return np.clip(target + noise, 0, scale), target


def psnr_ref(preds, target, *, data_range, mask=None, **_):
    lo, hi = (0.0, data_range) if np.isscalar(data_range) else data_range
    out = []
    for i in range(len(preds)):
        sq = (np.asarray(preds[i], np.float64) - target[i]) ** 2
        if mask is not None:
            m = np.broadcast_to(np.asarray(mask[i], np.float64)[None], sq.shape)
            mse = (sq * m).sum() / m.sum()
        else:
            mse = sq.mean()
        out.append(10 * np.log10((hi - lo) ** 2 / mse))
    return out


def ssim_ref(preds, target, *, data_range, **_):
    return [structural_similarity(p, t, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                  data_range=data_range, channel_axis=0) for p, t in zip(preds, target, strict=True)]


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_psnr_matches_numpy(scale):
    p, t = _pair(scale=scale)
    res = MetricTester(psnr, psnr_ref, (p, t), {"data_range": scale}, accumulator=PSNR, rtol=1e-10).run()
    assert res.unit == "dB" and res.fingerprint["params"]["data_range"] == [0.0, scale]


def test_psnr_masked_matches_numpy():
    p, t = _pair()
    mask = np.random.default_rng(1).uniform(size=(5, 24, 20)) > 0.4
    MetricTester(psnr, psnr_ref, (p, t), {"data_range": 1.0, "mask": mask}, rtol=1e-10).run()
    # the masked value ignores pixels outside the mask entirely
    p2 = p.copy()
    p2[:, :, ~mask[0]] = 0.0
    a = psnr(p[:1], t[:1], data_range=1.0, mask=mask[:1]).value
    b = psnr(p2[:1], t[:1], data_range=1.0, mask=mask[:1]).value
    assert a == pytest.approx(b, rel=1e-12)


def test_psnr_nhwc_equals_nchw():
    p, t = _pair()
    a = psnr(p, t, data_range=1.0)
    b = psnr(p.transpose(0, 2, 3, 1), t.transpose(0, 2, 3, 1), data_range=1.0, layout="NHWC")
    np.testing.assert_allclose(a.items, b.items, rtol=1e-12)


def test_psnr_identical_is_inf_explicitly():
    _, t = _pair()
    res = psnr(t, t, data_range=1.0)
    assert_ideal(res, math.inf)
    assert res.extra["n_infinite"] == len(t)
    capped = psnr(t, t, data_range=1.0, max_db=100.0)
    assert_ideal(capped, 100.0)
    assert capped.fingerprint["params"]["max_db"] == 100.0 != res.fingerprint["params"]["max_db"]


def test_ssim_matches_skimage():
    p, t = _pair(n=4, h=32, w=27)
    MetricTester(ssim, ssim_ref, (p, t), {"data_range": 1.0}, accumulator=SSIM, rtol=0, atol=1e-7).run()


def test_ssim_identical_is_one_and_low_for_noise():
    p, t = _pair(n=3, h=16, w=16)
    assert_ideal(ssim(t, t, data_range=1.0), 1.0, tol=1e-6)
    noise = np.random.default_rng(3).uniform(size=t.shape)
    assert ssim(noise, t, data_range=1.0).value < 0.2


def test_image_bad_inputs():
    p, t = _pair(n=2, h=16, w=16)
    assert_bad_input(psnr, p, t[:, :2], data_range=1.0, match="target: shape")
    assert_bad_input(psnr, p[0], t[0], data_range=1.0, match=r"preds: expected shape \(N, C, H, W\)")
    assert_bad_input(psnr, p * 255, t, data_range=1.0, match="preds: values span .* outside data_range")
    assert_bad_input(psnr, p, t, data_range=None, match="data_range: is required")
    bad = p.copy()
    bad[0, 0, 0, 0] = np.nan
    assert_bad_input(psnr, bad, t, data_range=1.0, match="preds: contains NaN")
    assert_bad_input(psnr, p, t.astype(str), data_range=1.0, match="target: expected numeric data")
    assert_bad_input(psnr, p, t, data_range=1.0, mask=np.zeros((2, 16, 16)), match="mask: image.* empty mask")
    assert_bad_input(psnr, p, t, data_range=1.0, mask=np.ones((2, 3, 16, 16)), match="mask: expected shape")
    assert_bad_input(ssim, p[..., :8, :8], t[..., :8, :8], data_range=1.0, match="at least 11x11")
    assert_bad_input(psnr, torch.zeros(0, 3, 4, 4), torch.zeros(0, 3, 4, 4), data_range=1.0, match="preds: is empty")


def synsin_ssim(img1, img2):
    """SynSin's SSIM (its models/losses/ssim.py, from pytorch-ssim) re-stated in float32: Gaussian 11 / 1.5 per
    channel over a zero-padded image, C1 = 0.01^2, C2 = 0.03^2, the map's mean per image."""
    import torch.nn.functional as F

    g = torch.tensor([math.exp(-((x - 5) ** 2) / float(2 * 1.5 ** 2)) for x in range(11)])
    g = (g / g.sum()).unsqueeze(1)
    c = img1.size(1)
    w = g.mm(g.t()).float().unsqueeze(0).unsqueeze(0).expand(c, 1, 11, 11).contiguous()
    mu1, mu2 = F.conv2d(img1, w, padding=5, groups=c), F.conv2d(img2, w, padding=5, groups=c)
    s1 = F.conv2d(img1 * img1, w, padding=5, groups=c) - mu1.pow(2)
    s2 = F.conv2d(img2 * img2, w, padding=5, groups=c) - mu2.pow(2)
    s12 = F.conv2d(img1 * img2, w, padding=5, groups=c) - mu1 * mu2
    m = ((2 * mu1 * mu2 + 0.01 ** 2) * (2 * s12 + 0.03 ** 2)) / ((mu1.pow(2) + mu2.pow(2) + 0.01 ** 2)
                                                               * (s1 + s2 + 0.03 ** 2))
    return m.mean(1).mean(1).mean(1)


def test_ssim_zero_pad_is_synsins_convention():
    p, t = _pair(n=3, h=24, w=20)
    res = ssim(p, t, data_range=1.0, border="zero_pad")
    ref = synsin_ssim(torch.tensor(p, dtype=torch.float32), torch.tensor(t, dtype=torch.float32))
    assert res.items == pytest.approx(ref.tolist(), abs=2e-6)
    valid = ssim(p, t, data_range=1.0)
    assert res.fingerprint != valid.fingerprint and res.items != pytest.approx(valid.items, abs=1e-3)
    assert ssim(p * 255, t * 255, data_range=255.0, border="zero_pad").items == pytest.approx(res.items, abs=1e-9)
    assert_ideal(ssim(t, t, data_range=1.0, border="zero_pad"), 1.0, tol=1e-6)
    with pytest.raises(ValueError, match="border: expected 'valid' or 'zero_pad'"):
        ssim(p, t, data_range=1.0, border="reflect")
