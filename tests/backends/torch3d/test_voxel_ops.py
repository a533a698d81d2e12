"""cubify and marching_cubes against closed forms: volumes, watertightness, extents and orientation."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from bench.backends.torch3d.ops import cubify, marching_cubes
from bench.backends.torch3d.structures import Meshes


def _volume(verts: torch.Tensor, faces: torch.Tensor) -> float:
    v = verts.double()
    return float((torch.linalg.cross(v[faces[:, 0]], v[faces[:, 1]], dim=1) * v[faces[:, 2]]).sum() / 6)


def _closed(faces: torch.Tensor, n_verts: int) -> bool:
    m = Meshes([torch.zeros(n_verts, 3)], [faces])
    return set(Counter(m.faces_packed_to_edges_packed().reshape(-1).tolist()).values()) == {2}


@pytest.mark.parametrize("align", ["topleft", "corner", "center"])
def test_cubify_volume_and_extent(align):
    g = torch.Generator().manual_seed(0)
    D, H, W = 3, 4, 5
    vox = torch.rand(2, D, H, W, generator=g)
    meshes = cubify(vox, 0.5, align=align)
    margin = 0.0 if align == "corner" else 1.0
    cell = 8.0 / ((W - margin) * (H - margin) * (D - margin))  # each voxel's volume in output units
    for n in range(2):
        occ = vox[n] >= 0.5
        verts, faces = meshes.verts_list()[n], meshes.faces_list()[n]
        assert _volume(verts, faces) == pytest.approx(float(occ.sum()) * cell, rel=1e-5)  # outward, no interior walls
        lo = {"topleft": -1.0, "corner": -1.0, "center": -1.0 - 1.0 / (W - 1)}[align]
        assert float(verts[:, 0].min()) >= lo - 1e-6
        # a face is kept only between an occupied voxel and an empty one (or the border)
        pad = torch.nn.functional.pad(occ.float(), (1, 1, 1, 1, 1, 1))
        exposed = 0
        for s in [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]:
            neighbour = pad[tuple(slice(1 + s[i], 1 + s[i] + n_) for i, n_ in enumerate((D, H, W)))]
            exposed += int((occ & (neighbour == 0)).sum())
        assert len(faces) == 2 * exposed


def test_cubify_single_voxel_is_a_closed_cube_with_corner_coords():
    vox = torch.zeros(1, 2, 2, 2)
    vox[0, 1, 0, 1] = 1  # z=1, y=0, x=1
    m = cubify(vox, 0.5, align="corner")
    verts, faces = m.verts_packed(), m.faces_packed()
    assert verts.shape == (8, 3) and faces.shape == (12, 3) and _closed(faces, 8)
    assert torch.allclose(verts.min(0).values, torch.tensor([0.0, -1.0, 0.0]))
    assert torch.allclose(verts.max(0).values, torch.tensor([1.0, 0.0, 1.0]))
    assert _volume(verts, faces) == pytest.approx(1.0)


def test_cubify_empty_and_bad_input():
    m = cubify(torch.zeros(2, 2, 2, 2), 0.5)
    assert len(m) == 2 and m.isempty()
    with pytest.raises(ValueError, match="align"):
        cubify(torch.zeros(1, 2, 2, 2), 0.5, align="middle")
    with pytest.raises(ValueError, match=r"\(N, D, H, W\)"):
        cubify(torch.zeros(2, 2, 2), 0.5)


def test_marching_cubes_sphere():
    n, r = 40, 0.6
    g = torch.linspace(-1, 1, n)
    z, y, x = torch.meshgrid(g, g, g, indexing="ij")
    # anisotropic field so axis order matters: an ellipsoid with semi-axes (r, r/1.5, r/2) along x, y, z
    vol = (1.0 - ((x / r) ** 2 + (y * 1.5 / r) ** 2 + (z * 2 / r) ** 2).sqrt())[None]
    verts, faces = marching_cubes(vol, isolevel=0.0)
    v, f = verts[0], faces[0]
    assert torch.allclose(v.abs().max(0).values, torch.tensor([r, r / 1.5, r / 2]), atol=0.02)
    assert _closed(f, len(v))
    # inside (higher values) -> outward normals, positive volume close to the ellipsoid's
    assert _volume(v, f) == pytest.approx(4 / 3 * math.pi * r * (r / 1.5) * (r / 2), rel=0.03)
    vi, _ = marching_cubes(vol, isolevel=0.0, return_local_coords=False)
    assert torch.allclose(vi[0], (v + 1) * (n - 1) / 2, atol=1e-4)


def test_marching_cubes_default_level_and_empty():
    vol = torch.zeros(2, 8, 8, 8)
    vol[0, 2:6, 2:6, 2:6] = 1.0
    verts, faces = marching_cubes(vol)  # level 0.5 for the first, no crossing for the constant second
    assert len(verts[0]) > 0 and verts[1].shape == (0, 3) and faces[1].shape == (0, 3)
    with pytest.raises(ValueError, match="NaN"):
        marching_cubes(torch.full((1, 3, 3, 3), float("nan")))
