"""GraphConv and vert_align against naive loops and closed forms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.backends.torch3d.ops import GraphConv, vert_align
from bench.backends.torch3d.structures import Meshes, Pointclouds
from bench.backends.torch3d.utils import ico_sphere


@pytest.mark.parametrize("directed", [False, True])
def test_graph_conv_matches_loop(directed):
    torch.manual_seed(0)
    conv = GraphConv(4, 3, directed=directed)
    x = torch.randn(6, 4, dtype=torch.float64)
    conv = conv.double()
    edges = torch.tensor([[0, 1], [1, 2], [2, 3], [0, 5], [4, 5]])
    out = conv(x, edges)
    ref = conv.w0(x).clone()
    for a, b in edges.tolist():
        ref[a] += conv.w1(x[b])
        if not directed:
            ref[b] += conv.w1(x[a])
    assert torch.allclose(out, ref)
    assert torch.autograd.gradcheck(lambda t: conv(t, edges), (x.clone().requires_grad_(True),))


def test_graph_conv_init_and_empty():
    torch.manual_seed(0)
    conv = GraphConv(64, 64)
    assert conv.w0.weight.std().item() == pytest.approx(0.01, rel=0.1) and (conv.w0.bias == 0).all()
    assert (GraphConv(3, 2, init="zero").w1.weight == 0).all()
    assert GraphConv(3, 2)(torch.zeros(0, 3), torch.zeros(0, 2, dtype=torch.long)).shape == (0, 2)
    with pytest.raises(ValueError, match="init"):
        GraphConv(3, 2, init="xavier")
    mesh = ico_sphere(1)
    assert GraphConv(3, 5)(mesh.verts_packed(), mesh.edges_packed()).shape == (42, 5)


def test_vert_align_samples_a_linear_ramp():
    # feature = a*x + b*y over [-1, 1]^2 with align_corners=True is reproduced exactly by bilinear sampling
    H, W = 7, 9
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
    feats = torch.stack([2 * xs - ys, xs + 3 * ys])[None].repeat(2, 1, 1, 1)
    verts = torch.rand(2, 10, 3) * 1.8 - 0.9
    out = vert_align(feats, verts)
    ref = torch.stack([2 * verts[..., 0] - verts[..., 1], verts[..., 0] + 3 * verts[..., 1]], -1)
    assert out.shape == (2, 10, 2) and torch.allclose(out, ref, atol=1e-5)
    both = vert_align([feats, feats[:, :1]], verts)
    assert torch.allclose(both, torch.cat([ref, ref[..., :1]], -1), atol=1e-5)


def test_vert_align_packed_for_meshes_and_pointclouds():
    feats = torch.randn(2, 3, 5, 5)
    m = Meshes([torch.rand(4, 3) - 0.5, torch.rand(6, 3) - 0.5], [torch.tensor([[0, 1, 2]]), torch.tensor([[0, 1, 2]])])
    packed = vert_align(feats, m, return_packed=True)
    assert packed.shape == (10, 3)
    for i, v in enumerate(m.verts_list()):
        ref = F.grid_sample(feats[i:i + 1], v[None, None, :, :2], align_corners=True)[0, :, 0].t()
        start = int(m.mesh_to_verts_packed_first_idx()[i])
        assert torch.allclose(packed[start:start + len(v)], ref, atol=1e-6)
    pc = Pointclouds(m.verts_list())
    assert torch.allclose(vert_align(feats, pc, return_packed=True), packed)
    with pytest.raises(ValueError, match="batch"):
        vert_align(feats[:1], m)
