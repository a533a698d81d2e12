"""sample_points_from_meshes: points on the surface, area-proportional, uniform in each face, differentiable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from bench.backends.torch3d.ops import sample_points_from_meshes
from bench.backends.torch3d.renderer import TexturesVertex
from bench.backends.torch3d.structures import Meshes


def _cube() -> Meshes:
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))  # outward-facing triangles
    return Meshes([torch.tensor(box.vertices, dtype=torch.float32)], [torch.tensor(box.faces)])


def test_points_on_cube_surface_with_outward_normals():
    torch.manual_seed(0)
    pts, normals = sample_points_from_meshes(_cube(), 4000, return_normals=True)
    assert pts.shape == normals.shape == (1, 4000, 3)
    p, n = pts[0], normals[0]
    assert torch.allclose(p.abs().max(1).values, torch.ones(4000), atol=1e-5)
    axis = p.abs().argmax(1)
    expected = torch.nn.functional.one_hot(axis, 3).float() * p.gather(1, axis[:, None]).sign()
    assert torch.allclose(n, expected, atol=1e-5)
    # every face of the cube has the same area: each of the 6 sides gets ~1/6 of the points
    side = axis * 2 + (p.gather(1, axis[:, None])[:, 0] > 0).long()
    counts = torch.bincount(side, minlength=6).double() / 4000
    assert torch.allclose(counts, torch.full((6,), 1 / 6, dtype=torch.float64), atol=0.03)


def test_area_weighted_face_choice():
    # Two disjoint triangles with areas 1 and 3.
    verts = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 2, 0], [5, 0, 0], [8, 0, 0], [5, 2, 0]], dtype=torch.float32)
    m = Meshes([verts], [torch.tensor([[0, 1, 2], [3, 4, 5]])])
    torch.manual_seed(1)
    pts = sample_points_from_meshes(m, 20000)[0]
    frac = float((pts[:, 0] >= 5 - 1e-6).double().mean())
    assert frac == pytest.approx(0.75, abs=0.015)  # binomial sd is 0.003


def test_uniform_inside_a_triangle():
    verts = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=torch.float32)
    m = Meshes([verts], [torch.tensor([[0, 1, 2]])])
    torch.manual_seed(2)
    p = sample_points_from_meshes(m, 40000)[0].double()
    x, y = p[:, 0], p[:, 1]
    assert bool((x >= -1e-7).all() and (y >= -1e-7).all() and (x + y <= 1 + 1e-6).all())
    assert torch.allclose(p.mean(0), torch.tensor([1 / 3, 1 / 3, 0], dtype=torch.float64), atol=0.006)
    # The medial triangle holds a quarter of the area, so a quarter of uniform samples.
    middle = ((x < 0.5) & (y < 0.5) & (x + y > 0.5)).double().mean()
    assert float(middle) == pytest.approx(0.25, abs=0.01)


def test_gradients_and_translation():
    m = _cube()
    verts = m.verts_packed().clone().requires_grad_(True)
    torch.manual_seed(3)
    pts = sample_points_from_meshes(Meshes([verts], m.faces_list()), 500)
    pts.sum().backward()
    # barycentric weights sum to one, so the total gradient per coordinate is the number of samples
    assert torch.allclose(verts.grad.sum(0), torch.full((3,), 500.0), atol=1e-3)
    shift = torch.tensor([1.0, -2.0, 0.5])
    torch.manual_seed(3)
    moved = sample_points_from_meshes(Meshes([verts.detach() + shift], m.faces_list()), 500)
    assert torch.allclose(moved, pts.detach() + shift, atol=1e-5)


def test_heterogeneous_batch_with_an_empty_mesh():
    cube = _cube()
    m = Meshes([cube.verts_packed(), torch.zeros(0, 3), cube.verts_packed() * 3],
               [cube.faces_packed(), torch.zeros(0, 3, dtype=torch.long), cube.faces_packed()])
    pts = sample_points_from_meshes(m, 300)
    assert pts.shape == (3, 300, 3)
    assert (pts[1] == 0).all()
    np.testing.assert_allclose(pts[2].abs().max(1).values.numpy(), 3.0, atol=1e-4)


def test_bad_input():
    cube = _cube()
    with pytest.raises(ValueError, match="NaN"):
        sample_points_from_meshes(Meshes([cube.verts_packed() * float("nan")], cube.faces_list()), 10)
    with pytest.raises(ValueError, match="empty"):
        sample_points_from_meshes(Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.long)]), 10)
    with pytest.raises(ValueError, match="textures"):
        sample_points_from_meshes(cube, 10, return_textures=True)
    with pytest.raises(ValueError, match="num_samples"):
        sample_points_from_meshes(cube, 0)


def test_textures_interpolate_like_the_points():
    # With vertex colours equal to vertex positions, each sampled colour equals its sampled point.
    cube = _cube()
    v = cube.verts_packed()
    m = Meshes([v, 2 * v], [cube.faces_packed()] * 2, textures=TexturesVertex([v, 2 * v]))
    pts, normals, colours = sample_points_from_meshes(m, 200, return_normals=True, return_textures=True)
    assert colours.shape == (2, 200, 3) and normals.shape == (2, 200, 3)
    assert torch.allclose(colours, pts, atol=1e-5)
