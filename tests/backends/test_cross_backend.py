"""The built-in backend against the real PyTorch3D, call for call, where PyTorch3D is importable.

Same inputs to both namespaces (``bench.backends.load("torch")`` and ``load("pytorch3d")``): soft
silhouettes and their gradients, Phong images, zbuf / pix_to_face, volume renders, Chamfer (values and
gradients) and statistics of sampled points. Skipped where PyTorch3D is not installed (it is not on PyPI),
a failure instead where ``$BENCH3D_REQUIRE_PYTORCH3D`` is set (``.ci/run``, which installs the reference wheel).
The op-by-op conformance suite is ``tests/backends/conformance``.
"""

from __future__ import annotations

import math

import pytest
import torch

from bench import backends
from tests.conftest import require_pytorch3d

pytestmark = pytest.mark.pytorch3d

SIGMA = 1e-4


@pytest.fixture(scope="module", autouse=True)
def _reference_installed():
    require_pytorch3d()


@pytest.fixture(scope="module")
def ours():
    return backends.load("torch")


@pytest.fixture(scope="module")
def ref():
    return backends.load("pytorch3d")


def _camera(t3d, dist=2.7, elev=10.0, azim=20.0):
    R, T = t3d.renderer.look_at_view_transform(dist, elev, azim)
    return t3d.renderer.FoVPerspectiveCameras(R=R, T=T)


def _sphere(t3d, level=2):
    m = t3d.utils.ico_sphere(level)
    return m.verts_packed().detach().clone(), m.faces_packed().clone()


def test_ico_sphere_is_the_same_mesh(ours, ref):
    # PyTorch3D's level 0 is the icosahedron rounded to 4 decimals (|v| = 1 + 2.5e-5); the built-in backend
    # rounds the same way, so every level is the same mesh bit for bit (it differed by 5.8e-5 before)
    for level in (0, 1, 2, 4):
        (v1, f1), (v2, f2) = _sphere(ours, level), _sphere(ref, level)
        assert torch.equal(v1, v2) and torch.equal(f1, f2), level


def _soft_silhouette(t3d, verts, faces, size=64, k=10):
    r = t3d.renderer
    settings = r.RasterizationSettings(image_size=size, blur_radius=math.log(1 / SIGMA - 1) * SIGMA,
                                       faces_per_pixel=k)
    renderer = r.MeshRenderer(rasterizer=r.MeshRasterizer(cameras=_camera(t3d), raster_settings=settings),
                              shader=r.SoftSilhouetteShader(blend_params=r.BlendParams(sigma=SIGMA, gamma=SIGMA)))
    v = verts.clone().requires_grad_(True)
    alpha = renderer(t3d.structures.Meshes(verts=[v], faces=[faces]))[..., 3]
    alpha.sum().backward()
    return alpha.detach(), v.grad


