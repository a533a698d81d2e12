"""Conformance: structures, point sampling, Chamfer, knn, mesh losses (built-in vs real PyTorch3D)."""

from __future__ import annotations

import math

import pytest
import torch

from tests.backends.conformance.common import DTYPES, assert_same, close, gen, pair, run_both

pytestmark = pytest.mark.pytorch3d


def _hetero_meshes(t3d, dtype=torch.float32, leaves=None):
    """Two meshes of different sizes (ico_sphere(1) scaled/shifted, a perturbed ico_sphere(2))."""
    s1, s2 = t3d.utils.ico_sphere(1), t3d.utils.ico_sphere(2)
    if leaves is None:
        v1 = s1.verts_packed().to(dtype) * 0.7 + 0.1
        v2 = s2.verts_packed().to(dtype) * (1 + 0.1 * torch.rand(len(s2.verts_packed()), 1, generator=gen(3),
                                                                 dtype=dtype))
        leaves = [v1, v2]
    return t3d.structures.Meshes(verts=leaves, faces=[s1.faces_packed(), s2.faces_packed()])


def test_ico_sphere_levels_and_torus_are_bit_identical():
    """Same vertices and faces in the same order: with the same seed, sampling then draws the same points
    (the torus's faces were in another order before: mesh_fitting's torus cases differed by up to 8%)."""
    ours, ref = pair()
    for level in range(5):
        a, b = ours.utils.ico_sphere(level), ref.utils.ico_sphere(level)
        assert torch.equal(a.verts_packed(), b.verts_packed()) and torch.equal(a.faces_packed(), b.faces_packed())
    for args in ((0.35, 0.75, 24, 48), (1.0, 2.0, 3, 5)):
        a, b = ours.utils.torus(*args), ref.utils.torus(*args)
        assert torch.equal(a.verts_packed(), b.verts_packed()) and torch.equal(a.faces_packed(), b.faces_packed())
    torch.manual_seed(0)
    pa = ours.ops.sample_points_from_meshes(ours.utils.torus(0.35, 0.75, 24, 48), 500)
    torch.manual_seed(0)
    pb = ref.ops.sample_points_from_meshes(ref.utils.torus(0.35, 0.75, 24, 48), 500)
    close(pa, pb)  # the same RNG calls in the same order: the same samples


def test_meshes_packed_padded_views_and_offset_verts():
    ours, ref = pair()
    m1, m2 = _hetero_meshes(ours), _hetero_meshes(ref)
    # index bookkeeping is exact: integers and copies of the same floats
    for name in ("verts_packed", "faces_packed", "verts_padded", "faces_padded", "edges_packed",
                 "num_verts_per_mesh", "num_faces_per_mesh", "mesh_to_verts_packed_first_idx",
                 "verts_packed_to_mesh_idx", "faces_packed_to_edges_packed", "faces_packed_to_mesh_idx",
                 "verts_padded_to_packed_idx", "edges_packed_to_mesh_idx"):
        a, b = getattr(m1, name)(), getattr(m2, name)()
        assert torch.equal(a, b), name
    for name in ("verts_normals_packed", "faces_normals_packed", "faces_areas_packed", "verts_normals_padded"):
        close(getattr(m1, name)(), getattr(m2, name)(), msg=name)
    off = torch.randn(len(m1.verts_packed()), 3, generator=gen(1))
    assert torch.equal(m1.offset_verts(off).verts_padded(), m2.offset_verts(off).verts_padded())
    assert torch.equal(m1.offset_verts(torch.tensor([0.1, -0.2, 0.3])).verts_packed(),
                       m2.offset_verts(torch.tensor([0.1, -0.2, 0.3])).verts_packed())


def test_pointclouds_packed_padded_views():
    ours, ref = pair()
    g = gen(2)
    pts = [torch.randn(50, 3, generator=g), torch.randn(17, 3, generator=g)]
    feats = [torch.rand(50, 4, generator=g), torch.rand(17, 4, generator=g)]
    a = ours.structures.Pointclouds(points=pts, features=feats)
    b = ref.structures.Pointclouds(points=pts, features=feats)
    for name in ("points_packed", "points_padded", "features_packed", "features_padded", "num_points_per_cloud",
                 "packed_to_cloud_idx", "cloud_to_packed_first_idx", "padded_to_packed_idx"):
        assert torch.equal(getattr(a, name)(), getattr(b, name)()), name
    close(a.get_bounding_boxes(), b.get_bounding_boxes())


