"""mesh_edge_loss, mesh_normal_consistency, mesh_laplacian_smoothing against naive loops and closed forms."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
import torch

from bench.backends.torch3d.loss import mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency
from bench.backends.torch3d.structures import Meshes
from bench.backends.torch3d.utils import ico_sphere, torus


def _edges(faces):
    return sorted({tuple(sorted((int(f[a]), int(f[b])))) for f in faces for a, b in ((0, 1), (1, 2), (2, 0))})


def _batch(dtype=torch.float32, small: bool = False) -> Meshes:
    g = torch.Generator().manual_seed(3)
    a, b = (ico_sphere(0), torus(0.3, 1.0, 3, 4)) if small else (ico_sphere(1), torus(0.3, 1.0, 5, 6))
    verts = [m.verts_packed().to(dtype) + 0.05 * torch.randn(m.verts_packed().shape, generator=g, dtype=dtype)
             for m in (a, b)]
    return Meshes(verts, [a.faces_packed(), b.faces_packed()])


def _naive_edge_loss(meshes, target):
    per = []
    for v, f in zip(meshes.verts_list(), meshes.faces_list(), strict=False):
        v = v.double().numpy()
        per.append(np.mean([(np.linalg.norm(v[i] - v[j]) - target) ** 2 for i, j in _edges(f.tolist())]))
    return float(np.mean(per))


def _naive_normal_consistency(meshes):
    per = []
    for v, f in zip(meshes.verts_list(), meshes.faces_list(), strict=False):
        v = v.double().numpy()
        by_edge = defaultdict(list)
        for face in f.tolist():
            for k in range(3):
                e = tuple(sorted(face[j] for j in range(3) if j != k))
                by_edge[e].append(face[k])
        terms = []
        for (i, j), thirds in by_edge.items():
            for a in range(len(thirds)):
                for b in range(a + 1, len(thirds)):
                    na = np.cross(v[j] - v[i], v[thirds[a]] - v[i])
                    nb = -np.cross(v[j] - v[i], v[thirds[b]] - v[i])
                    terms.append(1 - na @ nb / (np.linalg.norm(na) * np.linalg.norm(nb)))
        per.append(np.mean(terms))
    return float(np.mean(per))


def _cot_weights(v, faces):
    """Dense cotangent weights from the angles (arccos), and per-vertex summed face areas."""
    V = len(v)
    W, area = np.zeros((V, V)), np.zeros(V)
    for f in faces:
        for k in range(3):
            i, j, o = f[(k + 1) % 3], f[(k + 2) % 3], f[k]
            a, b = v[i] - v[o], v[j] - v[o]
            angle = math.acos(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
            W[i, j] += 1 / math.tan(angle)
            W[j, i] += 1 / math.tan(angle)
        ar = 0.5 * np.linalg.norm(np.cross(v[f[1]] - v[f[0]], v[f[2]] - v[f[0]]))
        area[list(f)] += ar
    return W, area


def _naive_laplacian(meshes, method, weight_verts=None):
    """Per-mesh mean of |L v| over vertices, then the mean over meshes; weights may come from other verts."""
    per = []
    wv_list = weight_verts or meshes.verts_list()
    for v, wv, f in zip(meshes.verts_list(), wv_list, meshes.faces_list(), strict=False):
        v, wv, f = v.double().numpy(), wv.double().numpy(), f.tolist()
        if method == "uniform":
            nbrs = defaultdict(set)
            for i, j in _edges(f):
                nbrs[i].add(j)
                nbrs[j].add(i)
            lv = np.stack([v[list(nbrs[i])].mean(0) - v[i] for i in range(len(v))])
        else:
            W, area = _cot_weights(wv, f)
            if method == "cot":
                lv = (W @ v) / W.sum(1, keepdims=True) - v
            else:
                lv = (W @ v - W.sum(1, keepdims=True) * v) * 0.25 / area[:, None]
        per.append(np.linalg.norm(lv, axis=1).mean())
    return float(np.mean(per))


@pytest.mark.parametrize("target", [0.0, 0.3])
def test_edge_loss_matches_naive(target):
    m = _batch()
    assert float(mesh_edge_loss(m, target)) == pytest.approx(_naive_edge_loss(m, target), rel=1e-5)


def test_normal_consistency_matches_naive_and_ignores_winding():
    m = _batch()
    ref = _naive_normal_consistency(m)
    assert float(mesh_normal_consistency(m)) == pytest.approx(ref, rel=1e-5)
    flipped = [f.clone() for f in m.faces_list()]
    for f in flipped:
        f[::2] = f[::2].flip(1)
    assert float(mesh_normal_consistency(Meshes(m.verts_list(), flipped))) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("theta", [0.0, 0.4, 1.3, 2.5])
def test_normal_consistency_hinge_closed_form(theta):
    # Two triangles on the edge (0,0,0)-(1,0,0), the second folded by theta about the x axis.
    verts = torch.tensor([[0, 0, 0], [1, 0, 0], [0.5, 1, 0], [0.5, -math.cos(theta), -math.sin(theta)]],
                         dtype=torch.float64)
    m = Meshes([verts], [torch.tensor([[0, 1, 2], [1, 0, 3]])])
    assert float(mesh_normal_consistency(m)) == pytest.approx(1 - math.cos(theta), abs=1e-9)


def test_normal_consistency_non_manifold_edge_uses_all_pairs():
    verts = torch.tensor([[0, 0, 0], [1, 0, 0], [0.5, 1, 0], [0.5, -1, 0], [0.5, 0, 1]], dtype=torch.float64)
    m = Meshes([verts], [torch.tensor([[0, 1, 2], [1, 0, 3], [0, 1, 4]])])
    assert float(mesh_normal_consistency(m)) == pytest.approx(_naive_normal_consistency(m), rel=1e-9)


@pytest.mark.parametrize("method", ["uniform", "cot", "cotcurv"])
def test_laplacian_smoothing_matches_naive(method):
    m = _batch()
    assert float(mesh_laplacian_smoothing(m, method)) == pytest.approx(_naive_laplacian(m, method), rel=1e-4)


def test_gradcheck_edge_normal_uniform():
    m = _batch(torch.float64, small=True)
    faces = m.faces_list()
    verts = [v.clone().requires_grad_(True) for v in m.verts_list()]
    fns = [lambda a, b: mesh_edge_loss(Meshes([a, b], faces), 0.2),
           lambda a, b: mesh_normal_consistency(Meshes([a, b], faces)),
           lambda a, b: mesh_laplacian_smoothing(Meshes([a, b], faces), "uniform")]
    for fn in fns:
        assert torch.autograd.gradcheck(fn, tuple(verts), fast_mode=True)


@pytest.mark.parametrize("method", ["cot", "cotcurv"])
def test_cot_gradient_holds_weights_fixed(method):
    # As in PyTorch3D, cotangent weights carry no gradient: compare with finite differences of the
    # naive loss whose weights come from the unperturbed vertices.
    m = _batch(torch.float64)[1]
    v0 = m.verts_packed().clone().requires_grad_(True)
    loss = mesh_laplacian_smoothing(Meshes([v0], m.faces_list()), method)
    (grad,) = torch.autograd.grad(loss, v0)
    h, idx = 1e-6, [(0, 0), (3, 1), (7, 2), (11, 0)]
    for i, c in idx:
        vp, vm = m.verts_packed().clone(), m.verts_packed().clone()
        vp[i, c] += h
        vm[i, c] -= h
        fp = _naive_laplacian(Meshes([vp], m.faces_list()), method, weight_verts=m.verts_list())
        fm = _naive_laplacian(Meshes([vm], m.faces_list()), method, weight_verts=m.verts_list())
        assert float(grad[i, c]) == pytest.approx((fp - fm) / (2 * h), rel=1e-4, abs=1e-7)


def test_empty_meshes_give_zero_and_bad_method_is_an_error():
    empty = Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.long)])
    for fn in (mesh_edge_loss, mesh_normal_consistency, mesh_laplacian_smoothing):
        assert float(fn(empty).detach()) == 0.0
    with pytest.raises(ValueError, match="method"):
        mesh_laplacian_smoothing(ico_sphere(0), "harmonic")
    with pytest.raises(ValueError, match="Meshes"):
        mesh_edge_loss(torch.zeros(3, 3))
