"""Image metrics: PSNR (per image, then mean; masked variant) and SSIM (Gaussian 11 / 1.5).

Conventions follow the NeRF-family tables: PSNR = 10 log10(range^2 / MSE) per test image, then
averaged; SSIM with a Gaussian window of sigma 1.5 (11 taps), k1 = 0.01, k2 = 0.03, explicit data_range.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from bench.metrics import validate as V
from bench.metrics.accumulate import ItemMetric, from_items
from bench.metrics.fingerprint import MetricResult, library_version, make_fingerprint

LAYOUTS = ("NCHW", "NHWC")


def check_images(preds: Any, target: Any, data_range: Any, layout: str
                 ) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """Validated (N, C, H, W) float64 pair and the data range bounds."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")
    lo, hi = V.data_range_bounds(data_range)
    p = V.as_tensor(preds, "preds")
    t = V.as_tensor(target, "target", device=p.device)
    shape = "(N, C, H, W)" if layout == "NCHW" else "(N, H, W, C)"
    V.check_ndim(p, "preds", 4, shape)
    V.check_same_shape(p, t, "preds", "target")
    V.check_nonempty(p, "preds")
    if layout == "NHWC":
        p, t = p.permute(0, 3, 1, 2), t.permute(0, 3, 1, 2)
    V.check_in_range(p, "preds", lo, hi)
    V.check_in_range(t, "target", lo, hi)
    return p, t, lo, hi


def _mask(mask: Any, images: torch.Tensor, layout: str) -> torch.Tensor:
    """Mask as (N, 1, H, W) weights in [0, 1]; accepts (N, H, W) or a single-channel 4-D mask."""
    m = V.as_tensor(mask, "mask", allow_bool=True, device=images.device).to(torch.float64)
    given = tuple(m.shape)
    n, _, h, w = images.shape
    if m.ndim == 3:
        m = m[:, None]
    elif m.ndim == 4 and layout == "NHWC":
        m = m.permute(0, 3, 1, 2)
    if m.ndim != 4 or tuple(m.shape) != (n, 1, h, w):
        raise ValueError(f"mask: expected shape ({n}, {h}, {w}) or a single-channel 4-D mask, got {given}")
    V.check_in_range(m, "mask", 0.0, 1.0, rel_tol=0.0)
    return m


def psnr(preds: Any, target: Any, *, data_range: float | tuple[float, float], mask: Any = None,
         layout: str = "NCHW", max_db: float | None = None) -> MetricResult:
    """Peak signal-to-noise ratio in dB, per image then the mean.

    Args:
        preds, target: (N, C, H, W) images (or (N, H, W, C) with ``layout="NHWC"``) inside data_range.
        data_range: the value span: a float r for [0, r] or a (low, high) pair. Required.
        mask: optional (N, H, W) weights in [0, 1]; the MSE is taken over masked pixels and all channels.
        max_db: cap per-image PSNR (recorded in the fingerprint). Without it identical images give +inf.
    """
    p, t, lo, hi = check_images(preds, target, data_range, layout)
    sq = (p - t).square()
    if mask is None:
        mse = sq.flatten(1).mean(1)
    else:
        m = _mask(mask, p, layout)
        weight = m.flatten(1).sum(1) * p.shape[1]
        if bool((weight == 0).any()):
            raise ValueError(f"mask: image(s) {torch.nonzero(weight == 0).flatten().tolist()} have an empty mask")
        mse = (sq * m).flatten(1).sum(1) / weight
    with torch.no_grad():
        vals = 10.0 * torch.log10((hi - lo) ** 2 / mse)  # mse == 0 -> +inf, kept explicit
    if max_db is not None:
        vals = vals.clamp(max=float(max_db))
    items = [float(v) for v in vals.cpu()]
    fp = make_fingerprint("psnr", "bench3d.metrics.psnr", data_range=[lo, hi], per_image_then_mean=True,
                          masked=mask is not None, max_db=max_db)
    return from_items("PSNR", items, fp, unit="dB", higher_is_better=True,
                      extra={"n_infinite": sum(1 for v in items if math.isinf(v))})


SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5): an 11-tap window


