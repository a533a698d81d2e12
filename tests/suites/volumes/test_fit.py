"""The voxel model renders a voxelised sphere with its analytic silhouette; the fit lowers the loss."""

import math

import pytest
import torch

from bench.backends import load
from bench.context import Phase
from bench.methods.views import Views, builtin_views
from suites.volumes.fit import VolumeConfig, fit_volume, make_model, render_views

T3D = load("torch")


def one_view(size, dist=2.7, fov=60.0):
    R, T = T3D.renderer.look_at_view_transform(dist=dist, elev=20.0, azim=30.0)
    return Views(images=torch.ones(1, size, size, 3), masks=torch.zeros(1, size, size), R=R, T=T, ids=["v"], fov=fov)


def test_a_voxelised_sphere_renders_its_analytic_disc():
    size, radius, dist, fov = 64, 0.7, 2.7, 60.0
    view = one_view(size, dist, fov)
    model = make_model(T3D, view, VolumeConfig(grid_size=48, n_pts_per_ray=150), "cpu")
    centres = torch.stack(torch.meshgrid(*[torch.linspace(-1.5, 1.5, 48) * 47 / 48] * 3, indexing="ij"), -1)
    with torch.no_grad():  # the grid spans the cube of side `extent` = 3 around the origin, voxel centres inside
        model.log_densities.copy_(torch.where(centres.norm(dim=-1) < radius, 10.0, -10.0)[None])
    _, alpha = render_views(T3D, model, view, "cpu")
    def disc(r):  # pixel area of a sphere of radius r at distance dist (the shorter side spans 2 NDC units)
        return math.pi * (size / 2 / math.tan(math.radians(fov / 2)) * math.tan(math.asin(r / dist))) ** 2

    # trilinear density is non-zero up to one voxel (3 / 48) outside the inside voxel centres, and
    # ~1 up to one voxel inside: the silhouette lies between those two spheres' discs
    voxel = 3.0 / 48
    assert disc(radius - voxel) < (alpha > 0.5).sum().item() < disc(radius + voxel)
    assert (alpha > 0.5).sum().item() == pytest.approx(disc(radius), rel=0.2)


@pytest.mark.slow
def test_fit_lowers_the_loss(tmp_path):
    torch.manual_seed(0)
    train, _ = builtin_views(tmp_path, 0, mesh="teapot", num_views=10, image_size=16, test_every=5)
    cfg = VolumeConfig(iterations=20, grid_size=16, n_pts_per_ray=24, batch_size=2)
    loop = Phase.standalone()
    res = fit_volume(T3D, make_model(T3D, train, cfg, "cpu"), train, cfg, "cpu", loop=loop)
    assert len(res.losses) == len(loop.samples) == 20
    assert sum(res.losses[-5:]) / 5 < 0.5 * res.losses[0]
    assert res.losses[0] == pytest.approx(res.color_losses[0] + res.silhouette_losses[0], rel=1e-6)


@pytest.mark.parametrize("bad", [{"iterations": 0}, {"grid_size": -1}, {"lr_drop_at": 1.5}])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        VolumeConfig(**bad)
