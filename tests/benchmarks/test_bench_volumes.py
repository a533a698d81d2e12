"""Benchmarks of the built-in backend's volume and point renderers (run with --benchmark-only)."""

import pytest
import torch

from bench.backends.torch3d.renderer.cameras import FoVPerspectiveCameras, look_at_view_transform
from bench.backends.torch3d.renderer.implicit import (
    EmissionAbsorptionRaymarcher,
    NDCMultinomialRaysampler,
    VolumeRenderer,
)
from bench.backends.torch3d.renderer.points import (
    AlphaCompositor,
    PointsRasterizationSettings,
    PointsRasterizer,
    PointsRenderer,
)
from bench.backends.torch3d.structures import Pointclouds
from bench.backends.torch3d.structures.volumes import Volumes


def _camera():
    R, T = look_at_view_transform(dist=2.7, elev=15.0, azim=40.0)
    return FoVPerspectiveCameras(R=R, T=T, fov=60.0)


@pytest.mark.benchmark(group="volumes")
def test_volume_render_64cube_128px_150pts_fwd_bwd(benchmark):
    """NeRF-tutorial-sized volume fit step: 64^3 density + RGB, 128x128 rays, 150 samples, backward."""
    torch.manual_seed(0)
    dens = torch.rand(1, 1, 64, 64, 64).mul_(0.1).requires_grad_()
    cols = torch.rand(1, 3, 64, 64, 64).requires_grad_()
    rs = NDCMultinomialRaysampler(image_width=128, image_height=128, n_pts_per_ray=150, min_depth=0.1, max_depth=3.0)
    renderer = VolumeRenderer(raysampler=rs, raymarcher=EmissionAbsorptionRaymarcher())
    cams = _camera()

    def step():
        vol = Volumes(densities=dens, features=cols, voxel_size=3.0 / 64)
        images, _ = renderer(cameras=cams, volumes=vol)
        images.sum().backward()
        return images

    images = benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=1)
    assert images.shape == (1, 128, 128, 4) and dens.grad.abs().sum() > 0


@pytest.mark.benchmark(group="points")
def test_points_render_20k_256px(benchmark):
    """SynSin-sized point splatting: 20k coloured points, 256x256, K=8, alpha compositing."""
    torch.manual_seed(0)
    pts = torch.rand(20_000, 3) * 2 - 1
    cloud = Pointclouds(points=[pts], features=[torch.rand(20_000, 3)])
    settings = PointsRasterizationSettings(image_size=256, radius=0.01, points_per_pixel=8)
    renderer = PointsRenderer(PointsRasterizer(cameras=_camera(), raster_settings=settings), AlphaCompositor())
    images = benchmark(renderer, cloud)
    assert images.shape == (1, 256, 256, 3) and images.sum() > 0
