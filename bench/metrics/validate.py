"""Input checks shared by all metrics: one place, one-line errors naming the argument."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def as_tensor(x: Any, name: str, *, dtype: torch.dtype | None = torch.float64, allow_bool: bool = False,
              device: torch.device | str | None = None) -> torch.Tensor:
    """``x`` (tensor, array or nested list) as a tensor of ``dtype``; rejects non-numeric data and NaN/inf."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"{name}: cannot convert {type(x).__name__} to an array ({exc})") from None
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise ValueError(f"{name}: expected numeric data, got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.dtype == torch.bool and not allow_bool:
        raise ValueError(f"{name}: expected a numeric tensor, got dtype torch.bool")
    if t.is_complex():
        raise ValueError(f"{name}: expected a real tensor, got dtype {t.dtype}")
    if device is not None:
        t = t.to(device)
    if dtype is not None and t.dtype != torch.bool:
        t = t.to(dtype)
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        bad = "NaN" if bool(torch.isnan(t).any()) else "inf"
        raise ValueError(f"{name}: contains {bad} values")
    return t


def check_ndim(t: torch.Tensor, name: str, ndims: int | Sequence[int], layout: str) -> None:
    """Require ``t.ndim`` in ``ndims``; ``layout`` describes the expected shape for the message."""
    allowed = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if t.ndim not in allowed:
        raise ValueError(f"{name}: expected shape {layout}, got {tuple(t.shape)}")


def check_last_dim(t: torch.Tensor, name: str, size: int, layout: str) -> None:
    if t.ndim == 0 or t.shape[-1] != size:
        raise ValueError(f"{name}: expected shape {layout}, got {tuple(t.shape)}")


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Shapes must be identical: metrics never broadcast silently."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{name_b}: shape {tuple(b.shape)} does not match {name_a} shape {tuple(a.shape)}")


def check_batch(t: torch.Tensor, name: str, n: int, ref_name: str) -> None:
    if t.shape[0] != n:
        raise ValueError(f"{name}: batch size {t.shape[0]} does not match {ref_name} batch size {n}")


def check_nonempty(t: torch.Tensor, name: str) -> None:
    if t.numel() == 0:
        raise ValueError(f"{name}: is empty (shape {tuple(t.shape)})")


def data_range_bounds(data_range: Any) -> tuple[float, float]:
    """``data_range`` as (low, high): a positive float ``r`` means [0, r]; a pair is taken as is."""
    if data_range is None:
        raise ValueError("data_range: is required (e.g. 1.0 for images in [0, 1], 255 for [0, 255])")
    if isinstance(data_range, (tuple, list)):
        if len(data_range) != 2:
            raise ValueError(f"data_range: expected a float or a (low, high) pair, got {data_range!r}")
        lo, hi = float(data_range[0]), float(data_range[1])
    else:
        lo, hi = 0.0, float(data_range)
    if not hi > lo:
        raise ValueError(f"data_range: expected high > low, got {data_range!r}")
    return lo, hi


def check_in_range(t: torch.Tensor, name: str, lo: float, hi: float, rel_tol: float = 1e-5) -> None:
    """Values must lie in [lo, hi] up to ``rel_tol`` of the span (rounding of rendered images)."""
    tol = rel_tol * (hi - lo)
    tmin, tmax = float(t.min()), float(t.max())
    if tmin < lo - tol or tmax > hi + tol:
        raise ValueError(f"{name}: values span [{tmin:.6g}, {tmax:.6g}], outside data_range [{lo:g}, {hi:g}]")
