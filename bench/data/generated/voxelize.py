"""Solid voxelisation of a closed triangle mesh by ray parity along +z."""

from __future__ import annotations

import numpy as np

# Rays pass a hair off the voxel centres so they never graze a shared edge or vertex exactly.
_JITTER = np.array([1.37e-7, 2.71e-7])


def voxelize(verts: np.ndarray, faces: np.ndarray, size: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """Occupancy (size, size, size) bool indexed (x, y, z) of a watertight mesh in the cube [lo, hi]^3.

    A voxel is inside when a ray from its centre to -z crosses the surface an odd number of times.
    """
    v = np.asarray(verts, dtype=np.float64)
    step = (hi - lo) / size
    centres = lo + (np.arange(size) + 0.5) * step
    flips = np.zeros((size, size, size + 1), dtype=np.int32)
    for tri in v[np.asarray(faces)]:
        a, b, c = tri
        x0, x1 = np.searchsorted(centres + _JITTER[0], [tri[:, 0].min(), tri[:, 0].max()])
        y0, y1 = np.searchsorted(centres + _JITTER[1], [tri[:, 1].min(), tri[:, 1].max()])
        if x1 <= x0 or y1 <= y0:
            continue
        gx, gy = np.meshgrid(centres[x0:x1] + _JITTER[0], centres[y0:y1] + _JITTER[1], indexing="ij")
        det = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
        if abs(det) < 1e-15:
            continue  # triangle seen edge-on from +z
        w0 = ((b[1] - c[1]) * (gx - c[0]) + (c[0] - b[0]) * (gy - c[1])) / det
        w1 = ((c[1] - a[1]) * (gx - c[0]) + (a[0] - c[0]) * (gy - c[1])) / det
        w2 = 1.0 - w0 - w1
        hit = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        if not hit.any():
            continue
        z = w0 * a[2] + w1 * b[2] + w2 * c[2]
        first = np.clip(np.ceil((z - lo) / step - 0.5), 0, size).astype(np.int64)  # first centre above the hit
        ix, iy = np.nonzero(hit)
        np.add.at(flips, (ix + x0, iy + y0, first[hit]), 1)
    return (np.cumsum(flips, axis=2)[:, :, :size] % 2).astype(bool)
