"""The shared single-view pipeline: view-frame voxels, the camera projection, the mean-shape baseline."""

from __future__ import annotations

import math

import torch

from bench import backends
from bench.methods.single_view import canonical_to_view, frustum_to_grid, project, sphere_radius_for, voxel_meshes


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


def test_frustum_maps_land_on_the_view_grid_by_ray_and_depth():
    """The voxel branch's frustum output on the view grid: a map lit on the image's left half lights the voxels
    at +x (PyTorch3D's +x is image left) and the cone through a lit disc contains a sphere (its visual hull);
    depth channels run from z = -1 (nearest) to z = +1."""
    G, S, T, fov = 16, 32, torch.tensor([[0.0, 0.0, 2.5]]), torch.tensor([50.0])
    ax = -1.0 + (torch.arange(G) + 0.5) * 2.0 / G
    z, y, x = torch.meshgrid(ax, ax, ax, indexing="ij")
    left = torch.zeros(1, G, S, S)
    left[..., : S // 2] = 1.0
    out = frustum_to_grid(left, T, fov, G)[0]
    assert bool((out[x > 0.2] > 1.0 - 1e-6).all()) and bool((out[x < -0.2] < 1e-6).all())
    r = 0.6  # a sphere at the origin: its silhouette is the disc of angular radius asin(r / 2.5)
    px = -1.0 + (torch.arange(S) + 0.5) * 2.0 / S
    v, u = torch.meshgrid(px, px, indexing="ij")
    tan_fov = math.tan(math.radians(25.0))
    disc = ((u * tan_fov) ** 2 + (v * tan_fov) ** 2).sqrt() < math.tan(math.asin(r / 2.5))
    out = frustum_to_grid(disc.float().expand(1, G, S, S), T, fov, G)[0]
    inside = (x**2 + y**2 + z**2).sqrt() < r - 0.1
    tan_ray = (x**2 + y**2).sqrt() / (z + 2.5)
    outside = tan_ray > math.tan(math.asin(r / 2.5)) * 1.15
    assert bool((out[inside] > 0.5).all()) and bool((out[outside] < 0.5).all())
    ramp = torch.arange(G, dtype=torch.float32).view(1, G, 1, 1).expand(1, G, S, S)
    assert torch.allclose(frustum_to_grid(ramp, T, fov, G)[0], ((z + 1.0) * G / 2.0 - 0.5).clamp(0, G - 1))
