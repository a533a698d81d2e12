"""Conformance: point rasterizer and compositors, ray samplers, raymarchers, HarmonicEmbedding and
VolumeRenderer (built-in vs real PyTorch3D)."""

from __future__ import annotations

import pytest
import torch

from tests.backends.conformance.common import DTYPES, assert_same, close, gen, pair, run_both

pytestmark = pytest.mark.pytorch3d


def _camera(t3d, batch=2):
    R, T = t3d.renderer.look_at_view_transform(dist=torch.tensor([2.5, 3.0])[:batch],
                                               elev=torch.tensor([15.0, -30.0])[:batch],
                                               azim=torch.tensor([30.0, 200.0])[:batch])
    return t3d.renderer.FoVPerspectiveCameras(R=R, T=T, znear=0.5)


def _clouds(t3d, leaves):
    return t3d.structures.Pointclouds(points=[leaves[0], leaves[1]], features=[leaves[2], leaves[3]])


def _cloud_inputs():
    g = gen(21)
    return [torch.rand(300, 3, generator=g) - 0.5, torch.rand(170, 3, generator=g) * 0.8 - 0.4,
            torch.rand(300, 3, generator=g), torch.rand(170, 3, generator=g)]


@pytest.mark.parametrize("settings", [{"image_size": 32, "radius": 0.05, "points_per_pixel": 4},
                                      {"image_size": (24, 40), "radius": 0.08, "points_per_pixel": 8}])
