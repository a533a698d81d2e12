"""Conversions between list, padded and packed batch layouts (PyTorch3D's ``structures.utils``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def list_to_padded(
    x: Sequence[torch.Tensor],
    pad_size: Sequence[int] | None = None,
    pad_value: float = 0.0,
    equisized: bool = False,
) -> torch.Tensor:
    """Stack tensors of shapes (n_i, ...) into one (N, max n_i, ...) tensor filled with ``pad_value``."""
    if equisized:
        return torch.stack(list(x), 0)
    if len(x) == 0:
        raise ValueError("list_to_padded: x must be a non-empty list of tensors")
    ndim = x[0].ndim
    if any(t.ndim != ndim for t in x):
        raise ValueError("list_to_padded: all tensors in x must have the same number of dimensions")
    if pad_size is None:
        pad_size = [max(t.shape[d] for t in x) for d in range(ndim)]
    elif len(pad_size) != ndim:
        raise ValueError(f"list_to_padded: pad_size must have {ndim} entries, got {len(pad_size)}")
    ref = x[0]
    out = ref.new_full((len(x), *pad_size), pad_value)
    for i, t in enumerate(x):
        if t.numel() > 0 or t.ndim > 0:
            out[(i, *[slice(0, s) for s in t.shape])] = t
    return out


def padded_to_list(x: torch.Tensor,
                   split_size: Sequence[int] | Sequence[Sequence[int]] | None = None) -> list[torch.Tensor]:
    """Unstack an (N, M, ...) padded tensor into N tensors of their valid sizes (views of x)."""
    if x.ndim < 2:
        raise ValueError(f"padded_to_list: x must have at least 2 dimensions, got shape {tuple(x.shape)}")
    xs = list(x.unbind(0))
    if split_size is None:
        return xs
    if len(split_size) != len(xs):
        raise ValueError("padded_to_list: split_size must have one entry per batch element")
    out = []
    for t, s in zip(xs, split_size, strict=False):
        scalar = isinstance(s, int) or (torch.is_tensor(s) and s.ndim == 0)
        sizes = [int(s)] if scalar else [int(v) for v in s]
        out.append(t[tuple(slice(0, v) for v in sizes)])
    return out


def list_to_packed(x: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate (n_i, ...) tensors; also return sizes, first index per item and item index per row."""
    if len(x) == 0:
        raise ValueError("list_to_packed: x must be a non-empty list of tensors")
    device = x[0].device
    num_items = torch.tensor([t.shape[0] for t in x], dtype=torch.int64, device=device)
    first_idx = torch.cumsum(num_items, 0) - num_items
    packed = torch.cat(list(x), 0)
    item_idx = torch.repeat_interleave(torch.arange(len(x), device=device), num_items)
    return packed, num_items, first_idx, item_idx


def packed_to_list(x: torch.Tensor, split_size: int | Sequence[int]) -> list[torch.Tensor]:
    """Split a packed (sum n_i, ...) tensor into a list of (n_i, ...) tensors."""
    return list(x.split(split_size if isinstance(split_size, int) else [int(s) for s in split_size], dim=0))


def padded_to_packed(x: torch.Tensor, split_size: Sequence[int] | None = None,
                     pad_value: float | None = None) -> torch.Tensor:
    """Flatten an (N, M, ...) padded tensor to packed rows, keeping the first split_size[i] rows of item i."""
    if split_size is not None and pad_value is not None:
        raise ValueError("padded_to_packed: give only one of split_size and pad_value")
    n, m = x.shape[:2]
    flat = x.reshape(n * m, *x.shape[2:])
    if split_size is not None:
        sizes = torch.as_tensor([int(s) for s in split_size], device=x.device)
        keep = torch.arange(m, device=x.device)[None] < sizes[:, None]
        return flat[keep.reshape(-1)]
    if pad_value is not None:
        keep = ~(x == pad_value).reshape(n * m, -1).all(dim=1)
        return flat[keep]
    return flat
