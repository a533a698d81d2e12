"""Shaders and blending against closed forms: Phong on a flat plane, sigmoid edge profiles, depth blending."""

import math

import numpy as np
import pytest
import torch
from scipy.special import expit

from bench.backends.torch3d.renderer import (
    BlendParams,
    DirectionalLights,
    FoVPerspectiveCameras,
    HardFlatShader,
    HardGouraudShader,
    HardPhongShader,
    Materials,
    MeshRasterizer,
    MeshRenderer,
    PointLights,
    RasterizationSettings,
    SoftPhongShader,
    SoftSilhouetteShader,
    TexturesUV,
    TexturesVertex,
    sigmoid_alpha_blend,
)
from bench.backends.torch3d.renderer.mesh.rasterizer import Fragments
from bench.backends.torch3d.structures import Meshes

D = torch.float64
COLOR = (0.8, 0.5, 0.3)


def _plane(z=0.0, half=3.0, color=COLOR):
    # Counter-clockwise seen from -Z, so the normal (0, 0, -1) faces a camera on the -Z side. The corners
    # are slightly skewed so that the shared diagonal misses pixel centres (which belong to no face).
    verts = torch.tensor([[-half, -0.97 * half, z], [-1.02 * half, half, z], [half, 1.03 * half, z],
                          [0.98 * half, -half, z]], dtype=D)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    tex = TexturesVertex([torch.tensor(color, dtype=D).expand(4, 3)])
    return Meshes([verts], [faces], textures=tex)


def _camera():
    # R = I, T = (0, 0, 2): the camera sits at world (0, 0, -2) and looks along +Z at the plane z = 0.
    return FoVPerspectiveCameras(R=torch.eye(3, dtype=D)[None], T=torch.tensor([[0.0, 0.0, 2.0]], dtype=D))


def _pixel_points(size, depth=2.0):
    """World points of the plane z = 0 seen through each pixel centre of the camera above."""
    t = math.tan(math.radians(30.0))
    c = (size - 1 - 2 * np.arange(size)) / size
    x, y = np.meshgrid(c, c)
    return np.stack((x * t * depth, y * t * depth, np.zeros_like(x)), -1)


def test_plane_normal_faces_the_camera():
    n = _plane().faces_normals_packed()
    np.testing.assert_allclose(n.numpy(), [[0, 0, -1], [0, 0, -1]], atol=1e-12)


@pytest.mark.parametrize("shader_cls", [HardPhongShader, HardFlatShader])
def test_phong_head_on_matches_lambert_ambient_closed_form(shader_cls):
    size = 24
    cam = _camera()
    lights = DirectionalLights(direction=((0.0, 0.0, -1.0),), ambient_color=((0.2, 0.3, 0.4),),
                               diffuse_color=((0.6, 0.5, 0.4),), specular_color=((0.0, 0.0, 0.0),))
    renderer = MeshRenderer(MeshRasterizer(cam, RasterizationSettings(image_size=size)),
                            shader_cls(cameras=cam, lights=lights))
    img = renderer(_plane())[0]
    # Head-on: cos = 1, so colour = (ambient + diffuse) * albedo everywhere.
    expected = (np.array([0.2, 0.3, 0.4]) + np.array([0.6, 0.5, 0.4])) * np.array(COLOR)
    np.testing.assert_allclose(img[..., :3].reshape(-1, 3).numpy(), np.broadcast_to(expected, (size * size, 3)),
                               atol=1e-10)
    np.testing.assert_allclose(img[..., 3].numpy(), 1.0)


def test_point_light_phong_matches_per_pixel_closed_form():
    size, shininess = 20, 10.0
    cam = _camera()
    light_pos = np.array([0.5, 0.3, -1.5])
    lights = PointLights(location=(tuple(light_pos),), ambient_color=((0.1, 0.1, 0.1),),
                         diffuse_color=((0.7, 0.7, 0.7),), specular_color=((0.4, 0.4, 0.4),))
    materials = Materials(shininess=shininess, specular_color=((1.0, 0.9, 0.8),))
    renderer = MeshRenderer(MeshRasterizer(cam, RasterizationSettings(image_size=size)),
                            HardPhongShader(cameras=cam, lights=lights, materials=materials))
    img = renderer(_plane())[0, ..., :3].numpy()
    p = _pixel_points(size)
    n = np.array([0.0, 0.0, -1.0])
    l_dir = light_pos - p
    l_dir /= np.linalg.norm(l_dir, axis=-1, keepdims=True)
    cos = np.clip(l_dir @ n, 0, None)
    v = np.array([0.0, 0.0, -2.0]) - p
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    r = -l_dir + 2 * cos[..., None] * n
    spec = np.clip((r * v).sum(-1), 0, None) ** shininess
    expected = (0.1 + 0.7 * cos[..., None]) * np.array(COLOR) + 0.4 * spec[..., None] * np.array([1.0, 0.9, 0.8])
    np.testing.assert_allclose(img, expected, atol=1e-9)


