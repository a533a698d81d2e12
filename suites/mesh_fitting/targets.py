"""Built-in targets of the mesh-fitting suite: procedural surfaces and noisy point clouds of them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

TARGETS = ("torus", "ellipsoid")
NOISE_STD = 0.01  # point-cloud noise, relative to the unit radius of the normalised target


def _surface(t3d: SimpleNamespace, name: str) -> Any:
    if name == "torus":
        return t3d.utils.torus(0.35, 0.75, 24, 48)
    if name == "ellipsoid":
        sphere = t3d.utils.ico_sphere(4)
        return sphere.update_padded(sphere.verts_padded() * torch.tensor([1.0, 0.65, 0.4]))
    raise ValueError(f"target {name!r}: expected one of {TARGETS}")


def make_target(t3d: SimpleNamespace, name: str, *, n_points: int, seed: int) -> tuple[Any, torch.Tensor]:
    """The target surface (centred, max radius 1) and ``n_points`` noisy samples of it, deterministic in ``seed``."""
    mesh = _surface(t3d, name)
    verts = mesh.verts_packed()
    verts = verts - verts.mean(0)
    verts = verts / verts.norm(dim=1).max()
    mesh = mesh.update_padded(verts[None])
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed + 1)
        points = t3d.ops.sample_points_from_meshes(mesh, n_points)[0]
        points = points + NOISE_STD * torch.randn_like(points)
    finally:
        torch.random.set_rng_state(state)
    return mesh, points
