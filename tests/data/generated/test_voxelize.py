"""Parity voxelisation against analytic inside tests."""

import numpy as np

from bench.data.generated.meshes import make_mesh
from bench.data.generated.voxelize import voxelize


def centres(size):
    c = -1 + (np.arange(size) + 0.5) * 2 / size
    return np.meshgrid(c, c, c, indexing="ij")


def test_box_is_exact():
    v, f = make_mesh("box", extents=(1.04, 0.66, 1.46))  # faces between voxel centres
    occ = voxelize(v.numpy(), f.numpy(), 20)
    x, y, z = centres(20)
    np.testing.assert_array_equal(occ, (np.abs(x) < 0.52) & (np.abs(y) < 0.33) & (np.abs(z) < 0.73))


def test_sphere_matches_inside_test_away_from_surface():
    v, f = make_mesh("ico_sphere", level=4, radius=0.8)
    occ = voxelize(v.numpy(), f.numpy(), 24)
    r = np.sqrt(sum(c**2 for c in centres(24)))
    far = np.abs(r - 0.8) > 0.02  # beyond the tessellation's deviation from the true sphere
    np.testing.assert_array_equal(occ[far], (r < 0.8)[far])
    assert abs(int(occ.sum()) - np.count_nonzero(r < 0.8)) <= 0.03 * np.count_nonzero(r < 0.8)


def test_torus_hole_is_empty():
    v, f = make_mesh("torus", major=0.6, minor=0.2, sections=(48, 24))
    occ = voxelize(v.numpy(), f.numpy(), 32)
    x, y, z = centres(32)
    ring = np.sqrt(x**2 + y**2)
    inside = (ring - 0.6) ** 2 + z**2 < 0.2**2
    far = np.abs(np.sqrt((ring - 0.6) ** 2 + z**2) - 0.2) > 0.07
    np.testing.assert_array_equal(occ[far], inside[far])
    assert not occ[16, 16].any()  # the hole along the axis
