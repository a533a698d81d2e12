"""The Utah teapot, tessellated from Newell's 32 bicubic Bezier patches (data in ``bench/data/teapot.json``)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

_DATA = Path(__file__).resolve().parent.parent / "teapot.json"


def _revolve(profile: np.ndarray) -> list[np.ndarray]:
    """Four quadrant patches (4, 4, 3) of a profile rows [r, z, c]; quadrant 0 runs from +x to -y."""
    r, z, c = profile[:, 0:1], profile[:, 1:2], profile[:, 2:3]
    zero = np.zeros_like(r)
    x = np.concatenate([r, r, c, zero], axis=1)
    y = np.concatenate([zero, -c, -r, -r], axis=1)
    zz = np.repeat(z, 4, axis=1)
    patches = []
    for _ in range(4):
        patches.append(np.stack([x, y, zz], axis=-1))
        x, y = -y, x  # exact rotation by -90 degrees about z, seen from above: (x, y) -> (y, -x) on points
        x, y = -x, -y
    return patches


def _mirror(half: np.ndarray) -> np.ndarray:
    out = half[:, ::-1].copy()
    out[..., 1] *= -1.0
    return out


@lru_cache(maxsize=1)
def patches() -> tuple[np.ndarray, tuple[str, ...]]:
    """The 32 control nets (32, 4, 4, 3) in z-up teapot units, and each patch's part name."""
    doc = json.loads(_DATA.read_text(encoding="utf-8"))
    nets, parts = [], []
    for name, prof in doc["revolved"].items():
        for p in _revolve(np.asarray(prof, dtype=np.float64)):
            nets.append(p)
            parts.append(name)
    for name, half in doc["mirrored"].items():
        h = np.asarray(half, dtype=np.float64)
        nets += [h, _mirror(h)]
        parts += [name, name]
    return np.stack(nets), tuple(parts)


def bernstein(t: np.ndarray) -> np.ndarray:
    """Cubic Bernstein basis (T, 4) at parameters ``t`` (T,)."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    k = np.arange(4)
    binom = np.array([1.0, 3.0, 3.0, 1.0])
    return binom * t**k * (1.0 - t) ** (3 - k)


def _outward(net: np.ndarray, part: str) -> np.ndarray:
    """Direction the surface should face at the patch centre (away from the solid)."""
    b = bernstein(np.array([0.0, 0.5, 1.0]))
    grid = np.einsum("ui,vj,ijk->uvk", b, b, net)
    centre = grid[1, 1]
    if part.startswith(("handle", "spout")):
        return centre - 0.5 * (grid[1, 0] + grid[1, 2])  # away from the tube's axis
    # Revolved: the profile runs top-down around the solid (the bottom runs inward-out), so the
    # outward normal is the profile tangent turned +90 degrees in the (r, z) plane.
    db = 3.0 * np.array([-0.25, -0.25, 0.25, 0.25])  # d/dt of the Bernstein basis at t = 0.5
    tangent = np.einsum("i,ik->k", db, np.einsum("j,ijk->ik", bernstein(np.array([0.5]))[0], net))
    radial = np.array([centre[0], centre[1], 0.0])
    radial /= np.linalg.norm(radial) + 1e-12
    dr = tangent[:2] @ radial[:2]
    n = -tangent[2] * radial + dr * np.array([0.0, 0.0, 1.0])
    return -n if part == "bottom" else n


def tessellate(net: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points (n+1)^2 x 3 of one bicubic patch on a uniform (u, v) grid, and its 2 n^2 triangles."""
    b = bernstein(np.linspace(0.0, 1.0, n + 1))
    pts = np.einsum("ui,vj,ijk->uvk", b, b, net).reshape(-1, 3)
    idx = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, bb, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    faces = np.concatenate([np.stack([a, bb, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return pts, faces


def weld(verts: np.ndarray, faces: np.ndarray, decimals: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices equal to ``decimals`` places; drop triangles that collapse (patch poles)."""
    key = np.round(verts, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    f = inverse.reshape(-1)[faces]
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    return uniq, f[keep]


def teapot(resolution: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Welded teapot mesh: verts (V, 3) float64 in z-up teapot units, faces (F, 3) int64, outward-facing.

    Args:
        resolution: segments per patch side (each patch gives 2 * resolution^2 triangles).
    """
    if int(resolution) < 1:
        raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
    nets, parts = patches()
    verts, faces, offset = [], [], 0
    for net, part in zip(nets, parts, strict=True):
        pts, f = tessellate(net, int(resolution))
        # Orient: the first triangle's normal (u x v order) must agree with the outward direction.
        b = bernstein(np.array([0.5]))[0]
        du = np.einsum("i,j,ijk->k", 3.0 * np.array([-0.25, -0.25, 0.25, 0.25]), b, net)
        dv = np.einsum("i,j,ijk->k", b, 3.0 * np.array([-0.25, -0.25, 0.25, 0.25]), net)
        if np.cross(du, dv) @ _outward(net, part) < 0:
            f = f[:, ::-1]
        verts.append(pts)
        faces.append(f + offset)
        offset += len(pts)
    return weld(np.concatenate(verts), np.concatenate(faces))