def test_soft_silhouette_and_gradients_agree(ours, ref):
    verts, faces = _sphere(ours)
    a1, g1 = _soft_silhouette(ours, verts, faces)
    a2, g2 = _soft_silhouette(ref, verts, faces)
    torch.testing.assert_close(a1, a2, atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(g1, g2, atol=1e-3 * float(g2.abs().max()), rtol=1e-2)


def _fragments(t3d, verts, faces, size=48, k=3):
    r = t3d.renderer
    rast = r.MeshRasterizer(cameras=_camera(t3d), raster_settings=r.RasterizationSettings(
        image_size=size, blur_radius=0.0, faces_per_pixel=k))
    return rast(t3d.structures.Meshes(verts=[verts], faces=[faces]))


def test_zbuf_pix_to_face_and_barycentrics_agree(ours, ref):
    verts, faces = _sphere(ours)
    f1, f2 = _fragments(ours, verts, faces), _fragments(ref, verts, faces)
    same = f1.pix_to_face == f2.pix_to_face
    assert same.float().mean() > 0.99  # ties on shared edges may go either way
    valid = same & (f2.pix_to_face >= 0)
    torch.testing.assert_close(f1.zbuf[valid], f2.zbuf[valid], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(f1.bary_coords[valid], f2.bary_coords[valid], atol=1e-4, rtol=1e-4)


def _phong(t3d, verts, faces, size=64):
    r = t3d.renderer
    cam = _camera(t3d)
    mesh = t3d.structures.Meshes(verts=[verts], faces=[faces],
                                 textures=r.TexturesVertex(verts_features=[(verts + 1) / 2]))
    lights = r.PointLights(location=[[0.0, 2.0, -3.0]])
    renderer = r.MeshRenderer(
        rasterizer=r.MeshRasterizer(cameras=cam, raster_settings=r.RasterizationSettings(image_size=size)),
        shader=r.HardPhongShader(cameras=cam, lights=lights))
    with torch.no_grad():
        return renderer(mesh)


def test_phong_images_agree(ours, ref):
    verts, faces = _sphere(ours, 3)
    i1, i2 = _phong(ours, verts, faces), _phong(ref, verts, faces)
    assert i1.shape == i2.shape == (1, 64, 64, 4)
    close = ((i1 - i2).abs().amax(-1) < 2e-3).float().mean()
    assert close > 0.99, float(close)


def _volume_render(t3d, densities, features, size=24):
    r = t3d.renderer
    volumes = t3d.structures.Volumes(densities=densities, features=features, voxel_size=2.0 / densities.shape[-1])
    sampler = r.NDCMultinomialRaysampler(image_width=size, image_height=size, n_pts_per_ray=32, min_depth=1.5,
                                         max_depth=4.0)
    renderer = r.VolumeRenderer(raysampler=sampler, raymarcher=r.EmissionAbsorptionRaymarcher())
    images, _ = renderer(cameras=_camera(t3d, 2.7, 0.0, 0.0), volumes=volumes)
    return images


def test_volume_renders_agree(ours, ref):
    g = torch.Generator().manual_seed(0)
    densities = torch.rand(1, 1, 16, 16, 16, generator=g) * 0.3
    features = torch.rand(1, 3, 16, 16, 16, generator=g)
    i1, i2 = _volume_render(ours, densities, features), _volume_render(ref, densities, features)
    torch.testing.assert_close(i1, i2, atol=1e-4, rtol=1e-3)


def test_chamfer_values_and_gradients_agree(ours, ref):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 300, 3, generator=g), torch.randn(2, 250, 3, generator=g)
    xn, yn = torch.nn.functional.normalize(torch.randn(2, 300, 3, generator=g), dim=-1), \
        torch.nn.functional.normalize(torch.randn(2, 250, 3, generator=g), dim=-1)
    lx, ly = torch.tensor([300, 170]), torch.tensor([250, 90])
    for kwargs in ({}, {"x_lengths": lx, "y_lengths": ly}, {"x_normals": xn, "y_normals": yn},
                   {"norm": 1}, {"point_reduction": "sum"}):
        out = []
        for t3d in (ours, ref):
            xr = x.clone().requires_grad_(True)
            loss, normals = t3d.loss.chamfer_distance(xr, y, **kwargs)
            loss.backward()
            out.append((loss.detach(), None if normals is None else normals.detach(), xr.grad))
        (l1, n1, g1), (l2, n2, g2) = out
        torch.testing.assert_close(l1, l2, rtol=1e-5, atol=1e-6)
        assert (n1 is None) == (n2 is None)
        if n1 is not None:
            torch.testing.assert_close(n1, n2, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-7)


def test_knn_points_agree(ours, ref):
    g = torch.Generator().manual_seed(1)
    p1, p2 = torch.randn(1, 200, 3, generator=g), torch.randn(1, 300, 3, generator=g)
    a, b = ours.ops.knn_points(p1, p2, K=4), ref.ops.knn_points(p1, p2, K=4)
    torch.testing.assert_close(a.dists, b.dists, rtol=1e-5, atol=1e-6)
    assert torch.equal(a.idx, b.idx)


def test_sampled_point_statistics_agree(ours, ref):
    """Sampling is random: compare the distributions (moments, radii, normals) within Monte Carlo error."""
    n = 50_000
    stats = []
    for i, t3d in enumerate((ours, ref)):
        torch.manual_seed(10 + i)
        mesh = t3d.utils.torus(0.3, 1.0, 16, 24)
        pts, normals = t3d.ops.sample_points_from_meshes(mesh, n, return_normals=True)
        pts, normals = pts[0], normals[0]
        ring = (pts[:, :2].norm(dim=1) - 1.0).hypot(pts[:, 2])  # distance from the tube's centre circle
        stats.append((pts.mean(0), pts.pow(2).mean(0), ring.mean(), normals.norm(dim=1)))
    (m1, s1, r1, nn1), (m2, s2, r2, nn2) = stats
    se = 4 / math.sqrt(n)  # a few standard errors of a mean of O(1) values
    torch.testing.assert_close(m1, m2, atol=se, rtol=0)
    torch.testing.assert_close(s1, s2, atol=2 * se, rtol=0)
    assert abs(float(r1 - r2)) < se
    torch.testing.assert_close(nn1, torch.ones_like(nn1), atol=1e-4, rtol=0)
    torch.testing.assert_close(nn2, torch.ones_like(nn2), atol=1e-4, rtol=0)