def test_point_rasterizer_fragments(settings):
    """idx exact (ties of equal depth aside: at least 99% of pixels); zbuf and dists (squared NDC distances
    < radius^2) to float32 rounding."""
    frags = []
    for t3d in pair():
        r = t3d.renderer
        rast = r.PointsRasterizer(cameras=_camera(t3d), raster_settings=r.PointsRasterizationSettings(**settings))
        frags.append(rast(_clouds(t3d, _cloud_inputs())))
    f1, f2 = frags
    same = (f1.idx == f2.idx).all(-1)
    assert same.float().mean() > 0.99, float(same.float().mean())
    s = same[..., None].expand_as(f1.zbuf) & (f2.idx >= 0)
    torch.testing.assert_close(f1.zbuf[s], f2.zbuf[s], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(f1.dists[s], f2.dists[s], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("compositor", ["AlphaCompositor", "NormWeightedCompositor"])
def test_points_renderer_and_gradients(compositor):
    """Rendered features and their gradients to points and features (weights 1 - d^2 / r^2: float32 rounding)."""
    def fn(t3d, v):
        r = t3d.renderer
        ren = r.PointsRenderer(rasterizer=r.PointsRasterizer(cameras=_camera(t3d), raster_settings=(
            r.PointsRasterizationSettings(image_size=32, radius=0.06, points_per_pixel=6))),
            compositor=getattr(r, compositor)(background_color=(0.1, 0.2, 0.3)))
        return ren(_clouds(t3d, v))

    assert_same(fn, _cloud_inputs(), torch.float32, scale=10, msg=compositor)


@pytest.mark.parametrize("dtype", DTYPES)
def test_harmonic_embedding(dtype):
    x = torch.randn(4, 7, 3, generator=gen(22), dtype=dtype)
    for kw in ({}, {"n_harmonic_functions": 4, "omega_0": 0.5}, {"logspace": False, "append_input": False},
               {"n_harmonic_functions": 3, "append_input": True}):
        fn = lambda t3d, v, kw=kw: t3d.renderer.HarmonicEmbedding(**kw)(v[0])  # noqa: E731
        if dtype == torch.float32:
            # sin / cos of up to 2^5 x (|x| ~ 3): argument rounding grows with the frequency, atol x 2^5
            assert_same(fn, [x], dtype, scale=32, msg=str(kw))
            continue
        # float64: a deliberate difference (docs/backends.md). PyTorch3D's cosines are sin(a + pi/2) with pi/2
        # held in a float32 buffer (1.5707963705 instead of 1.5707963268): a phase error of 4.37e-8, so its
        # cos(a) is off by up to 4.37e-8 |sin(a)|; the built-in backend adds pi/2 in the input's dtype.
        # Tolerance: that phase error (atol 4.5e-8); a gradient sums, over the cosine terms (weights <= 1), the
        # phase error times the frequency: <= 4.5e-8 * (1 + 2 + ... + 32) = 4.5e-8 * 63.
        (o1, g1), (o2, g2) = run_both(fn, [x])
        torch.testing.assert_close(o1, o2, atol=4.5e-8, rtol=0)
        torch.testing.assert_close(g1[0], g2[0], atol=4.5e-8 * 63, rtol=0)


@pytest.mark.parametrize("sampler", ["NDCMultinomialRaysampler", "MultinomialRaysampler"])
def test_grid_ray_samplers(sampler):
    outs = []
    for t3d in pair():
        r = t3d.renderer
        kw = {"image_width": 12, "image_height": 9, "n_pts_per_ray": 7, "min_depth": 1.0, "max_depth": 4.0}
        if sampler == "MultinomialRaysampler":
            kw.update(min_x=11.0, max_x=0.0, min_y=8.0, max_y=0.0)
        rb = getattr(r, sampler)(**kw)(cameras=_camera(t3d))
        outs.append(rb)
    a, b = outs
    for name in ("origins", "directions", "lengths", "xys"):
        close(getattr(a, name), getattr(b, name), scale=10, msg=name)
    close(pair()[0].renderer.ray_bundle_to_ray_points(a), pair()[1].renderer.ray_bundle_to_ray_points(b), scale=10)


def test_monte_carlo_raysampler_distribution():
    """Random xys: compare the distribution (uniform in the box on both) and the ray geometry given the xys
    (origins and directions are a deterministic function of them: camera unprojection)."""
    rbs = []
    for i, t3d in enumerate(pair()):
        torch.manual_seed(30 + i)
        s = t3d.renderer.MonteCarloRaysampler(min_x=-1.0, max_x=1.0, min_y=-0.5, max_y=0.5, n_rays_per_image=4000,
                                              n_pts_per_ray=5, min_depth=1.0, max_depth=3.0)
        rbs.append(s(cameras=_camera(t3d)))
    for rb in rbs:
        xy = rb.xys.reshape(-1, 2)
        assert float(xy[:, 0].min()) >= -1 and float(xy[:, 0].max()) <= 1 and float(xy[:, 1].abs().max()) <= 0.5
        # uniform: mean 0 and variance (b - a)^2 / 12 within 5 standard errors of 8000 samples
        torch.testing.assert_close(xy.mean(0), torch.zeros(2), atol=5 * 0.6 / 8000**0.5, rtol=0)
        torch.testing.assert_close(xy.var(0), torch.tensor([4 / 12, 1 / 12]), rtol=0.05, atol=0)
    # the geometry given the xys: unproject the PyTorch3D bundle's xys on the built-in camera
    ours, ref = pair()
    a, b = rbs
    close(a.lengths, b.lengths)
    for rb, t3d in ((a, ours), (b, ref)):
        cam = _camera(t3d)
        n = rb.xys.shape[1]
        far = cam.unproject_points(torch.cat([rb.xys, torch.ones(2, n, 1)], -1), world_coordinates=True)
        close(rb.origins + rb.directions, far, scale=10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("marcher", ["EmissionAbsorptionRaymarcher", "AbsorptionOnlyRaymarcher"])
def test_raymarchers(marcher, dtype):
    g = gen(23)
    dens = torch.rand(2, 5, 6, 16, 1, generator=g, dtype=dtype) * 0.5
    feats = torch.rand(2, 5, 6, 16, 3, generator=g, dtype=dtype)

    def fn(t3d, v):
        m = getattr(t3d.renderer, marcher)()
        return m(v[0], v[1]) if marcher.startswith("Emission") else m(v[0])

    assert_same(fn, [dens, feats] if marcher.startswith("Emission") else [dens], dtype, msg=marcher)


def test_volume_renderer_and_gradients():
    """Trilinear sampling of a heterogeneous-density volume along NDC rays, then emission-absorption;
    gradients to densities and features. A sample's value is a trilinear blend of 8 voxels: float32 rounding."""
    g = gen(24)
    dens = torch.rand(2, 1, 12, 12, 12, generator=g) * 0.4
    feats = torch.rand(2, 3, 12, 12, 12, generator=g)

    def fn(t3d, v):
        r = t3d.renderer
        vols = t3d.structures.Volumes(densities=v[0], features=v[1], voxel_size=torch.tensor([[0.15], [0.2]]))
        ren = r.VolumeRenderer(raysampler=r.NDCMultinomialRaysampler(image_width=16, image_height=12,
                                                                        n_pts_per_ray=24, min_depth=1.2,
                                                                        max_depth=4.0),
                               raymarcher=r.EmissionAbsorptionRaymarcher())
        return ren(cameras=_camera(t3d), volumes=vols)[0]

    (o1, g1), (o2, g2) = run_both(fn, [dens, feats])
    close(o1, o2, scale=10)
    for a, b in zip(g1, g2, strict=True):
        close(a, b, grad=True, scale=10)
