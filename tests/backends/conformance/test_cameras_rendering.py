"""Conformance: cameras, the mesh rasterizer, shaders and textures (built-in vs real PyTorch3D)."""

from __future__ import annotations

import math

import pytest
import torch

from tests.backends.conformance.common import DTYPES, assert_same, close, gen, pair

pytestmark = pytest.mark.pytorch3d

CAMERAS = ("FoVPerspectiveCameras", "FoVOrthographicCameras", "PerspectiveCameras", "OrthographicCameras")


def _camera(t3d, kind, dtype=torch.float32, batch=2):
    R, T = t3d.renderer.look_at_view_transform(dist=torch.tensor([2.7, 3.1])[:batch], elev=torch.tensor(
        [10.0, -25.0])[:batch], azim=torch.tensor([20.0, 140.0])[:batch])
    R, T = R.to(dtype), T.to(dtype)
    cls = getattr(t3d.renderer, kind)
    if kind == "PerspectiveCameras":
        return cls(R=R, T=T, focal_length=torch.tensor([[1.7, 1.9]] * batch, dtype=dtype),
                   principal_point=torch.tensor([[0.1, -0.05]] * batch, dtype=dtype))
    if kind == "OrthographicCameras":
        return cls(R=R, T=T, focal_length=torch.tensor([[0.6, 0.7]] * batch, dtype=dtype))
    if kind == "FoVOrthographicCameras":
        return cls(R=R, T=T, min_x=-1.3, max_x=1.3, min_y=-1.1, max_y=1.1)
    return cls(R=R, T=T, fov=50.0, znear=0.5, zfar=20.0)


