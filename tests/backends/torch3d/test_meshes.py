"""Meshes: list/padded/packed views, edges, normals, updates and indexing against naive loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.backends.torch3d.structures import Meshes, join_meshes_as_batch, join_meshes_as_scene


def _random_mesh(nv: int, nf: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    verts = torch.randn(nv, 3, generator=g)
    faces = torch.stack([torch.randperm(nv, generator=g)[:3] for _ in range(nf)])
    return verts, faces


@pytest.fixture
def batch() -> Meshes:
    parts = [_random_mesh(5, 4, 0), _random_mesh(9, 12, 1), _random_mesh(3, 1, 2)]
    return Meshes([p[0] for p in parts], [p[1] for p in parts])


def test_packed_padded_list_agree(batch):
    vl, fl = batch.verts_list(), batch.faces_list()
    assert batch.num_verts_per_mesh().tolist() == [5, 9, 3]
    assert batch.num_faces_per_mesh().tolist() == [4, 12, 1]
    assert batch.mesh_to_verts_packed_first_idx().tolist() == [0, 5, 14]
    assert batch.mesh_to_faces_packed_first_idx().tolist() == [0, 4, 16]
    vp, fp = batch.verts_packed(), batch.faces_packed()
    vpad, fpad = batch.verts_padded(), batch.faces_padded()
    assert vpad.shape == (3, 9, 3) and fpad.shape == (3, 12, 3)
    v2m, f2m = batch.verts_packed_to_mesh_idx().tolist(), batch.faces_packed_to_mesh_idx().tolist()
    row_v = row_f = 0
    for i, (v, f) in enumerate(zip(vl, fl, strict=False)):
        for j in range(len(v)):
            assert torch.equal(vp[row_v], v[j]) and v2m[row_v] == i
            row_v += 1
        for j in range(len(f)):
            # packed faces index packed verts: same coordinates as the mesh's own face
            assert torch.equal(vp[fp[row_f]], v[f[j]]) and f2m[row_f] == i
            row_f += 1
        assert torch.equal(vpad[i, :len(v)], v) and (vpad[i, len(v):] == 0).all()
        assert torch.equal(fpad[i, :len(f)], f) and (fpad[i, len(f):] == -1).all()
    flat = vpad.reshape(-1, 3)[batch.verts_padded_to_packed_idx()]
    assert torch.equal(flat, vp)


def test_padded_input_drops_minus_one_faces():
    verts = torch.randn(2, 4, 3)
    faces = torch.tensor([[[0, 1, 2], [1, 2, 3]], [[0, 1, 3], [-1, -1, -1]]])
    m = Meshes(verts, faces)
    assert m.num_faces_per_mesh().tolist() == [2, 1]
    assert m.num_verts_per_mesh().tolist() == [4, 4]
    assert torch.equal(m.faces_packed()[2], torch.tensor([4, 5, 7]))
    assert m.verts_padded() is verts


def test_edges_match_naive_set(batch):
    edges = batch.edges_packed()
    fp = batch.faces_packed()
    naive = sorted({tuple(sorted((int(f[a]), int(f[b])))) for f in fp for a, b in ((0, 1), (1, 2), (2, 0))})
    assert [tuple(e) for e in edges.tolist()] == naive
    f2e = batch.faces_packed_to_edges_packed()
    for f, fe in zip(fp.tolist(), f2e.tolist(), strict=False):
        for k in range(3):  # edge k is opposite corner k
            other = sorted(f[j] for j in range(3) if j != k)
            assert edges[fe[k]].tolist() == other
    e2m = batch.edges_packed_to_mesh_idx().tolist()
    v2m = batch.verts_packed_to_mesh_idx()
    assert e2m == [int(v2m[a]) for a, _ in naive]
    assert batch.num_edges_per_mesh().tolist() == [e2m.count(i) for i in range(3)]


def test_normals_and_areas_match_numpy(batch):
    v = batch.verts_packed().double().numpy()
    f = batch.faces_packed().numpy()
    cross = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    np.testing.assert_allclose(batch.faces_areas_packed().numpy(), area, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch.faces_normals_packed().numpy(), cross / (2 * area[:, None]), atol=1e-5)
    vn = np.zeros_like(v)
    for face, c in zip(f, cross, strict=False):
        for idx in face:
            vn[idx] += c
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-6)
    np.testing.assert_allclose(batch.verts_normals_packed().numpy(), vn, atol=1e-5)
    for _i, (n, nl) in enumerate(zip(batch.verts_normals_padded(), batch.verts_normals_list(), strict=False)):
        assert torch.equal(n[:len(nl)], nl)
    assert torch.equal(torch.cat(batch.faces_normals_list()), batch.faces_normals_packed())


def test_laplacian_packed_matches_dense(batch):
    V = len(batch.verts_packed())
    nbrs = {i: set() for i in range(V)}
    for a, b in batch.edges_packed().tolist():
        nbrs[a].add(b)
        nbrs[b].add(a)
    dense = np.zeros((V, V))
    for i, ns in nbrs.items():
        dense[i, i] = -1
        for j in ns:
            dense[i, j] = 1 / len(ns)
    np.testing.assert_allclose(batch.laplacian_packed().to_dense().numpy(), dense, atol=1e-6)


def test_offset_and_scale_verts_are_differentiable(batch):
    offsets = torch.randn_like(batch.verts_packed(), requires_grad=True)
    moved = batch.offset_verts(offsets)
    assert torch.allclose(moved.verts_packed(), batch.verts_packed() + offsets)
    assert torch.allclose(moved.verts_padded()[1, :9], batch.verts_list()[1] + offsets[5:14])
    moved.verts_padded().sum().backward()
    assert torch.equal(offsets.grad, torch.ones_like(offsets))
    scaled = batch.scale_verts(torch.tensor([1.0, 2.0, 3.0]))
    for s, a, b in zip([1.0, 2.0, 3.0], scaled.verts_list(), batch.verts_list(), strict=False):
        assert torch.allclose(a, s * b)
    with pytest.raises(ValueError, match="vert_offsets_packed"):
        batch.offset_verts(torch.zeros(2, 3))


def test_offset_in_place_refreshes_cached_normals(batch):
    before = batch.verts_normals_packed().clone()
    batch.offset_verts_(torch.randn_like(batch.verts_packed()))
    assert not torch.allclose(before, batch.verts_normals_packed())


def test_update_padded_keeps_topology(batch):
    new = batch.verts_padded() * 2
    m = batch.update_padded(new)
    assert torch.equal(m.faces_packed(), batch.faces_packed())
    assert torch.allclose(m.verts_packed(), 2 * batch.verts_packed())
    with pytest.raises(ValueError, match="update_padded"):
        batch.update_padded(new[:, :3])


def test_clone_detach_getitem_extend(batch):
    c = batch.clone()
    c.verts_list()[0].add_(1)
    assert not torch.equal(c.verts_list()[0], batch.verts_list()[0])
    sub = batch[[2, 0]]
    assert sub.num_verts_per_mesh().tolist() == [3, 5]
    assert torch.equal(batch[1].verts_packed(), batch.verts_list()[1])
    assert len(batch[torch.tensor([True, False, True])]) == 2
    assert len(batch[1:]) == 2
    ext = batch.extend(2)
    assert ext.num_faces_per_mesh().tolist() == [4, 4, 12, 12, 1, 1]
    v = batch.verts_list()[0].clone().requires_grad_(True)
    assert not Meshes([v], [batch.faces_list()[0]]).detach().verts_packed().requires_grad
    verts, faces = batch.get_mesh_verts_faces(2)
    assert torch.equal(verts, batch.verts_list()[2]) and torch.equal(faces, batch.faces_list()[2])


def test_join_batch_and_scene(batch):
    joined = join_meshes_as_batch([batch, batch[0]])
    assert len(joined) == 4 and joined.num_faces_per_mesh().tolist() == [4, 12, 1, 4]
    scene = join_meshes_as_scene(batch)
    assert len(scene) == 1
    assert torch.equal(scene.verts_packed(), batch.verts_packed())
    assert torch.equal(scene.faces_packed(), batch.faces_packed())


def test_empty_meshes():
    m = Meshes([torch.randn(4, 3), torch.zeros(0, 3)], [torch.tensor([[0, 1, 2]]), torch.zeros(0, 3, dtype=torch.long)])
    assert m.valid.tolist() == [True, False] and not m.isempty()
    assert Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.long)]).isempty()
    assert len(Meshes([], [])) == 0 and Meshes([], []).isempty()


@pytest.mark.parametrize("verts,faces,match", [
    ([torch.zeros(3, 3)], [torch.tensor([[0, 1, 3]])], "face indices"),
    ([torch.zeros(3, 3)], [torch.tensor([[0, -1, 2]])], "face indices"),
    ([torch.zeros(3, 2)], [torch.tensor([[0, 1, 2]])], r"verts\[0\]"),
    ([torch.zeros(3, 3)], [torch.tensor([[0, 1, 2, 0]])], r"faces\[0\]"),
    ([torch.zeros(3, 3)], [torch.tensor([[0.0, 1, 2]])], "integer"),
    ([torch.zeros(3, 3)], [], "verts tensors"),
])
def test_bad_input_is_a_clear_error(verts, faces, match):
    with pytest.raises(ValueError, match=match):
        Meshes(verts, faces)


def test_heterogeneous_padded_roundtrip():
    sizes = [(4, 2), (7, 5), (3, 1)]
    parts = [_random_mesh(v, f, s) for s, (v, f) in enumerate(sizes)]
    a = Meshes([p[0] for p in parts], [p[1] for p in parts])
    b = Meshes(a.verts_padded(), a.faces_padded())
    # padded input keeps all V padded verts per mesh but the same faces
    assert b.num_faces_per_mesh().tolist() == [f for _, f in sizes]
    for i in range(3):
        fa, fb = a.faces_list()[i], b.faces_list()[i]
        assert torch.equal(a.verts_list()[i][fa], b.verts_list()[i][fb])
