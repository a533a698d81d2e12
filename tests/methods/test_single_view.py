"""The shared single-view pipeline: view-frame voxels, the camera projection, the mean-shape baseline."""

from __future__ import annotations

import math

import torch

from bench import backends
from bench.methods.single_view import canonical_to_view, project, sphere_radius_for, voxel_meshes


def _rot_y(deg: float) -> torch.Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])


def test_identity_view_is_the_object_grid_in_cubify_layout():
    occ = torch.rand(2, 8, 8, 8) > 0.7  # (x, y, z)
    out = canonical_to_view(occ, torch.eye(3).expand(2, 3, 3), 8)
    assert torch.equal(out > 0.5, occ.permute(0, 3, 2, 1))  # (D, H, W) = (z, y, x)


def test_quarter_turn_moves_voxels_as_the_rotation_says():
    occ = torch.zeros(1, 8, 8, 8, dtype=torch.bool)
    occ[0, 6, 3, 4] = True  # object point with x > 0
    R = _rot_y(90.0)
    out = canonical_to_view(occ, R[None], 8)[0] > 0.5
    centre = -1.0 + (torch.tensor([6, 3, 4]) + 0.5) * 0.25
    view = centre @ R  # row-vector convention: X_view = X_obj @ R
    idx = ((view + 1.0) / 0.25 - 0.5).round().long()  # (x, y, z) cell in the view frame
    assert out.sum() == 1 and bool(out[idx[2], idx[1], idx[0]])


def test_projection_axis_and_directions():
    T = torch.tensor([[0.0, 0.0, 2.5]])
    fov = torch.tensor([60.0])
    pts = torch.tensor([[[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]])
    g = project(pts, T, fov)[0]
    assert torch.allclose(g[0], torch.zeros(2))
    # +x is left in PyTorch3D's NDC, so a point at +x lands left (negative grid x); +y up -> negative grid y.
    expect = 0.5 / 2.5 / math.tan(math.radians(30.0))
    assert torch.allclose(g[1], torch.tensor([-expect, 0.0]), atol=1e-6)
    assert torch.allclose(g[2], torch.tensor([0.0, -expect]), atol=1e-6)


def test_voxel_meshes_cover_the_cells_and_never_come_back_empty():
    b = backends.load("torch")
    probs = torch.zeros(2, 4, 4, 4)
    probs[0, 1, 2, 3] = 0.9  # (D, H, W) = (z, y, x)
    probs[1, 0, 0, 0] = 0.1  # below the threshold: the most probable voxel is kept
    (v0, f0), (v1, f1) = voxel_meshes(b, probs, 0.5)
    assert len(f0) == 12 and len(f1) == 12
    assert torch.allclose(v0.amin(0), torch.tensor([0.5, 0.0, -0.5]))
    assert torch.allclose(v0.amax(0), torch.tensor([1.0, 0.5, 0.0]))
    assert torch.allclose(v1.amin(0), torch.tensor([-1.0, -1.0, -1.0]))


def test_sphere_radius_matches_the_occupied_volume():
    vox = torch.zeros(1, 10, 10, 10)
    vox[0, :5] = 1.0  # half of the cube [-1, 1]^3: volume 4
    assert math.isclose(4.0 / 3.0 * math.pi * sphere_radius_for(vox) ** 3, 4.0, rel_tol=1e-6)
