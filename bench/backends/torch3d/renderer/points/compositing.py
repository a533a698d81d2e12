"""Compositing of rasterized point features: alpha (front to back), normalised and plain weighted sums.

Layouts as PyTorch3D: pointsidx (N, K, H, W) long (-1 empty), alphas (N, K, H, W),
features (C, P) packed; output (N, C, H, W). Gathering uses ``embedding_bag`` over the filled
slots only, so no (N, K, H, W, C) tensor is built and gradients reach weights and features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_NORM_EPS = 1e-4  # floor of the weight sum in norm_weighted_sum, as PyTorch3D


def _check(pointsidx: torch.Tensor, alphas: torch.Tensor, features: torch.Tensor) -> None:
    if pointsidx.ndim != 4 or alphas.shape != pointsidx.shape:
        raise ValueError(f"pointsidx and alphas must both be (N, K, H, W); got {tuple(pointsidx.shape)} and "
                         f"{tuple(alphas.shape)}")
    if features.ndim != 2:
        raise ValueError(f"features must be (C, P) packed point features; got {tuple(features.shape)}")


def _weighted_gather(pointsidx: torch.Tensor, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """sum_k weights[n,k,y,x] * features[:, idx[n,k,y,x]] over the non-empty slots -> (N, C, H, W)."""
    n, k, h, w = pointsidx.shape
    idx = pointsidx.permute(0, 2, 3, 1).reshape(-1)
    filled = torch.nonzero(idx >= 0, as_tuple=True)[0]  # in pixel-major order, so bags are contiguous
    counts = torch.bincount(filled // k, minlength=n * h * w)
    offsets = torch.cumsum(counts, 0) - counts
    wts = weights.permute(0, 2, 3, 1).reshape(-1)[filled].to(features.dtype)
    out = F.embedding_bag(idx[filled].long(), features.t(), offsets, mode="sum", per_sample_weights=wts)
    return out.view(n, h, w, -1).permute(0, 3, 1, 2)


def alpha_composite(pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor) -> torch.Tensor:
    """Front-to-back over-compositing: sum_k a_k prod_{j<k}(1 - a_j) f_k, skipping empty slots."""
    _check(pointsidx, alphas, pt_clds)
    a = torch.where(pointsidx >= 0, alphas, torch.zeros_like(alphas))
    trans = torch.cumprod(1.0 - a, dim=1)
    trans = torch.cat((torch.ones_like(trans[:, :1]), trans[:, :-1]), dim=1)
    return _weighted_gather(pointsidx, a * trans, pt_clds)


def norm_weighted_sum(pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor) -> torch.Tensor:
    """sum_k a_k f_k / max(sum_k a_k, 1e-4) over the non-empty slots."""
    _check(pointsidx, alphas, pt_clds)
    a = torch.where(pointsidx >= 0, alphas, torch.zeros_like(alphas))
    total = a.sum(dim=1, keepdim=True).clamp(min=_NORM_EPS)
    return _weighted_gather(pointsidx, a / total, pt_clds)


def weighted_sum(pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor) -> torch.Tensor:
    """sum_k a_k f_k over the non-empty slots."""
    _check(pointsidx, alphas, pt_clds)
    a = torch.where(pointsidx >= 0, alphas, torch.zeros_like(alphas))
    return _weighted_gather(pointsidx, a, pt_clds)
