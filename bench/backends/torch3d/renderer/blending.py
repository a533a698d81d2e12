"""Blending of per-face colours into pixels (PyTorch3D's ``renderer.blending``).

``sigmoid_alpha_blend`` and ``softmax_rgb_blend`` are the soft rasteriser's aggregation
(Liu et al. 2019, "Soft Rasterizer"): each of the K faces of a pixel contributes with
probability sigmoid(-d / sigma), and colours are weighted by a softmax over inverse depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from .utils import empty_huge, one_intra_op_thread, run_on_workers, worker_pool


class BlendParams(NamedTuple):
    """sigma: edge sharpness of the coverage probability; gamma: depth softmax temperature."""

    sigma: float = 1e-4
    gamma: float = 1e-4
    background_color: torch.Tensor | Sequence[float] = (1.0, 1.0, 1.0)


def _background(blend_params: BlendParams, like: torch.Tensor) -> torch.Tensor:
    bg = blend_params.background_color
    bg = bg.to(like) if torch.is_tensor(bg) else torch.tensor(bg, dtype=like.dtype, device=like.device)
    if bg.shape[-1] != like.shape[-1]:
        raise ValueError(f"background_color: expected {like.shape[-1]} channels, got {tuple(bg.shape)}")
    return bg


def hard_rgb_blend(colors: torch.Tensor, fragments, blend_params: BlendParams) -> torch.Tensor:
    """(N, H, W, C+1) images: the nearest face's colour, or the background; alpha is the coverage mask.

    colors: (N, H, W, K, C) per-face colours.
    """
    fg = fragments.pix_to_face[..., 0] >= 0
    bg = _background(blend_params, colors[..., 0, :])
    rgb = torch.where(fg[..., None], colors[..., 0, :], bg.expand_as(colors[..., 0, :]))
    return torch.cat((rgb, fg[..., None].to(colors.dtype)), -1)


def _coverage(fragments, sigma: float) -> torch.Tensor:
    """Per-face coverage probabilities (N, H, W, K), zero for empty slots."""
    mask = fragments.pix_to_face >= 0
    return torch.sigmoid(-fragments.dists / sigma) * mask


_BLEND_CHUNK = 1 << 16  # slots per step of the silhouette blend's forward
_WORKER_SLOTS = 1 << 20  # slots per worker thread at least (the blend runs on 2+ threads above 2M slots)


def _row_split(rows: int, per_row: int, step: int) -> list[tuple[int, int]]:
    """Row ranges [lo, hi) for the worker threads: one per torch thread, at most one per _WORKER_SLOTS slots,
    cut at multiples of step rows."""
    workers = max(1, min(torch.get_num_threads(), rows * per_row // _WORKER_SLOTS))
    if workers == 1:
        return [(0, rows)]
    share = -(-rows // workers)
    share = -(-share // step) * step
    return [(lo, min(rows, lo + share)) for lo in range(0, rows, share)]


class _SilhouetteAlphaFn(torch.autograd.Function):
    """alpha (N, H, W) = 1 - prod_k (1 - p_k), p_k = sigmoid(-d_k / sigma) on filled slots, from dists (N, H, W, K).

    Saves only the empty-slot mask and the product (N, H, W): d alpha / d d_k = -prod_k(1 - p) p_k / sigma,
    the closed form of prod_{j != k}(1 - p_j) p_k (1 - p_k) / sigma, recomputing p in the backward. Empty
    slots are zeroed with ``masked_fill_`` (a float op with a bool mask would first copy the mask to float).
    """

    @staticmethod
    def forward(ctx, dists: torch.Tensor, pix_to_face: torch.Tensor, sigma: float) -> torch.Tensor:
        empty = empty_huge(pix_to_face.shape, torch.bool, pix_to_face.device)
        prod = dists.new_empty(dists.shape[:-1])
        d, e, out = dists.reshape(-1, dists.shape[-1]), empty.view(-1, dists.shape[-1]), prod.view(-1)
        p2f = pix_to_face.reshape(-1, dists.shape[-1])
        # Row chunks (no (N, H, W, K) temporary) of a multiple of 64 rows, so that prod groups rows as over
        # the whole tensor (its vectorised reduction takes rows in blocks; a ragged chunk end took another
        # accumulation order, and the gradient moved at float32 rounding). Row ranges of whole chunks go to
        # the worker threads (bit-identical: each chunk's maths is the same on any thread).
        step = max(64, _BLEND_CHUNK // max(1, d.shape[1]) // 64 * 64)

        def rows(lo: int, hi: int) -> None:
            torch.lt(p2f[lo:hi], 0, out=e[lo:hi])
            for r in range(lo, hi, step):
                one_minus_p = torch.div(d[r:r + step], -sigma).sigmoid_().masked_fill_(e[r:r + step], 0.0)
                torch.prod(one_minus_p.neg_().add_(1.0), dim=-1, out=out[r:r + step])

        _on_workers(rows, _row_split(d.shape[0], d.shape[1], step))
        ctx.save_for_backward(dists, empty, prod)
        ctx.sigma = sigma
        return 1.0 - prod

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_alpha: torch.Tensor):
        dists, empty, prod = ctx.saved_tensors
        grad = empty_huge(dists.shape, dists.dtype, dists.device)
        g, d, e = grad.view(-1, dists.shape[-1]), dists.reshape(-1, dists.shape[-1]), empty.view(-1, dists.shape[-1])
        ga, pr = grad_alpha.reshape(-1), prod.view(-1)

        def rows(lo: int, hi: int) -> None:
            scale = (ga[lo:hi] * pr[lo:hi]).div_(-ctx.sigma)
            torch.div(d[lo:hi], -ctx.sigma, out=g[lo:hi]).sigmoid_().masked_fill_(e[lo:hi], 0.0).mul_(scale[:, None])

        _on_workers(rows, _row_split(d.shape[0], d.shape[1], 1))
        return grad, None, None


def _on_workers(fn, ranges: list[tuple[int, int]]) -> None:
    """fn(lo, hi) for each row range, one range per worker thread (the first on this thread), one intra-op
    thread each."""
    with one_intra_op_thread(), worker_pool(len(ranges)) as pool:
        run_on_workers([lambda r=r: fn(*r) for r in ranges], pool, len(ranges))


def sigmoid_alpha_blend(colors: torch.Tensor, fragments, blend_params: BlendParams) -> torch.Tensor:
    """(N, H, W, 4): RGB of the nearest face and a soft silhouette alpha = 1 - prod_k (1 - p_k)."""
    alpha = _SilhouetteAlphaFn.apply(fragments.dists, fragments.pix_to_face, float(blend_params.sigma))
    with one_intra_op_thread():
        return torch.cat((colors[..., 0, :3], alpha[..., None]), -1)


def softmax_rgb_blend(colors: torch.Tensor, fragments, blend_params: BlendParams, znear=1.0,
                      zfar=100.0) -> torch.Tensor:
    """(N, H, W, C+1): colours weighted by coverage x softmax(inverse normalised depth / gamma), plus background.

    znear, zfar: floats or (N,) tensors normalising the depth.
    """
    eps = 1e-10
    mask = fragments.pix_to_face >= 0
    prob = _coverage(fragments, blend_params.sigma)
    alpha = 1.0 - torch.prod(1.0 - prob, dim=-1)
    if torch.is_tensor(zfar):
        zfar = zfar.view(-1, 1, 1, 1)
    if torch.is_tensor(znear):
        znear = znear.view(-1, 1, 1, 1)
    # Nearer faces get larger z_inv; subtracting the max keeps the exponentials bounded.
    z_inv = (zfar - fragments.zbuf) / (zfar - znear) * mask
    z_max = z_inv.max(dim=-1, keepdim=True).values.clamp(min=eps)
    weights = prob * torch.exp((z_inv - z_max) / blend_params.gamma)
    delta = torch.exp((eps - z_max) / blend_params.gamma).clamp(min=eps)  # background weight
    denom = weights.sum(dim=-1, keepdim=True) + delta
    bg = _background(blend_params, colors[..., 0, :])
    rgb = ((weights[..., None] * colors).sum(dim=-2) + delta * bg) / denom
    return torch.cat((rgb, alpha[..., None]), -1)
