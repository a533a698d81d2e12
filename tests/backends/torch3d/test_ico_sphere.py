"""ico_sphere and torus against closed forms: sizes, radius, Euler characteristic, enclosed volume."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from bench.backends.torch3d.utils import ico_sphere, torus


def _signed_volume(mesh) -> float:
    v, f = mesh.verts_packed().double(), mesh.faces_packed()
    return float((torch.linalg.cross(v[f[:, 0]], v[f[:, 1]], dim=1) * v[f[:, 2]]).sum() / 6)


def _closed_manifold(mesh) -> bool:
    counts = Counter(mesh.faces_packed_to_edges_packed().reshape(-1).tolist())
    return set(counts.values()) == {2}


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_ico_sphere(level):
    m = ico_sphere(level)
    V, F, E = len(m.verts_packed()), len(m.faces_packed()), len(m.edges_packed())
    assert (V, F) == (10 * 4**level + 2, 20 * 4**level)
    assert V - E + F == 2
    assert _closed_manifold(m)
    # level 0 is PyTorch3D's icosahedron table, rounded to 4 decimals (|v| = 1 + 2.5e-5); deeper levels
    # are renormalised after each subdivision
    assert torch.allclose(m.verts_packed().norm(dim=1), torch.ones(V), atol=3e-5 if level == 0 else 1e-6)
    vol = _signed_volume(m)
    assert 0 < vol < 4 / 3 * math.pi  # outward faces; inscribed polyhedron
    if level == 3:
        assert vol == pytest.approx(4 / 3 * math.pi, rel=0.01)


def test_torus():
    r, R, sides, rings = 0.5, 2.0, 40, 80
    m = torus(r, R, sides, rings)
    V, F, E = len(m.verts_packed()), len(m.faces_packed()), len(m.edges_packed())
    assert (V, F) == (sides * rings, 2 * sides * rings)
    assert V - E + F == 0
    assert _closed_manifold(m)
    v = m.verts_packed()
    tube = ((v[:, :2].norm(dim=1) - R) ** 2 + v[:, 2] ** 2).sqrt()
    assert torch.allclose(tube, torch.full_like(tube, r), atol=1e-5)
    assert _signed_volume(m) == pytest.approx(2 * math.pi**2 * R * r**2, rel=0.01)


def test_bad_arguments():
    with pytest.raises(ValueError, match="level"):
        ico_sphere(-1)
    with pytest.raises(ValueError, match="sides"):
        torus(1, 2, 0, 3)
