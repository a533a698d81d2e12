"""Pointclouds views and updates against loops; normal estimation against analytic sphere/plane normals."""

from __future__ import annotations

import pytest
import torch

from bench.backends.torch3d.loss import chamfer_distance
from bench.backends.torch3d.ops import estimate_pointcloud_normals
from bench.backends.torch3d.structures import Pointclouds, join_pointclouds_as_batch, join_pointclouds_as_scene


@pytest.fixture
def clouds() -> Pointclouds:
    g = torch.Generator().manual_seed(0)
    sizes = [5, 9, 2]
    return Pointclouds([torch.randn(s, 3, generator=g) for s in sizes],
                       normals=[torch.randn(s, 3, generator=g) for s in sizes],
                       features=[torch.randn(s, 4, generator=g) for s in sizes])


def test_list_padded_packed_agree(clouds):
    assert clouds.num_points_per_cloud().tolist() == [5, 9, 2]
    assert clouds.cloud_to_packed_first_idx().tolist() == [0, 5, 14]
    for name, width in (("points", 3), ("normals", 3), ("features", 4)):
        lst = getattr(clouds, f"{name}_list")()
        padded = getattr(clouds, f"{name}_padded")()
        packed = getattr(clouds, f"{name}_packed")()
        assert padded.shape == (3, 9, width) and packed.shape == (16, width)
        row = 0
        for i, t in enumerate(lst):
            assert torch.equal(padded[i, :len(t)], t) and (padded[i, len(t):] == 0).all()
            assert torch.equal(packed[row:row + len(t)], t)
            row += len(t)
    assert torch.equal(clouds.points_padded().reshape(-1, 3)[clouds.padded_to_packed_idx()], clouds.points_packed())
    assert clouds.packed_to_cloud_idx().tolist() == [0] * 5 + [1] * 9 + [2] * 2


def test_updates_indexing_and_joins(clouds):
    off = torch.randn(16, 3, requires_grad=True)
    moved = clouds.offset(off)
    assert torch.allclose(moved.points_packed(), clouds.points_packed() + off)
    moved.points_padded().sum().backward()
    assert torch.equal(off.grad, torch.ones_like(off))
    scaled = clouds.scale(torch.tensor([1.0, 2.0, 3.0]))
    assert torch.allclose(scaled.points_list()[2], 3 * clouds.points_list()[2])
    sub = clouds[[2, 0]]
    assert sub.num_points_per_cloud().tolist() == [2, 5]
    assert torch.equal(sub.features_list()[0], clouds.features_list()[2])
    assert len(clouds.extend(2)) == 6
    batch = join_pointclouds_as_batch([clouds, clouds[1]])
    assert batch.num_points_per_cloud().tolist() == [5, 9, 2, 9]
    scene = join_pointclouds_as_scene(clouds)
    assert len(scene) == 1 and torch.equal(scene.normals_packed(), clouds.normals_packed())
    upd = clouds.update_padded(clouds.points_padded() * 2)
    assert torch.allclose(upd.points_list()[1], 2 * clouds.points_list()[1])


def test_chamfer_accepts_pointclouds(clouds):
    other = Pointclouds([p + 0.1 for p in clouds.points_list()])
    a, _ = chamfer_distance(clouds, other)
    b, _ = chamfer_distance(clouds.points_padded(), other.points_padded(), x_lengths=clouds.num_points_per_cloud(),
                            y_lengths=other.num_points_per_cloud())
    assert torch.allclose(a, b)


@pytest.mark.parametrize("bad,match", [
    (dict(points=[torch.zeros(3, 2)]), r"points\[0\]"),
    (dict(points=[torch.zeros(3, 3)], normals=[torch.zeros(2, 3)]), "one per point"),
    (dict(points=torch.zeros(3, 3)), r"\(N, P, C\)"),
    (dict(points=[torch.zeros(3, 3), torch.zeros(2, 3)], features=[torch.zeros(3, 2), torch.zeros(2, 5)]), "channels"),
])
def test_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        Pointclouds(**bad)


def test_normals_of_sphere_and_plane():
    g = torch.Generator().manual_seed(1)
    sphere = torch.randn(1, 800, 3, generator=g)
    sphere = sphere / sphere.norm(dim=2, keepdim=True)
    n = estimate_pointcloud_normals(Pointclouds(sphere), neighborhood_size=15)
    cos = (n * sphere).sum(2)
    assert bool((cos.abs() > 0.97).all())
    # Neighbours of a point on a convex surface lie behind its tangent plane: disambiguated normals point inward.
    assert bool((cos < 0).float().mean() > 0.99)
    plane = torch.cat([torch.rand(1, 300, 2, generator=g), torch.zeros(1, 300, 1)], 2)
    n = estimate_pointcloud_normals(plane, neighborhood_size=10, disambiguate_directions=False)
    assert torch.allclose(n[..., 2].abs(), torch.ones(1, 300), atol=1e-4)
    with pytest.raises(ValueError, match="neighborhood_size"):
        estimate_pointcloud_normals(plane[:, :5], neighborhood_size=10)
