"""Face areas and unit normals of a packed triangle mesh (PyTorch3D's ``ops.mesh_face_areas_normals``)."""

from __future__ import annotations

import torch

from ..structures._mesh_geometry import face_areas_normals


def mesh_face_areas_normals(verts: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Areas (F,) and unit normals (F, 3) of faces (F, 3) over verts (V, 3); differentiable in verts."""
    if verts.ndim != 2 or verts.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"mesh_face_areas_normals: verts must be (V, 3) and faces (F, 3), "
                         f"got {tuple(verts.shape)} and {tuple(faces.shape)}")
    return face_areas_normals(verts, faces.to(torch.int64))