def test_sample_points_from_meshes_distribution():
    """The RNG streams differ, so compare distributions: per-face hit frequencies (chi-square against the
    area-proportional law on both backends) and the barycentric moments. With n = 40 000 samples per mesh a
    face's frequency has standard error sqrt(p(1-p)/n); the bound 5 standard errors fails by chance with
    probability < 1e-6 per face."""
    n = 40_000
    freq, moments = [], []
    for i, t3d in enumerate(pair()):
        torch.manual_seed(100 + i)
        mesh = _hetero_meshes(t3d)
        pts, normals = t3d.ops.sample_points_from_meshes(mesh, n, return_normals=True)
        assert pts.shape == (2, n, 3) and normals.shape == (2, n, 3)
        # assign each sample of mesh 1 (ico_sphere(2), 320 faces) to its nearest face centroid
        v, f = mesh.verts_list()[1], mesh.faces_list()[1]
        cent = v[f].mean(1)
        face = torch.cdist(pts[1], cent).argmin(1)
        freq.append(torch.bincount(face, minlength=len(f)).double() / n)
        area = mesh.faces_areas_packed()[mesh.mesh_to_faces_packed_first_idx()[1]:].double()
        # on-surface: every normal equals its face's normal
        close(normals[1].norm(dim=1), torch.ones(n), scale=10)
        moments.append((pts.mean(1), (area / area.sum())))
    p = moments[1][1]
    se = (p * (1 - p) / n).sqrt()
    for fr in freq:
        assert float(((fr - p).abs() / se).max()) < 5.0
    se_mean = 2.0 / math.sqrt(n)  # coordinates within [-1.2, 1.2]: sd < 1.2, so 5 se < 2.0 / sqrt(n) * 3
    torch.testing.assert_close(moments[0][0], moments[1][0], atol=3 * se_mean, rtol=0)


def test_sample_points_from_meshes_same_seed_same_samples():
    """On the CPU both draw faces with one ``multinomial`` over the same float32 areas, then two uniforms
    (u, v) per sample, so the same seed gives bit-identical samples and normals (this is what lets a suite
    start from the same sampled targets on both backends; the built-in's faster gather must keep it)."""
    out = []
    for t3d in pair():
        torch.manual_seed(7)
        out.append(t3d.ops.sample_points_from_meshes(_hetero_meshes(t3d), 3000, return_normals=True))
    for a, b in zip(*out, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32])  # PyTorch3D's Chamfer uses its float32-only CPU knn
def test_chamfer_distance_variants(dtype):
    g = gen(5)
    x, y = torch.randn(3, 120, 3, generator=g, dtype=dtype), torch.randn(3, 90, 3, generator=g, dtype=dtype)
    xn = torch.nn.functional.normalize(torch.randn(3, 120, 3, generator=g, dtype=dtype), dim=-1)
    yn = torch.nn.functional.normalize(torch.randn(3, 90, 3, generator=g, dtype=dtype), dim=-1)
    lx, ly = torch.tensor([120, 60, 7]), torch.tensor([90, 90, 33])
    weights = torch.tensor([0.5, 1.0, 2.0], dtype=dtype)
    variants = [{}, {"x_lengths": lx, "y_lengths": ly}, {"norm": 1}, {"weights": weights},
                {"batch_reduction": "sum"}, {"batch_reduction": None}, {"point_reduction": "sum"},
                {"point_reduction": None, "batch_reduction": None}, {"single_directional": True},
                {"single_directional": True, "point_reduction": None, "batch_reduction": None, "x_lengths": lx},
                {"abs_cosine": False}, {"point_reduction": "max"}]
    for t3d in pair():  # both refuse a point-wise result reduced over the batch
        with pytest.raises(ValueError):
            t3d.loss.chamfer_distance(x, y, point_reduction=None)
        with pytest.raises(ValueError):  # and normals with the max reduction
            t3d.loss.chamfer_distance(x, y, x_normals=xn, y_normals=yn, point_reduction="max")
    for kw in variants:
        for with_normals in (False, True) if kw.get("point_reduction") != "max" else (False,):
            def fn(t3d, leaves, kw=kw, with_normals=with_normals):
                extra = {"x_normals": leaves[2], "y_normals": leaves[3]} if with_normals else {}
                loss, loss_n = t3d.loss.chamfer_distance(leaves[0], leaves[1], **kw, **extra)
                if isinstance(loss, tuple):
                    loss = torch.cat([loss[0].flatten(), loss[1].flatten()])
                if loss_n is not None:
                    loss_n = torch.cat([t.flatten() for t in loss_n]) if isinstance(loss_n, tuple) else loss_n
                    return torch.cat([loss.flatten(), loss_n.flatten()])
                return loss.flatten()

            assert_same(fn, [x, y, xn, yn], dtype, msg=f"chamfer {kw} normals={with_normals}")


