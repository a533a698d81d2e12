"""Laplacian smoothing regulariser (PyTorch3D's ``loss.mesh_laplacian_smoothing``)."""

from __future__ import annotations

import torch

from ..ops.laplacian_matrices import cot_laplacian
from ..structures.meshes import Meshes

_METHODS = ("uniform", "cot", "cotcurv")


def mesh_laplacian_smoothing(meshes: Meshes, method: str = "uniform") -> torch.Tensor:
    """Mean over meshes of the mean over vertices of |L v|, with L uniform, cotangent or cotangent-curvature.

    As in PyTorch3D, the cotangent weights and areas are computed without gradient: only the
    vertex positions multiplied by L carry gradient.
    """
    if not isinstance(meshes, Meshes):
        raise ValueError(f"mesh_laplacian_smoothing: meshes must be a Meshes, got {type(meshes).__name__}")
    if method not in _METHODS:
        raise ValueError(f"mesh_laplacian_smoothing: method must be one of {_METHODS}, got {method!r}")
    if meshes.isempty():
        return torch.tensor([0.0], dtype=torch.float32, device=meshes.device, requires_grad=True)
    N = len(meshes)
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    num_verts = meshes.num_verts_per_mesh()
    weights = (1.0 / num_verts.to(verts.dtype)).gather(0, meshes.verts_packed_to_mesh_idx())
    with torch.no_grad():
        if method == "uniform":
            L = meshes.laplacian_packed()
        else:
            L, inv_areas = cot_laplacian(verts, faces)
            row_sum = torch.sparse.sum(L, dim=1).to_dense().view(-1, 1)
            if method == "cot":
                norm_w = torch.where(row_sum > 0, 1.0 / row_sum.clamp(min=1e-30), row_sum)
            else:
                norm_w = 0.25 * inv_areas
    if method == "uniform":
        loss = torch.sparse.mm(L, verts)
    elif method == "cot":
        loss = torch.sparse.mm(L, verts) * norm_w - verts
    else:
        loss = (torch.sparse.mm(L, verts) - row_sum * verts) * norm_w
    loss = loss.norm(dim=1) * weights
    return loss.sum() / N
