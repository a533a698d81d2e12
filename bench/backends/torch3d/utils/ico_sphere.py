"""Unit icosphere: a regular icosahedron subdivided ``level`` times and projected onto the sphere."""

from __future__ import annotations

import math

import torch

from ..ops.subdivide_meshes import SubdivideMeshes
from ..structures.meshes import Meshes

# The 20 faces of the icosahedron over the 12 vertices built below (counter-clockwise seen from outside).
_ICO_FACES = [
    [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6],
    [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10],
    [8, 6, 7], [9, 8, 1],
]


def _icosahedron(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    t = (1.0 + math.sqrt(5.0)) / 2.0  # golden ratio: the vertices are cyclic permutations of (0, +-1, +-t)
    v = [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
         [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]]
    # PyTorch3D's level 0 (pytorch3d/utils/ico_sphere.py, ``_ico_verts0``) is this unit icosahedron with
    # its coordinates rounded to 4 decimals (0.5257, 0.8507): |v| = 1 + 2.5e-5, not exactly 1. We round
    # the same way so that every level matches PyTorch3D's vertices bit for bit (levels >= 1 are
    # renormalised, but their midpoints inherit the rounding: 4.5e-5 from the exact subdivision).
    norm = math.sqrt(1.0 + t * t)
    verts = torch.tensor([[round(x / norm, 4) for x in row] for row in v], dtype=torch.float32, device=device)
    return verts, torch.tensor(_ICO_FACES, dtype=torch.int64, device=device)


def ico_sphere(level: int = 0, device: str | torch.device | None = None) -> Meshes:
    """A one-mesh batch: unit sphere with 10 * 4**level + 2 vertices and 20 * 4**level faces."""
    if not isinstance(level, int) or level < 0:
        raise ValueError(f"ico_sphere: level must be a non-negative int, got {level!r}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    verts, faces = _icosahedron(device)
    mesh = Meshes([verts], [faces])
    for _ in range(level):
        mesh = SubdivideMeshes()(mesh)
        v = mesh.verts_list()[0]
        mesh = Meshes([v / v.norm(dim=1, keepdim=True)], mesh.faces_list())
    return mesh