def ssim(preds: Any, target: Any, *, data_range: float | tuple[float, float], layout: str = "NCHW",
         border: str = "valid") -> MetricResult:
    """Structural similarity per image (mean over pixels and channels), then the mean; via torchmetrics.

    Gaussian window sigma 1.5 (11 taps), k1 0.01, k2 0.03, mean over pixels whose window lies inside
    the image (5-pixel border excluded), the same convention as scikit-image's
    ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
    ``border="zero_pad"``: the pytorch-ssim convention that SynSin's evaluation uses (its
    ``models/losses/ssim.py``): the window's sums over a zero-padded image, averaged over every pixel
    (fingerprinted apart; lower than "valid" near the borders).
    Args as :func:`psnr`; images need H, W >= 11.
    """
    p, t, lo, hi = check_images(preds, target, data_range, layout)
    if min(p.shape[-2:]) < 11:
        raise ValueError(f"preds: SSIM needs images of at least 11x11 pixels, got {tuple(p.shape[-2:])}")
    if border == "zero_pad":
        return _ssim_zero_pad(p, t, lo, hi)
    if border != "valid":
        raise ValueError(f"border: expected 'valid' or 'zero_pad', got {border!r}")
    from torchmetrics.functional.image import structural_similarity_index_measure  # a slow import: only here

    _, full = structural_similarity_index_measure(p, t, gaussian_kernel=True, sigma=SSIM_SIGMA, data_range=hi - lo,
                                                  k1=SSIM_K1, k2=SSIM_K2, reduction="none", return_full_image=True)
    # torchmetrics averages over reflect-padded borders too; the field's convention (TF 'VALID',
    # scikit-image) averages only where the whole window lies inside the image.
    r = SSIM_RADIUS
    vals = full[..., r:-r, r:-r].flatten(1).mean(1)
    fp = make_fingerprint("ssim", "torchmetrics.structural_similarity_index_measure",
                          libraries={"torchmetrics": library_version("torchmetrics")}, data_range=[lo, hi],
                          window="gaussian", window_size=11, sigma=SSIM_SIGMA, k1=SSIM_K1, k2=SSIM_K2,
                          border="valid-crop-5", channels="mean", per_image_then_mean=True)
    return from_items("SSIM", [float(v) for v in vals.cpu()], fp, unit="", higher_is_better=True)


def _ssim_zero_pad(p: torch.Tensor, t: torch.Tensor, lo: float, hi: float) -> MetricResult:
    """SSIM of (N, C, H, W) float64 images as pytorch-ssim (SynSin's evaluation): images mapped to [0, 1], an
    11-tap Gaussian (sigma 1.5) per channel over a zero-padded image, the SSIM map averaged over every pixel and
    channel."""
    p, t = (p - lo) / (hi - lo), (t - lo) / (hi - lo)
    x = torch.arange(2 * SSIM_RADIUS + 1, dtype=p.dtype, device=p.device) - SSIM_RADIUS
    g = torch.exp(-x.square() / (2 * SSIM_SIGMA ** 2))
    g = g / g.sum()
    c, r = p.shape[1], SSIM_RADIUS
    wy, wx = g.view(1, 1, -1, 1).expand(c, 1, -1, 1), g.view(1, 1, 1, -1).expand(c, 1, 1, -1)

    def blur(z: torch.Tensor) -> torch.Tensor:  # the separable 11x11 Gaussian, zero padding
        conv = torch.nn.functional.conv2d
        return conv(conv(z, wy, padding=(r, 0), groups=c), wx, padding=(0, r), groups=c)

    mu1, mu2 = blur(p), blur(t)
    s11, s22, s12 = blur(p * p) - mu1.square(), blur(t * t) - mu2.square(), blur(p * t) - mu1 * mu2
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    full = (2 * mu1 * mu2 + c1) * (2 * s12 + c2) / ((mu1.square() + mu2.square() + c1) * (s11 + s22 + c2))
    fp = make_fingerprint("ssim", "bench3d.metrics.ssim", data_range=[lo, hi], window="gaussian", window_size=11,
                          sigma=SSIM_SIGMA, k1=SSIM_K1, k2=SSIM_K2, border="zero-pad-5 (pytorch-ssim)",
                          channels="mean", per_image_then_mean=True)
    return from_items("SSIM", [float(v) for v in full.flatten(1).mean(1).cpu()], fp, unit="",
                      higher_is_better=True)


class PSNR(ItemMetric):
    """Accumulating :func:`psnr`: ``PSNR(data_range=1.0)``, ``update(preds, target)``, ``compute()``."""

    fn = staticmethod(psnr)
    higher_is_better = True
    unit = "dB"


class SSIM(ItemMetric):
    """Accumulating :func:`ssim`."""

    fn = staticmethod(ssim)
    higher_is_better = True
    unit = ""
