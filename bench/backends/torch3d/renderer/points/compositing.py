"""Compositing of rasterized point features: alpha (front to back), normalised and plain weighted sums.

Layouts as PyTorch3D: pointsidx (N, K, H, W) long (-1 empty), alphas (N, K, H, W),
features (C, P) packed; output (N, C, H, W). Gathering uses ``embedding_bag``, a pixel's K slots
one bag, so no (N, K, H, W, C) tensor is built and gradients reach weights and features.
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
    """sum_k weights[n,k,y,x] * features[:, idx[n,k,y,x]] over the non-empty slots -> (N, C, H, W).

    ``weights`` must be 0 in the empty slots. Each pixel is one bag of its K slots; an empty
    slot reads point 0 with weight 0 and so adds exactly nothing, as long as point 0's features
    are finite (0 * inf is NaN): otherwise only the filled slots are gathered, with offsets.
    """
    n, k, h, w = pointsidx.shape
    idx = pointsidx.permute(0, 2, 3, 1).reshape(-1, k)  # a view when pointsidx came from (N, H, W, K)
    wts = weights.permute(0, 2, 3, 1).reshape(-1, k).to(features.dtype)
    table = features.t()  # (P, C): contiguous for the renderer's packed features
    if features.shape[1] == 0 or bool(torch.isfinite(features[:, 0]).all()):
        safe = idx.to(torch.int32 if table.shape[0] < 2**31 else torch.long).clamp_(min=0)
        out = F.embedding_bag(safe, table, mode="sum", per_sample_weights=wts)
    else:
        filled = torch.nonzero(idx.reshape(-1) >= 0, as_tuple=True)[0]  # pixel-major: bags are contiguous
        counts = torch.bincount(filled // k, minlength=n * h * w)
        offsets = torch.cumsum(counts, 0) - counts
        out = F.embedding_bag(idx.reshape(-1)[filled], table, offsets, mode="sum",
                              per_sample_weights=wts.reshape(-1)[filled])
    return out.view(n, h, w, -1).permute(0, 3, 1, 2)


def _alpha_weights(pointsidx: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """a_k prod_{j<k} (1 - a_j), with a = 0 in the empty slots (N, K, H, W)."""
    a = torch.where(pointsidx >= 0, alphas, torch.zeros_like(alphas))
    trans = torch.cumprod(1.0 - a, dim=1)
    return torch.cat((a[:, :1], a[:, 1:] * trans[:, :-1]), dim=1)


def alpha_composite(pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor) -> torch.Tensor:
    """Front-to-back over-compositing: sum_k a_k prod_{j<k}(1 - a_j) f_k, skipping empty slots."""
    _check(pointsidx, alphas, pt_clds)
    return _weighted_gather(pointsidx, _alpha_weights(pointsidx, alphas), pt_clds)


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