def test_look_at_view_transform():
    ours, ref = pair()
    kw = {"dist": torch.tensor([2.7, 1.0, 5.0]), "elev": torch.tensor([10.0, 89.0, -60.0]),
          "azim": torch.tensor([20.0, -170.0, 0.0])}
    for extra in ({}, {"degrees": False}, {"at": ((0.1, 0.2, -0.3),), "up": ((0.0, 1.0, 0.0),)}):
        (R1, T1), (R2, T2) = ours.renderer.look_at_view_transform(**kw, **extra), \
            ref.renderer.look_at_view_transform(**kw, **extra)
        close(R1, R2, msg=f"R {extra}")
        close(T1, T2, scale=5, msg=f"T {extra}")  # |T| = dist <= 5
    eye = torch.tensor([[1.0, 2.0, 3.0]])
    close(ours.renderer.look_at_view_transform(eye=eye)[0], ref.renderer.look_at_view_transform(eye=eye)[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", CAMERAS)
def test_camera_transforms(kind, dtype):
    """transform_points (NDC), transform_points_screen, get_camera_center, the projection matrix and
    unproject_points, with gradients to the points; both image-size conventions (square and 64x96)."""
    ours, ref = pair()
    rule = dtype
    pts = torch.rand(2, 30, 3, generator=gen(7), dtype=dtype) - 0.5
    if dtype == torch.float64:
        with pytest.raises(RuntimeError):  # PyTorch3D builds its projection in float32 whatever R, T are
            _camera(ref, kind, dtype).transform_points(pts)
        pytest.skip("PyTorch3D's cameras do not run in float64 (float32 projection matrices meet float64 points)")
    c1, c2 = _camera(ours, kind, dtype), _camera(ref, kind, dtype)
    close(c1.get_camera_center(), c2.get_camera_center(), rule, scale=5, msg="center")
    close(c1.get_full_projection_transform().get_matrix(), c2.get_full_projection_transform().get_matrix(),
          rule, scale=10, msg="projection")
    assert c1.is_perspective() == c2.is_perspective() and c1.in_ndc() == c2.in_ndc()
    # NDC values are O(1..10) near the camera: atol scaled by 10
    assert_same(lambda t3d, v: _camera(t3d, kind, dtype).transform_points(v[0]), [pts], rule, scale=10,
                msg="transform_points")
    for size in ((64, 64), (64, 96)):
        assert_same(lambda t3d, v, s=size: _camera(t3d, kind, dtype).transform_points_screen(v[0], image_size=s),
                    [pts], rule, scale=1000, msg=f"screen {size}")  # pixel units, up to ~1e3
    xy_depth = torch.cat([torch.rand(2, 10, 2, generator=gen(8), dtype=dtype) - 0.5,
                          torch.full((2, 10, 1), 2.5, dtype=dtype)], -1)
    close(c1.unproject_points(xy_depth, world_coordinates=True), c2.unproject_points(xy_depth, world_coordinates=True),
          rule, scale=10, msg="unproject")


def _mesh(t3d, verts_list, faces_list, textures=None):
    return t3d.structures.Meshes(verts=verts_list, faces=faces_list, textures=textures)


def _scene(t3d):
    """Heterogeneous batch of two meshes: ico_sphere(2) and a shifted, shrunk ico_sphere(1)."""
    s2, s1 = t3d.utils.ico_sphere(2), t3d.utils.ico_sphere(1)
    return [s2.verts_packed(), s1.verts_packed() * 0.6 + torch.tensor([0.2, 0.1, 0.0])], \
        [s2.faces_packed(), s1.faces_packed()]


@pytest.mark.parametrize("settings", [
    {"image_size": 40, "faces_per_pixel": 1},
    {"image_size": (32, 48), "faces_per_pixel": 4},
    {"image_size": 40, "faces_per_pixel": 6, "blur_radius": 2e-3},
    {"image_size": 40, "faces_per_pixel": 3, "cull_backfaces": True},
    {"image_size": 40, "faces_per_pixel": 3, "perspective_correct": True},
    {"image_size": 40, "faces_per_pixel": 3, "perspective_correct": False, "clip_barycentric_coords": True,
     "blur_radius": 1e-3},
])
def test_mesh_rasterizer_fragments(settings):
    """pix_to_face and the k-order are exact except for ties of equal depth on shared edges (at most 1% of
    pixels); zbuf / barycentrics / dists agree within float32 rounding of the same edge functions (1e-5; dists
    are squared NDC distances, ~1e-3, so absolute 1e-6)."""
    ours, ref = pair()
    frags = []
    for t3d in (ours, ref):
        r = t3d.renderer
        rast = r.MeshRasterizer(cameras=_camera(t3d, "FoVPerspectiveCameras"),
                                raster_settings=r.RasterizationSettings(**settings))
        frags.append(rast(_mesh(t3d, *_scene(t3d))))
    f1, f2 = frags
    assert f1.pix_to_face.shape == f2.pix_to_face.shape
    same = (f1.pix_to_face == f2.pix_to_face).all(-1)
    assert same.float().mean() > 0.99, float(same.float().mean())
    s = same[..., None].expand_as(f1.zbuf) & (f2.pix_to_face >= 0)
    torch.testing.assert_close(f1.zbuf[s], f2.zbuf[s], rtol=1e-5, atol=1e-5)
    # barycentrics are edge functions divided by the face's doubled area (~5e-3 in NDC here): a float32
    # rounding of 1e-7 in an edge function is 2e-5 in a coordinate (measured 1.8e-5, blurred, outside a face)
    torch.testing.assert_close(f1.bary_coords[s], f2.bary_coords[s], rtol=1e-4, atol=5e-5)
    torch.testing.assert_close(f1.dists[s], f2.dists[s], rtol=1e-4, atol=1e-6)
    # empty slots: -1 faces, -1 zbuf and dists, -1 barycentrics on both
    empty = f2.pix_to_face < 0
    assert torch.equal(f1.pix_to_face < 0, empty) | (~same.any())
    assert bool((f1.zbuf[empty & same[..., None]] == -1).all())


SIGMA = 1e-4


@pytest.mark.parametrize("k", [10, 30])
def test_soft_silhouette_shader_and_gradients(k):
    """Soft silhouettes of a heterogeneous batch: alpha to 1e-4 (sigmoids of dists / sigma, sigma = 1e-4: a
    rounding of 1e-9 in a squared distance moves alpha by ~1e-5), gradients to 1e-3 of their largest."""
    def fn(t3d, v):
        r = t3d.renderer
        blur = math.log(1 / SIGMA - 1) * SIGMA
        ren = r.MeshRenderer(rasterizer=r.MeshRasterizer(cameras=_camera(t3d, "FoVPerspectiveCameras"),
                                                         raster_settings=r.RasterizationSettings(
                                                             image_size=48, blur_radius=blur, faces_per_pixel=k)),
                             shader=r.SoftSilhouetteShader(blend_params=r.BlendParams(sigma=SIGMA, gamma=SIGMA)))
        return ren(_mesh(t3d, v, _scene(t3d)[1]))[..., 3]

    from tests.backends.conformance.common import run_both

    ours, _ = pair()
    (a1, g1), (a2, g2) = run_both(fn, _scene(ours)[0])
    torch.testing.assert_close(a1, a2, atol=1e-4, rtol=1e-3)
    for x, y in zip(g1, g2, strict=True):
        torch.testing.assert_close(x, y, atol=1e-3 * float(y.abs().max()), rtol=1e-2)


def _textures(t3d, kind, verts_list, faces_list):
    r = t3d.renderer
    if kind == "vertex":
        return r.TexturesVertex(verts_features=[(v + 1) / 2 for v in verts_list])
    g = gen(11)
    maps = torch.rand(2, 16, 16, 3, generator=g)
    uvs = [torch.rand(len(v), 2, generator=g) for v in verts_list]
    return r.TexturesUV(maps=maps, faces_uvs=list(faces_list), verts_uvs=uvs)


@pytest.mark.parametrize("shader", ["HardPhongShader", "SoftPhongShader", "HardGouraudShader", "HardFlatShader"])
@pytest.mark.parametrize("texture", ["vertex", "uv"])
def test_shaders_and_textures(shader, texture):
    """Shaded RGBA images (point light, default materials). Equal fragments give equal colours to float32
    rounding (2e-3 absolute per channel leaves room for the blend's exp of zbuf differences); ties on shared
    edges may differ: at least 99% of pixels agree."""
    imgs = []
    for t3d in pair():
        r = t3d.renderer
        v, f = _scene(t3d)
        if shader == "HardGouraudShader" and texture == "uv":  # both: Gouraud shading needs vertex colours
            cam = _camera(t3d, "FoVPerspectiveCameras")
            ren = r.MeshRenderer(rasterizer=r.MeshRasterizer(cameras=cam, raster_settings=r.RasterizationSettings(
                image_size=16)), shader=r.HardGouraudShader(cameras=cam))
            with pytest.raises(ValueError):
                ren(_mesh(t3d, v, f, _textures(t3d, texture, v, f)))
            continue
        cam = _camera(t3d, "FoVPerspectiveCameras")
        blur = 1e-4 if shader.startswith("Soft") else 0.0
        ren = r.MeshRenderer(
            rasterizer=r.MeshRasterizer(cameras=cam, raster_settings=r.RasterizationSettings(
                image_size=40, blur_radius=blur, faces_per_pixel=4 if blur else 1)),
            shader=getattr(r, shader)(cameras=cam, lights=r.PointLights(location=[[0.0, 2.0, -3.0]])))
        with torch.no_grad():
            imgs.append(ren(_mesh(t3d, v, f, _textures(t3d, texture, v, f))))
    if not imgs:
        return
    i1, i2 = imgs
    assert i1.shape == i2.shape == (2, 40, 40, 4)
    ok = ((i1 - i2).abs().amax(-1) < 2e-3).float().mean()
    assert ok > 0.99, float(ok)
