"""Volumes: coordinate frames against PyTorch3D's documented formulas, padding, indexing, errors."""

import pytest
import torch

from bench.backends.torch3d.structures.volumes import Volumes
from bench.backends.torch3d.transforms import Transform3d


def test_local_grid_is_grid_sample_convention():
    d, h, w = 3, 4, 5
    vol = Volumes(torch.rand(2, 1, d, h, w))
    grid = vol.get_coord_grid(world_coordinates=False)
    assert grid.shape == (2, d, h, w, 3)
    for k, j, i in [(0, 0, 0), (2, 3, 4), (1, 2, 3), (0, 3, 1)]:
        ref = torch.tensor([-1 + 2 * i / (w - 1), -1 + 2 * j / (h - 1), -1 + 2 * k / (d - 1)])
        torch.testing.assert_close(grid[1, k, j, i], ref)
    # sampling the volume at its own local grid returns the volume (documented identity)
    dens = vol.densities()
    resampled = torch.nn.functional.grid_sample(dens, grid, align_corners=True)
    torch.testing.assert_close(resampled, dens, rtol=1e-5, atol=1e-5)


def test_world_coordinates_formula_and_round_trip():
    # PyTorch3D's documented example: 5x5x5, voxel 1, no translation: world (-2, 0, 2) -> local (-1, 0, 1)
    vol = Volumes(torch.zeros(1, 1, 5, 5, 5))
    local = vol.world_to_local_coords(torch.tensor([[[-2.0, 0.0, 2.0]]]))
    torch.testing.assert_close(local, torch.tensor([[[-1.0, 0.0, 1.0]]]))
    # anisotropic voxels + translation: x_world = x_local * (size_xyz - 1) / 2 * voxel - translation
    voxel = torch.tensor([0.1, 0.2, 0.3])
    trans = torch.tensor([1.0, -2.0, 0.5])
    vol = Volumes(torch.zeros(1, 2, 4, 6, 8), voxel_size=voxel, volume_translation=trans)
    pts = torch.rand(1, 10, 3) * 2 - 1
    ref = pts * (torch.tensor([8.0, 6.0, 4.0]) - 1) * 0.5 * voxel - trans
    torch.testing.assert_close(vol.local_to_world_coords(pts), ref)
    torch.testing.assert_close(vol.world_to_local_coords(ref), pts, rtol=1e-5, atol=1e-6)
    # the world grid spacing is the voxel size along each axis
    g = vol.get_coord_grid()
    torch.testing.assert_close(g[0, 0, 0, 1] - g[0, 0, 0, 0], torch.tensor([0.1, 0.0, 0.0]))
    torch.testing.assert_close(g[0, 1, 1, 0] - g[0, 0, 0, 0], torch.tensor([0.0, 0.2, 0.3]))
    torch.testing.assert_close(g[0].mean(dim=(0, 1, 2)), -trans, rtol=1e-5, atol=1e-5)


def test_world_to_local_directions_is_the_linear_part_of_the_point_map():
    # world_to_local(o + t d) = world_to_local(o) + t * world_to_local_directions(d) for every o, d, t
    vol = Volumes(torch.zeros(2, 1, 4, 6, 8), voxel_size=torch.tensor([[0.1, 0.2, 0.3], [0.5, 0.5, 0.5]]),
                  volume_translation=torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.3, 0.0]]))
    g = torch.Generator().manual_seed(0)
    o, d, t = torch.randn(2, 5, 3, generator=g), torch.randn(2, 5, 3, generator=g), torch.rand(2, 5, 1, generator=g)
    torch.testing.assert_close(vol.world_to_local_coords(o + t * d),
                               vol.world_to_local_coords(o) + t * vol.world_to_local_directions(d))
    # local units per world unit along x of volume 0: 2 / ((8 - 1) * 0.1)
    torch.testing.assert_close(vol.world_to_local_directions(torch.tensor([[[1.0, 0, 0]], [[0, 0, 0.0]]]))[0, 0, 0],
                               torch.tensor(2 / 0.7))


def test_per_volume_sizes_and_transforms_agree():
    vol = Volumes(torch.zeros(2, 1, 3, 3, 3), voxel_size=torch.tensor([[1.0], [2.0]]),
                  volume_translation=torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    g = vol.get_coord_grid()
    torch.testing.assert_close(g[0, 2, 2, 2], torch.tensor([1.0, 1.0, 1.0]))
    torch.testing.assert_close(g[1, 2, 2, 2], torch.tensor([1.0, 1.0, 1.0]))  # 2 * 1 - 1
    assert isinstance(vol.get_local_to_world_coords_transform(), Transform3d)
    pts = torch.rand(2, 7, 3)
    torch.testing.assert_close(vol.get_local_to_world_coords_transform().transform_points(pts),
                               vol.local_to_world_coords(pts))
    torch.testing.assert_close(vol.get_world_to_local_coords_transform().transform_points(pts),
                               vol.world_to_local_coords(pts), rtol=1e-5, atol=1e-6)


def test_heterogeneous_list_is_padded_and_each_volume_spans_minus_one_to_one():
    a, b = torch.rand(2, 3, 4, 5), torch.rand(2, 2, 2, 3)
    feats = [torch.rand(3, 3, 4, 5), torch.rand(3, 2, 2, 3)]
    vol = Volumes([a, b], features=feats)
    assert vol.densities().shape == (2, 2, 3, 4, 5)
    assert vol.get_grid_sizes().tolist() == [[3, 4, 5], [2, 2, 3]]
    torch.testing.assert_close(vol.densities_list()[1], b)
    torch.testing.assert_close(vol.features_list()[0], feats[0])
    assert vol.densities()[1, :, 2:].abs().sum() == 0  # zero padding
    grid = vol.get_coord_grid(world_coordinates=False)
    torch.testing.assert_close(grid[1, 0, 0, 0], torch.tensor([-1.0, -1.0, -1.0]))
    torch.testing.assert_close(grid[1, 1, 1, 2], torch.tensor([1.0, 1.0, 1.0]))


def test_indexing_clone_and_update_padded():
    vol = Volumes(torch.rand(3, 1, 2, 2, 2), features=torch.rand(3, 4, 2, 2, 2), voxel_size=[1.0, 2.0, 3.0])
    sub = vol[1]
    assert len(sub) == 1
    torch.testing.assert_close(sub.densities(), vol.densities()[1:2])
    torch.testing.assert_close(sub.get_coord_grid(), vol.get_coord_grid()[1:2])
    c = vol.clone()
    c.densities().zero_()
    assert vol.densities().abs().sum() > 0
    new = vol.update_padded(torch.ones(3, 2, 2, 2, 2))
    assert new.features() is None and new.densities().shape[1] == 2
    torch.testing.assert_close(new.get_coord_grid(), vol.get_coord_grid())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(densities=torch.rand(1, 2, 3, 4)), "densities"),
        (dict(densities=[torch.rand(1, 2, 2, 2), torch.rand(2, 2, 2, 2)]), "channels"),
        (dict(densities=torch.rand(1, 1, 2, 2, 2), features=torch.rand(1, 3, 2, 2, 3)), "features"),
        (dict(densities=torch.rand(1, 1, 2, 2, 2), voxel_size=(1.0, 2.0)), "voxel_size"),
        (dict(densities=torch.rand(2, 1, 2, 2, 2), volume_translation=torch.rand(3, 3)), "volume_translation"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Volumes(**kwargs)
    vol = Volumes(torch.rand(2, 1, 2, 2, 2))
    with pytest.raises(ValueError, match="points_3d_world"):
        vol.world_to_local_coords(torch.rand(3, 5, 3))
