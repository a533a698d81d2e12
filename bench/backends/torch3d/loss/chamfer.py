"""Chamfer distance between point batches (PyTorch3D's ``loss.chamfer_distance`` semantics)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..ops.knn import knn_gather, knn_points

_POINT_REDUCTIONS = ("mean", "sum", "max", None)
_BATCH_REDUCTIONS = ("mean", "sum", None)


def _handle_pointcloud_input(points, lengths, normals, name: str):
    """(padded points (N, P, D), lengths (N,), normals (N, P, D) or None) from a Pointclouds or a tensor."""
    if hasattr(points, "points_padded") and hasattr(points, "num_points_per_cloud"):
        if lengths is not None:
            raise ValueError(f"chamfer_distance: {name}_lengths must be None when {name} is a Pointclouds")
        if normals is not None:
            raise ValueError(f"chamfer_distance: {name}_normals must be None when {name} is a Pointclouds")
        return points.points_padded(), points.num_points_per_cloud(), points.normals_padded()
    if not torch.is_tensor(points) or points.ndim != 3:
        shape = tuple(points.shape) if torch.is_tensor(points) else type(points).__name__
        raise ValueError(f"chamfer_distance: {name} must be a Pointclouds or a (N, P, D) tensor, got {shape}")
    N, P, _ = points.shape
    if lengths is None:
        lengths = torch.full((N,), P, dtype=torch.int64, device=points.device)
    else:
        lengths = torch.as_tensor(lengths, device=points.device).to(torch.int64)
        if lengths.shape != (N,) or (N and (int(lengths.min()) < 0 or int(lengths.max()) > P)):
            raise ValueError(f"chamfer_distance: {name}_lengths must have shape ({N},) with values in [0, {P}]")
    if normals is not None and normals.shape != points.shape:
        raise ValueError(f"chamfer_distance: {name}_normals must have shape {tuple(points.shape)}, "
                         f"got {tuple(normals.shape)}")
    return points, lengths, normals


def _single_direction(x, y, x_lengths, y_lengths, x_normals, y_normals, weights, point_reduction, norm, abs_cosine):
    """Per-cloud (or per-point) nearest-neighbour distances from x to y, and the normal term."""
    N, P1, _ = x.shape
    return_normals = x_normals is not None and y_normals is not None
    x_nn = knn_points(x, y, lengths1=x_lengths, lengths2=y_lengths, norm=norm, K=1)
    # knn_points already zeroes rows past x_lengths; the mask only matters for a padded batch.
    padded = bool(N) and int(x_lengths.min()) < P1
    pad = torch.arange(P1, device=x.device)[None] >= x_lengths[:, None] if padded else None
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    cham_x = torch.where(pad, zero, x_nn.dists[..., 0]) if padded else x_nn.dists[..., 0]
    if weights is not None:
        cham_x = cham_x * weights.view(N, 1)
    cham_norm_x = None
    if return_normals:
        near = knn_gather(y_normals, x_nn.idx, y_lengths)[..., 0, :]
        cos = F.cosine_similarity(x_normals, near, dim=2, eps=1e-6)
        cham_norm_x = 1 - (cos.abs() if abs_cosine else cos)
        cham_norm_x = torch.where(pad, zero, cham_norm_x) if padded else cham_norm_x
        if weights is not None:
            cham_norm_x = cham_norm_x * weights.view(N, 1)
    if point_reduction == "max":
        cham_x = cham_x.max(1).values if P1 else cham_x.sum(1)
    elif point_reduction is not None:
        cham_x = cham_x.sum(1)
        cham_norm_x = cham_norm_x.sum(1) if return_normals else None
        if point_reduction == "mean":
            div = x_lengths.clamp(min=1).to(x.dtype)
            cham_x = cham_x / div
            cham_norm_x = cham_norm_x / div if return_normals else None
    return cham_x, cham_norm_x


def _batch_reduce(loss, loss_normals, weights, batch_reduction):
    if batch_reduction is None:
        return loss, loss_normals
    N = loss.shape[0]
    loss = loss.sum()
    loss_normals = loss_normals.sum() if loss_normals is not None else None
    if batch_reduction == "mean":
        if weights is None:
            div = max(N, 1)
        else:
            div = weights.sum() if float(weights.sum()) > 0 else 1.0
        loss = loss / div
        loss_normals = loss_normals / div if loss_normals is not None else None
    return loss, loss_normals


def chamfer_distance(x, y, x_lengths=None, y_lengths=None, x_normals=None, y_normals=None, weights=None,
                     batch_reduction: str | None = "mean", point_reduction: str | None = "mean", norm: int = 2,
                     single_directional: bool = False, abs_cosine: bool = True):
    """Chamfer distance between x (N, P1, D) and y (N, P2, D) padded tensors or Pointclouds.

    Squared L2 (norm=2) or L1 (norm=1) nearest-neighbour distances, reduced over points
    ("mean" | "sum" | "max" | None) then over the batch ("mean" | "sum" | None), the two
    directions summed. Returns (loss, loss_normals); loss_normals is None without normals.
    With point_reduction=None both are (x->y, y->x) pairs of (N, P) tensors (or one when single_directional).
    """
    if point_reduction not in _POINT_REDUCTIONS:
        raise ValueError(f"chamfer_distance: point_reduction must be one of {_POINT_REDUCTIONS}, "
                         f"got {point_reduction!r}")
    if batch_reduction not in _BATCH_REDUCTIONS:
        raise ValueError(f"chamfer_distance: batch_reduction must be one of {_BATCH_REDUCTIONS}, "
                         f"got {batch_reduction!r}")
    if point_reduction is None and batch_reduction is not None:
        raise ValueError("chamfer_distance: batch_reduction must be None if point_reduction is None")
    if norm not in (1, 2):
        raise ValueError(f"chamfer_distance: norm must be 1 or 2, got {norm!r}")
    if point_reduction == "max" and (x_normals is not None or y_normals is not None):
        raise ValueError('chamfer_distance: normals must be None if point_reduction is "max"')
    x, x_lengths, x_normals = _handle_pointcloud_input(x, x_lengths, x_normals, "x")
    y, y_lengths, y_normals = _handle_pointcloud_input(y, y_lengths, y_normals, "y")
    if x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise ValueError(f"chamfer_distance: x {tuple(x.shape)} and y {tuple(y.shape)} must share N and D")
    N = x.shape[0]
    if weights is not None:
        if weights.shape != (N,):
            raise ValueError(f"chamfer_distance: weights must have shape ({N},), got {tuple(weights.shape)}")
        if not bool((weights >= 0).all()):
            raise ValueError("chamfer_distance: weights cannot be negative")
        if float(weights.sum()) == 0.0:
            zero = (x.sum((1, 2)) * weights) * 0.0
            return (zero.sum(), zero.sum()) if batch_reduction is not None else (zero, zero)
    args = (weights, point_reduction, norm, abs_cosine)
    cham_x, cham_norm_x = _single_direction(x, y, x_lengths, y_lengths, x_normals, y_normals, *args)
    if single_directional:
        loss, loss_normals = cham_x, cham_norm_x
    else:
        cham_y, cham_norm_y = _single_direction(y, x, y_lengths, x_lengths, y_normals, x_normals, *args)
        if point_reduction is None:
            # as PyTorch3D: loss_normals is None (not a pair of Nones) without normals
            return (cham_x, cham_y), ((cham_norm_x, cham_norm_y) if cham_norm_x is not None else None)
        if point_reduction == "max":
            loss, loss_normals = torch.maximum(cham_x, cham_y), None
        else:
            loss = cham_x + cham_y
            loss_normals = cham_norm_x + cham_norm_y if cham_norm_x is not None else None
    if point_reduction is None:
        return loss, loss_normals
    return _batch_reduce(loss, loss_normals, weights, batch_reduction)
