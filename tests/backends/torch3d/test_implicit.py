"""Raysamplers, HarmonicEmbedding, VolumeSampler and renderers against hand formulas and closed forms."""

import math

import numpy as np
import pytest
import torch

from bench.backends.torch3d.renderer.cameras import FoVPerspectiveCameras, PerspectiveCameras, look_at_view_transform
from bench.backends.torch3d.renderer.implicit import (
    EmissionAbsorptionRaymarcher,
    HarmonicEmbedding,
    ImplicitRenderer,
    MonteCarloRaysampler,
    MultinomialRaysampler,
    NDCGridRaysampler,
    NDCMultinomialRaysampler,
    RayBundle,
    VolumeRenderer,
    VolumeSampler,
    ray_bundle_to_ray_points,
)
from bench.backends.torch3d.structures.volumes import Volumes


# ------------------------------------------------------------------ harmonic embedding
@pytest.mark.parametrize("logspace", [True, False])
@pytest.mark.parametrize("append_input", [True, False])
def test_harmonic_embedding_matches_hand_formula(logspace, append_input):
    torch.manual_seed(0)
    n, omega = 4, 0.5
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    emb = HarmonicEmbedding(n_harmonic_functions=n, omega_0=omega, logspace=logspace, append_input=append_input)
    out = emb(x)
    freqs = [omega * (2.0**k if logspace else 1.0 + k * (2.0 ** (n - 1) - 1.0) / (n - 1)) for k in range(n)]
    ref = [math.sin(f * v) for v in x[1, 2].tolist() for f in freqs]
    ref += [math.cos(f * v) for v in x[1, 2].tolist() for f in freqs]
    if append_input:
        ref += x[1, 2].tolist()
    assert out.shape == (2, 5, emb.get_output_dim(3)) == (2, 5, len(ref))
    torch.testing.assert_close(out[1, 2], torch.tensor(ref, dtype=torch.float64), rtol=1e-6, atol=1e-6)


def test_harmonic_embedding_diag_cov_damps_each_frequency():
    x = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    var = torch.tensor([[0.1, 0.4]], dtype=torch.float64)
    out = HarmonicEmbedding(2, append_input=False)(x, diag_cov=var)
    ref = [math.sin(f * v) * math.exp(-0.5 * f * f * s) for v, s in [(0.3, 0.1), (-0.2, 0.4)] for f in (1, 2)]
    ref += [math.cos(f * v) * math.exp(-0.5 * f * f * s) for v, s in [(0.3, 0.1), (-0.2, 0.4)] for f in (1, 2)]
    torch.testing.assert_close(out[0], torch.tensor(ref, dtype=torch.float64))


# ------------------------------------------------------------------------ raysamplers
def _cameras(n=2):
    R, T = look_at_view_transform(dist=torch.tensor([3.0, 4.0][:n]), elev=torch.tensor([20.0, -35.0][:n]),
                                  azim=torch.tensor([30.0, 150.0][:n]))
    return FoVPerspectiveCameras(R=R, T=T, fov=50.0)