@pytest.mark.parametrize("dtype", [torch.float32])  # PyTorch3D's CPU knn is float32 only
def test_knn_points(dtype):
    g = gen(6)
    p1, p2 = torch.randn(2, 80, 3, generator=g, dtype=dtype), torch.randn(2, 110, 3, generator=g, dtype=dtype)
    l1, l2 = torch.tensor([80, 31]), torch.tensor([110, 45])
    for kw in ({"K": 1}, {"K": 5}, {"K": 4, "lengths1": l1, "lengths2": l2}, {"K": 3, "norm": 1}):
        a, b = (t3d.ops.knn_points(p1, p2, **kw, return_nn=True) for t3d in pair())
        assert torch.equal(a.idx, b.idx), kw
        close(a.dists, b.dists, dtype, msg=f"knn {kw}")
        close(a.knn, b.knn, dtype, msg=f"knn {kw}")
        assert_same(lambda t3d, v, kw=kw: t3d.ops.knn_points(v[0], v[1], **kw).dists, [p1, p2], dtype,
                    msg=f"knn grad {kw}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["edge", "normal_consistency", "uniform", "cot", "cotcurv"])
def test_mesh_losses(loss, dtype):
    if dtype == torch.float64 and loss in ("uniform", "cot", "cotcurv"):
        pytest.skip("PyTorch3D's Laplacian matrices are float32 only (scatter dtype error in float64)")
    ours, _ = pair()
    m = _hetero_meshes(ours, dtype)
    leaves = [v.detach() for v in m.verts_list()]

    def fn(t3d, v):
        mesh = _hetero_meshes(t3d, dtype, v)
        if loss == "edge":
            return t3d.loss.mesh_edge_loss(mesh)
        if loss == "normal_consistency":
            return t3d.loss.mesh_normal_consistency(mesh)
        return t3d.loss.mesh_laplacian_smoothing(mesh, method=loss)

    # cot weights divide by twice the face area and cotcurv by the vertex area: O(10) values, scale atol.
    # In float64 PyTorch3D forms the per-mesh weights (1 / edges, 1 / faces of a mesh) in float32: relative
    # 6e-8 (float32 eps / 2) off, so the float64 rule there is rtol 1e-7 (measured 5.2e-8).
    if dtype == torch.float64:
        (o1, g1), (o2, g2) = run_both(fn, leaves)
        torch.testing.assert_close(o1, o2, rtol=1e-7, atol=0)
        for a, b in zip(g1, g2, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-12)
        return
    assert_same(fn, leaves, dtype, scale=10.0 if loss in ("cot", "cotcurv") else 1.0, msg=loss)


def test_knn_and_chamfer_above_the_kdtree_threshold():
    """Clouds large enough for the built-in's KD-tree path (P1 * P2 >= 1e6 on the CPU): indices identical to
    PyTorch3D's brute force, distances and Chamfer gradients to the rule."""
    g = gen(8)
    p1, p2 = torch.randn(2, 1500, 3, generator=g), torch.randn(2, 1200, 3, generator=g)
    l1, l2 = torch.tensor([1500, 900]), torch.tensor([1200, 1000])
    for kw in ({"K": 1}, {"K": 3, "lengths1": l1, "lengths2": l2}, {"K": 2, "norm": 1}):
        a, b = (t3d.ops.knn_points(p1, p2, **kw) for t3d in pair())
        assert torch.equal(a.idx, b.idx), kw
        close(a.dists, b.dists, msg=f"knn {kw}")
    assert_same(lambda t3d, v: t3d.loss.chamfer_distance(v[0], v[1], x_lengths=l1, y_lengths=l2)[0], [p1, p2],
                torch.float32, msg="chamfer kd-tree")
