"""Edge-length regulariser (PyTorch3D's ``loss.mesh_edge_loss``)."""

from __future__ import annotations

import torch

from ..structures.meshes import Meshes


def mesh_edge_loss(meshes: Meshes, target_length: float = 0.0) -> torch.Tensor:
    """Mean over meshes of the mean over each mesh's edges of (|e| - target_length)^2."""
    if not isinstance(meshes, Meshes):
        raise ValueError(f"mesh_edge_loss: meshes must be a Meshes, got {type(meshes).__name__}")
    if meshes.isempty():
        return torch.tensor([0.0], dtype=torch.float32, device=meshes.device, requires_grad=True)
    N = len(meshes)
    verts = meshes.verts_packed()
    edges = meshes.edges_packed()
    edge_to_mesh = meshes.edges_packed_to_mesh_idx()
    num_edges = meshes.num_edges_per_mesh().gather(0, edge_to_mesh)
    weights = 1.0 / num_edges.to(verts.dtype)
    length = (verts[edges[:, 0]] - verts[edges[:, 1]]).norm(dim=1, p=2)
    loss = (length - target_length) ** 2
    return (loss * weights).sum() / N
