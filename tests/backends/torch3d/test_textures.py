"""Texture sampling against known textures and numpy interpolation; the textured cow end to end."""

import numpy as np
import pytest
import torch

from bench.backends.torch3d.io import load_objs_as_meshes
from bench.backends.torch3d.renderer import (
    FoVPerspectiveCameras,
    Fragments,
    MeshRasterizer,
    MeshRenderer,
    PointLights,
    RasterizationSettings,
    SoftPhongShader,
    TexturesAtlas,
    TexturesUV,
    TexturesVertex,
    look_at_view_transform,
)
from bench.data.assets import COW_OBJ as COW  # the copy shipped as package data

D = torch.float64


def _fragments(pix_to_face, bary):
    z = torch.ones(pix_to_face.shape, dtype=D)
    return Fragments(pix_to_face=pix_to_face, zbuf=z, bary_coords=bary, dists=z)


def _random_fragments(n_faces, shape=(1, 5, 6, 2), seed=0):
    g = torch.Generator().manual_seed(seed)
    p2f = torch.randint(-1, n_faces, shape, generator=g)
    bary = torch.rand(shape + (3,), generator=g, dtype=D)
    return p2f, bary / bary.sum(-1, keepdim=True)


def test_textures_vertex_is_barycentric_interpolation():
    feats = torch.rand(6, 4, dtype=D)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5], [0, 2, 4]])
    p2f, bary = _random_fragments(3)
    out = TexturesVertex([feats]).sample_textures(_fragments(p2f, bary), faces_packed=faces).numpy()
    f, b = p2f.numpy(), bary.numpy()
    for idx in np.ndindex(f.shape):
        ref = np.zeros(4) if f[idx] < 0 else b[idx] @ feats.numpy()[faces.numpy()[f[idx]]]
        np.testing.assert_allclose(out[idx], ref, atol=1e-12)


def _uv_ramp(h=9, w=13):
    """A map whose texel at row i, column j stores its own (u, v); row 0 is the top (v = 1)."""
    u = np.linspace(0.0, 1.0, w)[None, :].repeat(h, 0)
    v = np.linspace(1.0, 0.0, h)[:, None].repeat(w, 1)
    return torch.tensor(np.stack((u, v, np.zeros_like(u)), -1))


def test_textures_uv_bilinear_sampling_returns_the_uv_of_a_linear_ramp():
    verts_uvs = torch.tensor([[0.1, 0.2], [0.9, 0.15], [0.5, 0.95], [0.05, 0.9]], dtype=D)
    faces_uvs = torch.tensor([[0, 1, 2], [0, 2, 3]])
    p2f, bary = _random_fragments(2, seed=1)
    tex = TexturesUV(maps=_uv_ramp()[None], faces_uvs=faces_uvs[None], verts_uvs=verts_uvs[None])
    out = tex.sample_textures(_fragments(p2f, bary)).numpy()
    f, b = p2f.numpy(), bary.numpy()
    for idx in np.ndindex(f.shape):
        if f[idx] >= 0:
            uv = b[idx] @ verts_uvs.numpy()[faces_uvs.numpy()[f[idx]]]
            np.testing.assert_allclose(out[idx][:2], uv, atol=1e-12)


def test_textures_uv_hits_texel_centres_exactly():
    g = torch.Generator().manual_seed(3)
    h, w = 6, 10
    image = torch.rand(h, w, 3, generator=g, dtype=D)
    rows, cols = torch.tensor([0, 5, 2, 3]), torch.tensor([0, 9, 4, 7])
    # align_corners=True: texel (i, j) sits at u = j / (w - 1), v = 1 - i / (h - 1).
    verts_uvs = torch.stack((cols / (w - 1), 1 - rows / (h - 1)), -1).to(D)
    faces_uvs = torch.tensor([[0, 1, 2], [3, 2, 1]])
    tex = TexturesUV(maps=[image], faces_uvs=[faces_uvs], verts_uvs=[verts_uvs])
    p2f = torch.tensor([0, 0, 0, 1]).view(1, 1, 4, 1)
    bary = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=D).view(1, 1, 4, 1, 3)
    out = tex.sample_textures(_fragments(p2f, bary))[0, 0, :, 0].numpy()
    # Equal up to the rounding of the uv -> texel index mapping.
    np.testing.assert_allclose(out, image[rows, cols].numpy(), atol=1e-6)


def test_textures_atlas_reads_the_barycentric_cell():
    r = 4
    atlas = torch.rand(3, r, r, 2, generator=torch.Generator().manual_seed(5), dtype=D)
    p2f, bary = _random_fragments(3, seed=2)
    out = TexturesAtlas([atlas]).sample_textures(_fragments(p2f, bary)).numpy()
    f, b = p2f.numpy(), bary.numpy()
    for idx in np.ndindex(f.shape):
        if f[idx] < 0:
            np.testing.assert_array_equal(out[idx], 0.0)
        else:
            row, col = min(int(b[idx][1] * r), r - 1), min(int(b[idx][0] * r), r - 1)
            np.testing.assert_array_equal(out[idx], atlas[f[idx], row, col].numpy())


def test_textures_batch_operations():
    maps = torch.rand(2, 4, 4, 3)
    tex = TexturesUV(maps=maps, faces_uvs=torch.zeros(2, 1, 3, dtype=torch.long), verts_uvs=torch.rand(2, 3, 2))
    ext = tex.extend(3)
    assert len(ext) == 6 and torch.equal(ext.maps_padded()[3], maps[1])
    assert torch.equal(tex[1].maps_padded()[0], maps[1])
    assert len(tex.join_batch([tex[0]])) == 3
    tv = TexturesVertex([torch.rand(3, 3), torch.rand(5, 3)])
    assert tv.verts_features_padded().shape == (2, 5, 3) and len(tv.extend(2)) == 4
    assert torch.equal(tv[1].verts_features_packed(), tv.verts_features_list()[1])


def test_bad_texture_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="faces_uvs"):
        TexturesUV(maps=[torch.rand(4, 4, 3)], faces_uvs=[torch.tensor([[0, 1, 7]])], verts_uvs=[torch.rand(3, 2)])
    with pytest.raises(ValueError, match="verts_features"):
        TexturesVertex(torch.rand(3, 3))


def test_cow_renders_with_its_uv_texture():
    cow = load_objs_as_meshes([COW])
    assert isinstance(cow.textures, TexturesUV)
    R, T = look_at_view_transform(2.7, 0.0, 180.0)
    cam = FoVPerspectiveCameras(R=R, T=T)
    settings = RasterizationSettings(image_size=96, blur_radius=0.0, faces_per_pixel=1)
    lights = PointLights(location=[[0.0, 0.0, -3.0]])
    img = MeshRenderer(MeshRasterizer(cam, settings), SoftPhongShader(cameras=cam, lights=lights))(cow)[0]
    fg = img[..., 3] > 0.5
    coverage = float(fg.float().mean())
    assert 0.1 < coverage < 0.6  # the cow fills a good part of the frame, not all of it
    rgb = img[..., :3][fg]
    # The texture is brown/white patterned: not one flat colour, not the white background.
    assert float(rgb.std(0).mean()) > 0.05
    assert float(rgb.mean()) < 0.9
    np.testing.assert_allclose(img[0, 0, :3].numpy(), [1.0, 1.0, 1.0])
