"""Isosurfaces of scalar volumes via scikit-image, in PyTorch3D's ``ops.marching_cubes`` convention."""

from __future__ import annotations

import numpy as np
import torch
from skimage import measure


@torch.no_grad()
def marching_cubes(vol_batch: torch.Tensor, isolevel: float | None = None,
                   return_local_coords: bool = True) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per volume of vol_batch (N, D, H, W): verts (V_i, 3) as (x, y, z) with x along W, and faces (F_i, 3).

    isolevel defaults to (max + min) / 2 of each volume. Local coordinates map voxel centres
    0..W-1 to [-1, 1] (likewise y, z); otherwise voxel index units. Faces are wound so that
    normals point from higher to lower values. A volume with no crossing gives empty (0, 3) tensors.
    """
    if not torch.is_tensor(vol_batch) or vol_batch.ndim != 4:
        raise ValueError("marching_cubes: vol_batch must be an (N, D, H, W) tensor")
    N, D, H, W = vol_batch.shape
    if min(D, H, W) < 2:
        raise ValueError(f"marching_cubes: each volume needs at least 2 samples per axis, got {(D, H, W)}")
    device = vol_batch.device
    verts_list, faces_list = [], []
    for vol in vol_batch:
        arr = vol.detach().cpu().double().numpy()
        if not np.isfinite(arr).all():
            raise ValueError("marching_cubes: the volume contains NaN or inf")
        level = (arr.max() + arr.min()) / 2 if isolevel is None else float(isolevel)
        if not arr.min() < level < arr.max():
            verts_list.append(torch.zeros((0, 3), device=device))
            faces_list.append(torch.zeros((0, 3), dtype=torch.int64, device=device))
            continue
        v, f, _, _ = measure.marching_cubes(arr, level=level)  # v in (d, h, w) order
        v = v[:, ::-1].copy()  # to (x, y, z); with this mirror skimage's winding faces the lower values
        verts = torch.from_numpy(v).float()
        if return_local_coords:
            verts = verts * (2.0 / torch.tensor([W - 1, H - 1, D - 1], dtype=torch.float32)) - 1.0
        verts_list.append(verts.to(device))
        faces_list.append(torch.from_numpy(f.astype(np.int64)).to(device))
    return verts_list, faces_list