def test_soft_silhouette_edge_profile_is_a_sigmoid_of_squared_distance():
    # One big triangle whose right edge is the vertical line x_ndc = 0 (world x = 0 maps to ndc 0).
    size, sigma = 32, 1e-3
    verts = torch.tensor([[0.0, -5.0, 0.0], [5.0, 0.0, 0.0], [0.0, 5.0, 0.0]], dtype=D)
    mesh = Meshes([verts], [torch.tensor([[0, 1, 2]])])
    cam = _camera()
    blur = math.log(1.0 / 1e-4 - 1.0) * sigma
    settings = RasterizationSettings(image_size=size, blur_radius=blur, faces_per_pixel=4)
    renderer = MeshRenderer(MeshRasterizer(cam, settings), SoftSilhouetteShader(BlendParams(sigma=sigma)))
    alpha = renderer(mesh)[0, size // 2, :, 3].numpy()
    x = (size - 1 - 2 * np.arange(size)) / size  # NDC x of each column; the triangle covers x > 0
    d2 = x ** 2
    expected = np.where(x > 0, expit(d2 / sigma), expit(-d2 / sigma))
    expected[d2 >= blur] = np.where(x[d2 >= blur] > 0, expected[d2 >= blur], 0.0)
    np.testing.assert_allclose(alpha, expected, atol=1e-9)


def test_softmax_blend_front_colour_wins_and_background_elsewhere():
    near, far = _plane(z=-0.5, half=0.5), _plane(z=0.5, half=1.0)
    scene = Meshes([torch.cat((near.verts_packed(), far.verts_packed()))],
                   [torch.cat((near.faces_packed(), far.faces_packed() + 4))],
                   textures=TexturesVertex([torch.tensor([[1.0, 0, 0]] * 4 + [[0, 0, 1.0]] * 4, dtype=D)]))
    cam = _camera()
    lights = DirectionalLights(direction=((0.0, 0.0, -1.0),), ambient_color=((1.0, 1.0, 1.0),),
                               diffuse_color=((0.0, 0.0, 0.0),), specular_color=((0.0, 0.0, 0.0),))
    blend = BlendParams(sigma=1e-5, gamma=1e-5, background_color=(0.0, 1.0, 0.0))
    settings = RasterizationSettings(image_size=32, blur_radius=1e-5 * math.log(1e4), faces_per_pixel=3)
    img = MeshRenderer(MeshRasterizer(cam, settings), SoftPhongShader(cameras=cam, lights=lights,
                                                                      blend_params=blend))(scene)[0]
    np.testing.assert_allclose(img[16, 16, :3].numpy(), [1, 0, 0], atol=1e-6)  # near red square in front
    np.testing.assert_allclose(img[16, 5, :3].numpy(), [0, 0, 1], atol=1e-6)  # only the far blue plane
    np.testing.assert_allclose(img[0, 0, :3].numpy(), [0, 1, 0], atol=1e-6)  # background
    assert img[0, 0, 3] == 0 and img[16, 16, 3] == pytest.approx(1.0)


def test_hard_blend_background_colour_and_alpha_mask():
    cam = _camera()
    mesh = _plane(half=0.3)
    img = MeshRenderer(MeshRasterizer(cam, RasterizationSettings(image_size=16)),
                       HardPhongShader(cameras=cam, blend_params=BlendParams(background_color=(0.1, 0.2, 0.3))))(mesh)
    np.testing.assert_allclose(img[0, 0, 0].numpy(), [0.1, 0.2, 0.3, 0.0])
    assert img[0, 8, 8, 3] == 1.0


def test_shader_without_cameras_is_a_clear_error():
    frag = MeshRasterizer(_camera(), RasterizationSettings(image_size=8))(_plane())
    with pytest.raises(ValueError, match="cameras"):
        HardPhongShader()(frag, _plane())


def test_soft_phong_gradcheck_float64():
    """Colours, lighting (normals, specular) and soft blending are differentiable w.r.t. the vertices."""
    verts = torch.tensor([[-0.6, -0.5, 0.1], [0.7, -0.4, 0.0], [0.1, 0.6, -0.1], [-0.5, 0.5, 0.2]], dtype=D,
                         requires_grad=True)
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])
    colors = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=D)
    cam = FoVPerspectiveCameras(R=torch.eye(3, dtype=D)[None], T=torch.tensor([[0.0, 0.0, 2.5]], dtype=D))
    gray = lambda v: torch.full((1, 3), v, dtype=D)  # noqa: E731
    lights = PointLights(location=torch.tensor([[0.3, 0.4, -2.0]], dtype=D), ambient_color=gray(0.3),
                         diffuse_color=gray(0.5), specular_color=gray(0.2))
    materials = Materials(ambient_color=gray(1.0), diffuse_color=gray(1.0), specular_color=gray(1.0),
                          shininess=torch.tensor([8.0], dtype=D))
    blend = BlendParams(sigma=0.05, gamma=0.05, background_color=(0.2, 0.3, 0.4))
    renderer = MeshRenderer(MeshRasterizer(cam, RasterizationSettings(image_size=6, blur_radius=0.3,
                                                                      faces_per_pixel=2)),
                            SoftPhongShader(cameras=cam, lights=lights, materials=materials, blend_params=blend))
    weights = torch.rand(1, 6, 6, 4, generator=torch.Generator().manual_seed(0), dtype=D)

    def f(v):
        return (renderer(Meshes([v], [faces], textures=TexturesVertex([colors]))) * weights).sum()

    assert torch.autograd.gradcheck(f, (verts,), eps=1e-6, atol=1e-6)


