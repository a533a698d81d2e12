"""Torus mesh around the z axis (PyTorch3D's ``utils.torus``)."""

from __future__ import annotations

import math

import torch

from ..structures.meshes import Meshes


def torus(r: float, R: float, sides: int, rings: int, device: str | torch.device | None = None) -> Meshes:
    """A one-mesh batch: tube radius r, centre-line radius R, ``sides`` segments around the tube, ``rings`` around z.

    Vertex (i, j) sits at ring angle 2 pi i / rings and tube angle 2 pi j / sides; faces face outward.
    """
    if not isinstance(sides, int) or sides <= 0:
        raise ValueError(f"torus: sides must be a positive int, got {sides!r}")
    if not isinstance(rings, int) or rings <= 0:
        raise ValueError(f"torus: rings must be a positive int, got {rings!r}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    phi = torch.arange(rings, dtype=torch.float64) * (2 * math.pi / rings)
    theta = torch.arange(sides, dtype=torch.float64) * (2 * math.pi / sides)
    ph, th = torch.meshgrid(phi, theta, indexing="ij")
    rad = R + r * th.cos()
    verts = torch.stack([rad * ph.cos(), rad * ph.sin(), r * th.sin()], -1).reshape(-1, 3)
    # Faces in PyTorch3D's order (pytorch3d/utils/torus.py): ring pairs (i - 1, i) from i = 0, side pairs
    # likewise, and per quad the two triangles [00, 10, 11], [11, 01, 00] next to each other. The same
    # triangles in another order would give the same surface but other samples from the same seed.
    i = ((torch.arange(rings) - 1) % rings)[:, None].expand(rings, sides)
    j = ((torch.arange(sides) - 1) % sides)[None, :].expand(rings, sides)
    i1, j1 = (i + 1) % rings, (j + 1) % sides
    a, b = i * sides + j, i1 * sides + j
    c, d = i1 * sides + j1, i * sides + j1
    faces = torch.stack([torch.stack([a, b, c], -1), torch.stack([c, d, a], -1)], 2).reshape(-1, 3)
    return Meshes([verts.to(torch.float32).to(device)], [faces.to(device)])
