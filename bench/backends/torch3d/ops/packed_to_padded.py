"""Packed <-> padded conversion driven by first indices (PyTorch3D's ``ops.packed_to_padded``)."""

from __future__ import annotations

import torch


def packed_to_padded(inputs: torch.Tensor, first_idxs: torch.Tensor, max_size: int) -> torch.Tensor:
    """Scatter packed rows (F, ...) into a zero-padded (N, max_size, ...) tensor; item n starts at first_idxs[n]."""
    F = inputs.shape[0]
    N = first_idxs.shape[0]
    ends = torch.cat([first_idxs[1:], first_idxs.new_tensor([F])])
    sizes = ends - first_idxs
    item = torch.repeat_interleave(torch.arange(N, device=inputs.device), sizes)
    pos = torch.arange(F, device=inputs.device) - first_idxs[item]
    keep = pos < max_size
    out = inputs.new_zeros((N, max_size, *inputs.shape[1:]))
    return out.index_put((item[keep], pos[keep]), inputs[keep])


def padded_to_packed(inputs: torch.Tensor, first_idxs: torch.Tensor, num_inputs: int) -> torch.Tensor:
    """Gather a padded (N, M, ...) tensor back into (num_inputs, ...) packed rows."""
    N = first_idxs.shape[0]
    ends = torch.cat([first_idxs[1:], first_idxs.new_tensor([num_inputs])])
    sizes = ends - first_idxs
    item = torch.repeat_interleave(torch.arange(N, device=inputs.device), sizes)
    pos = torch.arange(num_inputs, device=inputs.device) - first_idxs[item]
    return inputs[item, pos]