def test_gouraud_needs_vertex_textures():
    mesh = _plane()
    mesh.textures = TexturesUV(maps=[torch.rand(4, 4, 3, dtype=D)], faces_uvs=[mesh.faces_packed()],
                               verts_uvs=[torch.rand(4, 2, dtype=D)])
    frag = MeshRasterizer(_camera(), RasterizationSettings(image_size=8))(mesh)
    with pytest.raises(ValueError, match="TexturesVertex"):
        HardGouraudShader(cameras=_camera())(frag, mesh)


def test_silhouette_alpha_closed_form_backward_matches_autograd_and_gradcheck():
    """sigmoid_alpha_blend's hand-written backward against autograd of 1 - prod(1 - sigmoid(-d / sigma) * mask),
    with saturated slots (p == 1 in float64 and far outside), empty slots (-1) and a pixel with no face."""
    g = torch.Generator().manual_seed(0)
    sigma = 1e-2
    dists = (torch.rand(2, 3, 4, 5, generator=g, dtype=D) - 0.5) * 0.1
    dists[0, 0, 0, :2] = torch.tensor([-50.0, -0.5], dtype=D)  # p == 1 exactly (and twice)
    dists[0, 0, 1, 0] = 10.0  # p == 0
    p2f = torch.randint(0, 9, dists.shape, generator=g)
    p2f[1, 2, 3] = -1  # an empty pixel
    p2f[0, 1, :, 3:] = -1  # empty slots, dists -1 as the rasterizer leaves them
    dists = torch.where(p2f >= 0, dists, torch.full_like(dists, -1.0))
    w = torch.rand(2, 3, 4, generator=g, dtype=D)

    def ours(d):
        frag = Fragments(p2f, d, d.new_ones(()).expand(d.shape + (3,)), d)
        return sigmoid_alpha_blend(frag.bary_coords, frag, BlendParams(sigma=sigma))[..., 3]

    def reference(d):
        return 1 - torch.prod(1 - torch.sigmoid(-d / sigma) * (p2f >= 0), -1)

    d1, d2 = dists.clone().requires_grad_(True), dists.clone().requires_grad_(True)
    a1, a2 = ours(d1), reference(d2)
    assert torch.equal(a1, a2)
    (a1 * w).sum().backward()
    (a2 * w).sum().backward()
    torch.testing.assert_close(d1.grad, d2.grad, rtol=1e-12, atol=1e-12)
    assert float(d1.grad[0, 0, 0].abs().max()) == 0.0  # a saturated face makes the pixel flat
    assert torch.autograd.gradcheck(lambda d: (ours(d) * w).sum(), (dists.clone().requires_grad_(True),))
