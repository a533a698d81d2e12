"""Loss, compositing, NDC sampling and chunked marching against independent references (SciPy, numpy loops)."""

import numpy as np
import pytest
import torch
from scipy import ndimage, special

from bench.backends import load
from bench.methods.volumetric import composite, huber, march_chunked, sample_at_ndc

T3D = load("torch")


def test_huber_is_scipys_pseudo_huber_and_its_gradient():
    d = torch.linspace(-2.0, 2.0, 41, dtype=torch.float64)
    for s in (0.1, 0.5):
        expected = special.pseudo_huber(s, d.numpy()) / s  # delta^2 (sqrt(1 + (r/delta)^2) - 1), divided by delta
        np.testing.assert_allclose(huber(d, torch.zeros_like(d), s).numpy(), expected, rtol=1e-12, atol=1e-15)
    x = torch.randn(7, dtype=torch.float64, requires_grad=True)
    y = torch.randn(7, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: huber(a, y, 0.1), (x,))
    with pytest.raises(ValueError, match="scaling"):
        huber(x, y, 0.0)


def test_composite_over_background():
    out = torch.tensor([[0.2, 0.1, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    rgb, alpha = composite(out, 1.0)
    np.testing.assert_allclose(rgb.numpy(), [[0.7, 0.6, 0.5], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(alpha.numpy(), [0.5, 0.0])
    with pytest.raises(ValueError, match="RGB \\+ opacity"):
        composite(torch.zeros(2, 3), 1.0)


@pytest.mark.parametrize("h,w", [(5, 5), (6, 9), (8, 4)])
def test_sample_at_ndc_reads_the_pixels_the_raysampler_aims_at(h, w):
    images = torch.rand(2, h, w, 3, dtype=torch.float64)
    sampler = T3D.renderer.NDCMultinomialRaysampler(image_width=w, image_height=h, n_pts_per_ray=2,
                                                    min_depth=1.0, max_depth=2.0)
    cams = T3D.renderer.FoVPerspectiveCameras(R=torch.eye(3)[None].expand(2, 3, 3), T=torch.tensor([[0, 0, 3.0]] * 2))
    xys = sampler(cams).xys.double()  # (2, h, w, 2), pixel centres in NDC
    got = sample_at_ndc(images, xys.reshape(2, -1, 2)).reshape(2, h, w, 3)
    np.testing.assert_allclose(got.numpy(), images.numpy(), atol=1e-6)  # float32 pixel centres


def test_sample_at_ndc_is_bilinear_between_pixels():
    h, w = 6, 9
    img = np.random.default_rng(0).random((h, w))
    s = min(h, w)
    xy = np.random.default_rng(1).uniform(-0.8, 0.8, (50, 2)) * [w / s, h / s]
    # NDC +X left / +Y up; the image spans [-w/s, w/s] x [-h/s, h/s] between pixel edges
    col = (1.0 - xy[:, 0] / (w / s)) * w / 2 - 0.5
    row = (1.0 - xy[:, 1] / (h / s)) * h / 2 - 0.5
    expected = ndimage.map_coordinates(img, [row, col], order=1, mode="nearest")
    got = sample_at_ndc(torch.from_numpy(img)[None, :, :, None], torch.from_numpy(xy)[None])[0, :, 0]
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)


def sphere_field(ray_bundle, **kw):
    """Opacity 0.3 per sample inside a radius-0.6 sphere, colour = |position|."""
    pts = T3D.renderer.ray_bundle_to_ray_points(ray_bundle)
    dens = (pts.norm(dim=-1, keepdim=True) < 0.6).to(pts.dtype) * 0.3
    return dens, pts.abs()


def test_chunked_marching_matches_a_per_ray_loop():
    sampler = T3D.renderer.NDCMultinomialRaysampler(image_width=7, image_height=5, n_pts_per_ray=20,
                                                    min_depth=1.5, max_depth=3.5)
    cams = T3D.renderer.FoVPerspectiveCameras(R=torch.eye(3)[None], T=torch.tensor([[0.0, 0.0, 2.5]]))
    bundle = sampler(cams)
    got = march_chunked(sphere_field, T3D.renderer.EmissionAbsorptionRaymarcher(), bundle, T3D.renderer.RayBundle,
                        chunk=4)
    assert got.shape == (1, 5, 7, 4)
    pts = T3D.renderer.ray_bundle_to_ray_points(bundle)[0].numpy().astype(np.float64)
    expected = np.zeros((5, 7, 4))
    for i in range(5):
        for j in range(7):
            trans, colour = 1.0, np.zeros(3)
            for p in pts[i, j]:
                d = 0.3 if np.linalg.norm(p) < 0.6 else 0.0
                colour += trans * d * np.abs(p)
                trans *= 1.0 - d
            expected[i, j] = [*colour, 1.0 - trans]
    np.testing.assert_allclose(got[0].numpy(), expected, atol=1e-5)
    assert expected[..., 3].max() > 0.9 and expected[0, 0, 3] == 0.0  # the sphere is hit, the corner misses it
    with pytest.raises(ValueError, match="chunk"):
        march_chunked(sphere_field, T3D.renderer.EmissionAbsorptionRaymarcher(), bundle, T3D.renderer.RayBundle, 0)
