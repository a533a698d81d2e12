"""Pure tensor helpers behind ``Meshes``: edges from faces, face areas and normals, vertex normals."""

from __future__ import annotations

import torch


def edges_from_faces(faces: torch.Tensor, num_verts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique undirected edges (E, 2) with e[:, 0] < e[:, 1], and the (F, 3) face-to-edge map.

    Column k of the face-to-edge map is the edge opposite corner k (PyTorch3D's order:
    v1-v2, v2-v0, v0-v1); edges are sorted by (v0, v1), so each mesh's edges are contiguous.
    """
    F = faces.shape[0]
    if F == 0:
        empty = faces.new_zeros((0, 2))
        return empty, faces.new_zeros((0, 3))
    v0, v1, v2 = faces.unbind(1)
    e = torch.cat([torch.stack([v1, v2], 1), torch.stack([v2, v0], 1), torch.stack([v0, v1], 1)], 0)
    e, _ = e.sort(dim=1)
    key = e[:, 0] * max(num_verts, 1) + e[:, 1]
    uniq, inverse = torch.unique(key, sorted=True, return_inverse=True)
    edges = torch.stack([uniq // max(num_verts, 1), uniq % max(num_verts, 1)], 1)
    return edges, inverse.reshape(3, F).t().contiguous()


def face_cross(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(F, 3) un-normalised face normals (v1 - v0) x (v2 - v0); their norm is twice the face area."""
    fv = verts[faces]
    return torch.linalg.cross(fv[:, 1] - fv[:, 0], fv[:, 2] - fv[:, 0], dim=1)


def face_areas_normals(verts: torch.Tensor, faces: torch.Tensor,
                       eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Face areas (F,) and unit face normals (F, 3); degenerate faces get a zero normal."""
    n = face_cross(verts, faces)
    length = n.norm(dim=1, keepdim=True)
    return 0.5 * length[:, 0], n / length.clamp(min=eps)


def vert_normals(verts: torch.Tensor, faces: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(V, 3) unit vertex normals: the area-weighted sum of the normals of the faces around each vertex."""
    n = face_cross(verts, faces)
    acc = torch.zeros_like(verts)
    for k in range(3):
        acc = acc.index_add(0, faces[:, k], n)
    return acc / acc.norm(dim=1, keepdim=True).clamp(min=eps)