def test_ndc_grid_rays_project_back_to_their_pixels():
    cams = _cameras()
    h, w = 6, 9
    rs = NDCMultinomialRaysampler(image_width=w, image_height=h, n_pts_per_ray=5, min_depth=1.0, max_depth=6.0)
    rb = rs(cameras=cams)
    assert rb.origins.shape == (2, h, w, 3) and rb.lengths.shape == (2, h, w, 5) and rb.xys.shape == (2, h, w, 2)
    pts = ray_bundle_to_ray_points(rb).reshape(2, -1, 3)
    proj = cams.transform_points(pts).reshape(2, h, w, 5, 3)
    # every point of a ray projects to the ray's pixel centre (PyTorch3D NDC: +1 left/top, short side [-1, 1])
    s = min(h, w)
    col = torch.arange(w).view(1, 1, w, 1)
    row = torch.arange(h).view(1, h, 1, 1)
    x_ref = (w / s - (2 * col + 1) / s).expand(2, h, w, 5)
    y_ref = (h / s - (2 * row + 1) / s).expand(2, h, w, 5)
    torch.testing.assert_close(proj[..., 0], x_ref.float(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(proj[..., 1], y_ref.float(), rtol=1e-4, atol=1e-5)
    # lengths are camera-space depths, and origins are the camera centres
    view = cams.get_world_to_view_transform().transform_points(pts).reshape(2, h, w, 5, 3)
    torch.testing.assert_close(view[..., 2], rb.lengths, rtol=1e-5, atol=1e-5)
    centres = cams.get_camera_center()[:, None, None].expand(2, h, w, 3)
    torch.testing.assert_close(rb.origins, centres, rtol=1e-5, atol=1e-5)


def test_fov_ray_directions_match_pinhole_formula():
    cams = FoVPerspectiveCameras(fov=60.0)  # identity pose: world == view
    rb = NDCMultinomialRaysampler(image_width=4, image_height=4, n_pts_per_ray=2, min_depth=1.0, max_depth=2.0)(
        cameras=cams)
    t = math.tan(math.radians(30.0))
    xy = rb.xys[0]
    ref = torch.stack((xy[..., 0] * t, xy[..., 1] * t, torch.ones_like(xy[..., 0])), dim=-1)
    torch.testing.assert_close(rb.directions[0], ref, rtol=1e-5, atol=1e-6)
    assert xy[0, 0].tolist() == pytest.approx([0.75, 0.75])  # top-left pixel centre


def test_unit_directions_subsampling_and_perspective_cameras():
    cams = PerspectiveCameras(focal_length=torch.tensor([[2.0, 2.0]]))
    rs = NDCMultinomialRaysampler(image_width=8, image_height=8, n_pts_per_ray=3, min_depth=1.0, max_depth=3.0,
                                  n_rays_per_image=10, unit_directions=True)
    rb = rs(cameras=cams)
    assert rb.origins.shape == (1, 10, 1, 3)
    torch.testing.assert_close(rb.directions.norm(dim=-1), torch.ones(1, 10, 1))
    pts = ray_bundle_to_ray_points(rb.__class__(rb.origins, rb.directions, rb.lengths, rb.xys))
    proj = cams.transform_points(pts.reshape(1, -1, 3)).reshape(1, 10, 1, 3, 3)
    torch.testing.assert_close(proj[..., :2], rb.xys[..., None, :].expand(1, 10, 1, 3, 2), rtol=1e-4, atol=1e-5)
    # the subsampled rays are distinct pixels of the grid
    assert len({tuple(v) for v in rb.xys.reshape(-1, 2).tolist()}) == 10


def test_mask_sampling_only_draws_masked_pixels():
    cams = FoVPerspectiveCameras()
    mask = torch.zeros(1, 5, 5, dtype=torch.bool)
    mask[0, 1, 2] = mask[0, 3, 4] = mask[0, 4, 0] = True
    rs = NDCMultinomialRaysampler(image_width=5, image_height=5, n_pts_per_ray=2, min_depth=1.0, max_depth=2.0)
    rb = rs(cameras=cams, mask=mask)
    full = rs(cameras=cams).xys[0]
    want = {tuple(full[r, c].tolist()) for r, c in [(1, 2), (3, 4), (4, 0)]}
    assert {tuple(v) for v in rb.xys.reshape(-1, 2).tolist()} == want


def test_monte_carlo_and_stratified_sampling_stay_in_bounds():
    torch.manual_seed(0)
    cams = _cameras()
    rs = MonteCarloRaysampler(-0.5, 0.5, -0.2, 0.8, n_rays_per_image=200, n_pts_per_ray=8, min_depth=1.0,
                              max_depth=3.0, stratified_sampling=True)
    rb = rs(cameras=cams)
    assert rb.xys.shape == (2, 200, 2)
    assert (rb.xys[..., 0].abs() <= 0.5).all() and (rb.xys[..., 1] >= -0.2).all() and (rb.xys[..., 1] <= 0.8).all()
    centres = torch.linspace(1.0, 3.0, 8)
    half = (centres[1] - centres[0]) / 2
    lo = torch.cat((centres[:1], centres[1:] - half))
    hi = torch.cat((centres[:-1] + half, centres[-1:]))
    assert ((rb.lengths >= lo) & (rb.lengths <= hi)).all()
    assert not torch.equal(rb.lengths[0, 0], centres)  # actually jittered
    proj = cams.transform_points(ray_bundle_to_ray_points(rb).reshape(2, -1, 3)).reshape(2, 200, 8, 3)
    torch.testing.assert_close(proj[..., :2], rb.xys[:, :, None].expand(2, 200, 8, 2), rtol=1e-4, atol=1e-5)


def test_grid_aliases_and_argument_errors():
    with pytest.warns(PendingDeprecationWarning):
        rs = NDCGridRaysampler(4, 3, 2, 1.0, 2.0)
    assert isinstance(rs, NDCMultinomialRaysampler)
    with pytest.raises(ValueError, match="min_depth"):
        MultinomialRaysampler(min_x=0, max_x=1, min_y=0, max_y=1, image_width=2, image_height=2, n_pts_per_ray=2,
                              min_depth=3.0, max_depth=1.0)
    with pytest.raises(ValueError, match="image_width"):
        NDCMultinomialRaysampler(image_width=0, image_height=2, n_pts_per_ray=2, min_depth=1.0, max_depth=2.0)


# ---------------------------------------------------------------------- volume sampling
def test_volume_sampler_is_exact_on_a_linear_field():
    # trilinear interpolation reproduces an affine field exactly inside the volume
    vol_size, voxel, trans = (6, 5, 7), 0.3, torch.tensor([0.2, -0.1, 0.4])
    probe = Volumes(torch.zeros(1, 1, *vol_size), voxel_size=voxel, volume_translation=trans)
    world = probe.get_coord_grid()  # (1, D, H, W, 3)
    a, b = torch.tensor([0.7, -1.3, 2.1]), 0.25
    dens = (world @ a + b)[:, None]
    feats = torch.stack((world[..., 0], 2 * world[..., 2]), dim=1)
    vol = Volumes(dens, features=feats, voxel_size=voxel, volume_translation=trans)
    torch.manual_seed(0)
    lo, hi = world.reshape(-1, 3).min(0).values, world.reshape(-1, 3).max(0).values
    pts = lo + torch.rand(40, 3) * (hi - lo)  # random world points inside the volume
    rb = RayBundle(origins=pts[None], directions=torch.ones(1, 40, 3), lengths=torch.zeros(1, 40, 1),
                   xys=torch.zeros(1, 40, 2))
    d, f = VolumeSampler(vol)(rb)
    assert d.shape == (1, 40, 1, 1) and f.shape == (1, 40, 1, 2)
    torch.testing.assert_close(d[0, :, 0, 0], pts @ a + b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(f[0, :, 0], torch.stack((pts[:, 0], 2 * pts[:, 2]), -1), rtol=1e-4, atol=1e-5)
    # outside the volume the sampler reads zeros
    rb_out = RayBundle(hi[None, None] + 1.0, torch.ones(1, 1, 3), torch.zeros(1, 1, 1), torch.zeros(1, 1, 2))
    assert VolumeSampler(vol)(rb_out)[0].abs().max() == 0


def test_volume_sampler_points_along_rays_on_a_linear_field():
    # points reached along rays (non-zero lengths, non-unit directions, anisotropic voxels, a translation)
    # read the affine field at origin + length * direction: the direction must map by the linear part only
    vol_size, voxel, trans = (6, 5, 7), torch.tensor([0.3, 0.2, 0.25]), torch.tensor([0.2, -0.1, 0.4])
    probe = Volumes(torch.zeros(1, 1, *vol_size), voxel_size=voxel, volume_translation=trans)
    world = probe.get_coord_grid()
    a, b = torch.tensor([0.7, -1.3, 2.1]), 0.25
    vol = Volumes((world @ a + b)[:, None], voxel_size=voxel, volume_translation=trans)
    g = torch.Generator().manual_seed(3)
    lo, hi = world.reshape(-1, 3).min(0).values, world.reshape(-1, 3).max(0).values
    targets = lo + torch.rand(2, 10, 4, 3, generator=g) * (hi - lo)  # (rays 2 x 10, 4 points each)
    origins = targets[:, :, 0] - torch.tensor([0.5, -0.3, 0.8])
    directions = 2.5 * (targets[:, :, 1] - origins)
    lengths = torch.rand(2, 10, 4, generator=g) * 0.2 + 0.3  # points between origin and the second target
    rb = RayBundle(origins=origins[:1], directions=directions[:1], lengths=lengths[:1], xys=torch.zeros(1, 10, 2))
    d, f = VolumeSampler(vol)(rb)
    pts = origins[:1, :, None] + lengths[:1, ..., None] * directions[:1, :, None]
    inside = ((pts >= lo) & (pts <= hi)).all(-1)
    assert inside.sum() > 10
    torch.testing.assert_close(d[..., 0][inside], (pts @ a + b)[inside], rtol=1e-4, atol=1e-5)
    assert f.shape == (1, 10, 4, 0)  # a volume without features samples an empty feature axis



@pytest.mark.parametrize("shared", [True, False], ids=["grid expanded over the batch", "one grid per item"])
def test_volume_sampler_fields_sampled_apart_equal_one_sample_of_both(shared):
    # The sampler samples densities and features with one grid_sample each (as PyTorch3D; issue 22: no copy of
    # the fields into one tensor). Reference: one grid_sample of the fields concatenated along the channels, at
    # the same points; the outputs and the fields' gradients must be the same bits.
    g = torch.Generator().manual_seed(5)
    n, size = 3, (6, 7, 8)
    if shared:
        d0 = torch.rand(1, 1, *size, generator=g).requires_grad_()
        f0 = torch.rand(1, 2, *size, generator=g).requires_grad_()
        dens, feats = d0.expand(n, -1, -1, -1, -1), f0.expand(n, -1, -1, -1, -1)
    else:
        d0 = torch.rand(n, 1, *size, generator=g).requires_grad_()
        f0 = torch.rand(n, 2, *size, generator=g).requires_grad_()
        dens, feats = d0, f0
    vol = Volumes(dens, features=feats, voxel_size=0.1, volume_translation=(0.05, -0.1, 0.0))
    rb = RayBundle(origins=torch.randn(n, 5, 3, generator=g) * 0.1, directions=torch.randn(n, 5, 3, generator=g),
                   lengths=torch.rand(n, 5, 4, generator=g) * 0.4, xys=torch.zeros(n, 5, 2))
    up_d, up_f = torch.randn(n, 5, 4, 1, generator=g), torch.randn(n, 5, 4, 2, generator=g)

    d, f = VolumeSampler(vol)(rb)
    torch.autograd.backward([d, f], [up_d, up_f])
    grads = d0.grad.clone(), f0.grad.clone()
    d0.grad = f0.grad = None

    # the points as the sampler forms them (rays mapped to local coordinates first, then origin + length * dir)
    o, dirs = vol.world_to_local_coords(rb.origins), vol.world_to_local_directions(rb.directions)
    pts = o[..., None, :] + rb.lengths[..., None] * dirs[..., None, :]
    both = torch.nn.functional.grid_sample(torch.cat((dens, feats), 1), pts.reshape(n, -1, 1, 1, 3),
                                           align_corners=True, padding_mode="zeros")
    both = both.reshape(n, 3, 5, 4).permute(0, 2, 3, 1)
    torch.autograd.backward([both], [torch.cat((up_d, up_f), -1)])
    assert (both.abs() > 0).float().mean() > 0.5  # most points inside the volume: the check means something
    torch.testing.assert_close(d, both[..., :1], rtol=0, atol=0)
    torch.testing.assert_close(f, both[..., 1:], rtol=0, atol=0)
    torch.testing.assert_close(grads[0], d0.grad, rtol=0, atol=0)
    torch.testing.assert_close(grads[1], f0.grad, rtol=0, atol=0)

def _slab_volume(sigma_step_dens: list[tuple[int, int, float, list[float]]], depth: int, voxel: float, centre_z: float):
    """A volume wide in x/y whose density/colour is set per z-slice range [k0, k1]."""
    dens = torch.zeros(1, 1, depth, 40, 40)
    feats = torch.zeros(1, 3, depth, 40, 40)
    for k0, k1, d, colour in sigma_step_dens:
        dens[:, :, k0 : k1 + 1] = d
        feats[:, :, k0 : k1 + 1] = torch.tensor(colour).view(1, 3, 1, 1, 1)
    return Volumes(dens, features=feats, voxel_size=voxel, volume_translation=(0.0, 0.0, -centre_z))


def test_constant_density_slab_renders_closed_form_opacity_and_colour():
    # camera at the origin looking down +z; ray samples at depths that land on voxel centres
    depth, voxel, centre = 41, 0.05, 3.0
    z0 = centre - (depth - 1) / 2 * voxel  # world z of slice 0
    sigma = 4.0
    d = 1.0 - math.exp(-sigma * voxel)  # per-sample opacity of a step of length `voxel`
    k0, k1 = 10, 25
    vol = _slab_volume([(k0, k1, d, [0.9, 0.4, 0.1])], depth, voxel, centre)
    rs = NDCMultinomialRaysampler(image_width=8, image_height=8, n_pts_per_ray=depth, min_depth=z0,
                                  max_depth=z0 + (depth - 1) * voxel)
    renderer = VolumeRenderer(raysampler=rs, raymarcher=EmissionAbsorptionRaymarcher())
    images, rb = renderer(cameras=FoVPerspectiveCameras(fov=30.0), volumes=vol)
    assert images.shape == (1, 8, 8, 4)
    length = (k1 - k0 + 1) * voxel
    alpha = 1.0 - math.exp(-sigma * length)
    torch.testing.assert_close(images[..., 3], torch.full((1, 8, 8), alpha), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(images[..., :3], (torch.tensor([0.9, 0.4, 0.1]) * alpha).expand(1, 8, 8, 3),
                               rtol=1e-4, atol=1e-5)


def test_two_slabs_composite_front_over_back():
    depth, voxel, centre = 41, 0.05, 3.0
    z0 = centre - (depth - 1) / 2 * voxel
    s1, s2 = 3.0, 8.0
    vol = _slab_volume([(5, 12, 1 - math.exp(-s1 * voxel), [1.0, 0.0, 0.0]),
                        (20, 30, 1 - math.exp(-s2 * voxel), [0.0, 0.0, 1.0])], depth, voxel, centre)
    rs = NDCMultinomialRaysampler(image_width=4, image_height=4, n_pts_per_ray=depth, min_depth=z0,
                                  max_depth=z0 + (depth - 1) * voxel)
    images, _ = VolumeRenderer(rs, EmissionAbsorptionRaymarcher())(cameras=FoVPerspectiveCameras(fov=20.0),
                                                                  volumes=vol)
    a1 = 1 - math.exp(-s1 * 8 * voxel)
    a2 = 1 - math.exp(-s2 * 11 * voxel)
    ref = torch.tensor([a1, 0.0, (1 - a1) * a2, a1 + (1 - a1) * a2])
    torch.testing.assert_close(images[0, 2, 1], ref, rtol=1e-4, atol=1e-5)


def test_implicit_renderer_sphere_silhouette_and_gradients():
    # a hard sphere of radius 1 at the origin, seen from distance 3: silhouette pixels vs the analytic cone
    R, T = look_at_view_transform(dist=3.0, elev=0.0, azim=0.0)
    cams = FoVPerspectiveCameras(R=R, T=T, fov=60.0)
    rs = NDCMultinomialRaysampler(image_width=32, image_height=32, n_pts_per_ray=64, min_depth=1.5, max_depth=4.5)
    radius = torch.tensor(1.0, requires_grad=True)

    def field(ray_bundle, **kwargs):
        pts = ray_bundle_to_ray_points(ray_bundle)
        dens = torch.sigmoid(50.0 * (radius - pts.norm(dim=-1, keepdim=True)))
        return dens, pts.new_ones(*pts.shape[:-1], 1)

    images, rb = ImplicitRenderer(rs, EmissionAbsorptionRaymarcher())(cameras=cams, volumetric_function=field)
    assert images.shape == (1, 32, 32, 2)
    # a ray hits the sphere iff it passes closer than r to the centre: |origin x unit direction| < 1
    dirs = torch.nn.functional.normalize(rb.directions[0], dim=-1)
    miss = torch.linalg.cross(rb.origins[0], dirs, dim=-1).norm(dim=-1)
    sil = images[0, ..., 1].detach() > 0.5
    clear = (miss - 1.0).abs() > 0.05  # away from the soft, sampled rim
    assert clear.sum() > 900 and (miss < 0.95).sum() > 100
    assert torch.equal(sil[clear], (miss < 1.0)[clear])
    images[..., 1].sum().backward()
    assert radius.grad > 0  # a bigger sphere covers more pixels


def test_volume_sampler_gradient_is_the_trilinear_weights():
    dens = torch.zeros(1, 1, 4, 4, 4, dtype=torch.float64, requires_grad=True)
    vol = Volumes(dens, voxel_size=1.0)  # voxel centres at -1.5, -0.5, 0.5, 1.5
    pt = torch.tensor([[[0.25, -0.5, 1.0]]], dtype=torch.float64)
    rb = RayBundle(pt, torch.zeros_like(pt), torch.zeros(1, 1, 1, dtype=torch.float64), torch.zeros(1, 1, 2))
    VolumeSampler(vol)(rb)[0].sum().backward()
    g = dens.grad[0, 0]  # (D, H, W): z, y, x
    # x = 0.25 lies 0.75 of the way from centre 1 (-0.5) to centre 2 (0.5); y on centre 1; z halfway 2..3
    assert g.sum().item() == pytest.approx(1.0)
    assert g[2, 1, 2].item() == pytest.approx(0.75 * 0.5) and g[3, 1, 1].item() == pytest.approx(0.25 * 0.5)
    assert (g > 0).sum() == 4


def test_sample_pdf_inverts_the_piecewise_linear_cdf():
    from bench.backends.torch3d.renderer.implicit import sample_pdf

    torch.manual_seed(6)
    bins = torch.sort(torch.rand(3, 9, dtype=torch.float64) * 4, dim=-1).values
    weights = torch.rand(3, 8, dtype=torch.float64)
    weights[1, 2:5] = 0.0  # empty bins get (almost) no samples
    got = sample_pdf(bins, weights, 50, det=True, eps=0.0)
    u = np.linspace(0, 1, 50)
    for r in range(3):
        cdf = np.concatenate(([0.0], np.cumsum(weights[r].numpy()) / weights[r].sum().item()))
        edges = bins[r].numpy()
        ref = []
        for q in u:  # the bin holding quantile q (skipping empty bins), then linear inside it
            j = max(i for i in range(8) if cdf[i] <= q and cdf[i + 1] > cdf[i]) if q < 1 else 7
            ref.append(edges[j] + (q - cdf[j]) / (cdf[j + 1] - cdf[j]) * (edges[j + 1] - edges[j]))
        np.testing.assert_allclose(got[r].numpy(), ref, rtol=1e-9, atol=1e-9)
    # random samples follow the weights (bin frequencies)
    many = sample_pdf(bins[:1], weights[:1], 20000, det=False)
    freq = torch.histogram(many[0], bins=bins[0]).hist / 20000
    torch.testing.assert_close(freq, weights[0] / weights[0].sum(), atol=0.015, rtol=0)
