"""Inverse-transform sampling of depths from piecewise-constant weights (NeRF's fine sampling)."""

from __future__ import annotations

import torch


def sample_pdf(
    bins: torch.Tensor, weights: torch.Tensor, n_samples: int, det: bool = False, eps: float = 1e-5
) -> torch.Tensor:
    """Draw n_samples per row from the histogram with edges bins (..., B + 1) and weights (..., B).

    Samples are uniform inside each bin (the CDF is piecewise linear); ``det`` uses evenly spaced
    quantiles instead of random ones; ``eps`` is added to the weights to avoid empty rows.
    Returns (..., n_samples). Not differentiable w.r.t. the weights, as in NeRF.
    """
    if bins.shape[:-1] != weights.shape[:-1] or bins.shape[-1] != weights.shape[-1] + 1:
        raise ValueError(f"bins must be (..., B + 1) for weights (..., B); got {tuple(bins.shape)} and "
                         f"{tuple(weights.shape)}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1; got {n_samples}")
    weights = weights.detach() + eps
    cdf = torch.cumsum(weights / weights.sum(-1, keepdim=True), dim=-1)
    cdf = torch.cat((torch.zeros_like(cdf[..., :1]), cdf), dim=-1).clamp(max=1.0)
    shape = (*cdf.shape[:-1], n_samples)
    if det:
        u = torch.linspace(0.0, 1.0, n_samples, dtype=cdf.dtype, device=cdf.device).expand(shape).contiguous()
    else:
        u = torch.rand(shape, dtype=cdf.dtype, device=cdf.device)
    above = torch.searchsorted(cdf, u, right=True).clamp(max=cdf.shape[-1] - 1)
    below = (above - 1).clamp(min=0)
    c0, c1 = cdf.gather(-1, below), cdf.gather(-1, above)
    b0, b1 = bins.gather(-1, below), bins.gather(-1, above)
    denom = torch.where(c1 - c0 < eps, torch.ones_like(c0), c1 - c0)
    return b0 + (u - c0) / denom * (b1 - b0)
