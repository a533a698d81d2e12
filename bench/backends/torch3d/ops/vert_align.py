"""Sample image feature maps at vertex positions (PyTorch3D's ``ops.vert_align``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def vert_align(feats: torch.Tensor | Sequence[torch.Tensor], verts, return_packed: bool = False,
               interp_mode: str = "bilinear", padding_mode: str = "zeros", align_corners: bool = True) -> torch.Tensor:
    """Features (N, V, sum C) of feats (N, C, H, W) (or a list) at the (x, y) of verts (N, V, 3) / Meshes / Pointclouds.

    x and y are in grid_sample's [-1, 1] convention (x along W, y along H). With return_packed
    and a Meshes or Pointclouds, the result is packed (sum V_i, sum C).
    """
    if torch.is_tensor(verts):
        if verts.ndim != 3:
            raise ValueError(f"vert_align: verts must be (N, V, 3), got {tuple(verts.shape)}")
        grid = verts
    elif hasattr(verts, "verts_padded"):
        grid = verts.verts_padded()
    elif hasattr(verts, "points_padded"):
        grid = verts.points_padded()
    else:
        raise ValueError("vert_align: verts must be a tensor, a Meshes or a Pointclouds")
    grid = grid[:, None, :, :2]
    maps = [feats] if torch.is_tensor(feats) else list(feats)
    out = []
    for fm in maps:
        if not torch.is_tensor(fm) or fm.ndim != 4:
            raise ValueError("vert_align: feats must have shape (N, C, H, W)")
        if fm.shape[0] != grid.shape[0]:
            raise ValueError(f"vert_align: feats batch {fm.shape[0]} differs from verts batch {grid.shape[0]}")
        sampled = F.grid_sample(fm, grid.to(fm.dtype), mode=interp_mode, padding_mode=padding_mode,
                                align_corners=align_corners)  # (N, C, 1, V)
        out.append(sampled[:, :, 0].transpose(1, 2))
    feats_sampled = torch.cat(out, 2)
    if return_packed:
        if hasattr(verts, "verts_padded_to_packed_idx"):
            idx = verts.verts_padded_to_packed_idx()
        elif hasattr(verts, "padded_to_packed_idx"):
            idx = verts.padded_to_packed_idx()
        else:
            idx = torch.arange(grid.shape[0] * grid.shape[2], device=grid.device)
        feats_sampled = feats_sampled.reshape(-1, feats_sampled.shape[2])[idx]
    return feats_sampled
