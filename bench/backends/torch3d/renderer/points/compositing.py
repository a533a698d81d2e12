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


class _BagSum(torch.autograd.Function):
    """out[b] = sum_k wts[b, k] * table[ids[b, k]] -> (B, C) (``embedding_bag``); ids (B, K) valid rows.

    The backward takes one slot layer k at a time (two (B, C) temporaries), where embedding_bag's own sorts every
    id and keeps several (B, K) copies of them: the points renderer's backward peak."""

    @staticmethod
    def forward(ctx, ids: torch.Tensor, wts: torch.Tensor, table: torch.Tensor):  # noqa: ANN205
        ctx.save_for_backward(ids, wts, table)
        return F.embedding_bag(ids, table, mode="sum", per_sample_weights=wts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN205
        ids, wts, table = ctx.saved_tensors
        grad_w = torch.empty_like(wts) if ctx.needs_input_grad[1] else None
        grad_t = torch.zeros_like(table) if ctx.needs_input_grad[2] else None
        for k in range(ids.shape[1]):
            layer = ids[:, k].contiguous()
            if grad_w is not None:
                grad_w[:, k] = (table.index_select(0, layer) * grad).sum(1)
            if grad_t is not None:
                grad_t.index_add_(0, layer, grad * wts[:, k, None])
        return None, grad_w, grad_t


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
        safe = idx.to(torch.int32 if table.shape[0] < 2**31 else torch.long, copy=True).clamp_(min=0)  # not idx
        out = _BagSum.apply(safe, wts, table)
    else:
        filled = torch.nonzero(idx.reshape(-1) >= 0, as_tuple=True)[0]  # pixel-major: bags are contiguous
        counts = torch.bincount(filled // k, minlength=n * h * w)
        offsets = torch.cumsum(counts, 0) - counts
        out = F.embedding_bag(idx.reshape(-1)[filled], table, offsets, mode="sum",
                              per_sample_weights=wts.reshape(-1)[filled])
    return out.view(n, h, w, -1).permute(0, 3, 1, 2)


class _AlphaWeights(torch.autograd.Function):
    """w_k = a_k prod_{j<k} (1 - a_j) along dim 1 of a (N, K, H, W). Saves a alone (autograd's graph of cumprod
    and products would hold three more copies); the backward runs PyTorch3D's recurrence back to front:
    dL/da_k = T_k (g_k - S_k), S_k = sum_{m>k} g_m a_m prod_{k<j<m} (1 - a_j), with no division by 1 - a_k."""

    @staticmethod
    def forward(ctx, a: torch.Tensor):  # noqa: ANN205
        trans = torch.cumprod(1.0 - a, dim=1)
        ctx.save_for_backward(a)
        return torch.cat((a[:, :1], a[:, 1:] * trans[:, :-1]), dim=1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN205
        (a,) = ctx.saved_tensors
        trans = torch.cumprod(1.0 - a, dim=1)  # T_k = trans[:, k - 1], T_0 = 1
        out = torch.empty_like(a)
        s = torch.zeros_like(a[:, 0])
        for k in reversed(range(a.shape[1])):
            g = grad[:, k]
            out[:, k] = g - s if k == 0 else trans[:, k - 1] * (g - s)
            s = g * a[:, k] + (1.0 - a[:, k]) * s
        return out


def _alpha_weights(pointsidx: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """a_k prod_{j<k} (1 - a_j), with a = 0 in the empty slots (N, K, H, W)."""
    return _AlphaWeights.apply(torch.where(pointsidx >= 0, alphas, torch.zeros_like(alphas)))


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
