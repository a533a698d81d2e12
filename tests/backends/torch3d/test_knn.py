"""knn_points / knn_gather against a brute-force numpy loop, including padding, chunking and gradients."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from bench.backends.torch3d.ops import knn as knn_module
from bench.backends.torch3d.ops import knn_gather, knn_points


def _naive(p1, p2, l1, l2, K, norm):
    N, P1, _ = p1.shape
    dists = np.zeros((N, P1, K))
    idx = np.zeros((N, P1, K), dtype=np.int64)
    for n in range(N):
        for i in range(l1[n]):
            diff = p1[n, i][None] - p2[n, :l2[n]]
            d = (diff**2).sum(1) if norm == 2 else np.abs(diff).sum(1)
            order = np.argsort(d, kind="stable")[:K]
            dists[n, i, :len(order)] = d[order]
            idx[n, i, :len(order)] = order
    return dists, idx


@pytest.mark.parametrize("norm", [1, 2])
@pytest.mark.parametrize("K", [1, 3, 7])
def test_matches_brute_force_heterogeneous(norm, K):
    g = torch.Generator().manual_seed(K + norm)
    p1, p2 = torch.randn(3, 20, 3, generator=g), torch.randn(3, 15, 3, generator=g)
    l1, l2 = torch.tensor([20, 11, 4]), torch.tensor([15, 5, 9])
    out = knn_points(p1, p2, l1, l2, norm=norm, K=K, return_nn=True)
    ref_d, ref_i = _naive(p1.double().numpy(), p2.double().numpy(), l1.tolist(), l2.tolist(), K, norm)
    np.testing.assert_allclose(out.dists.numpy(), ref_d, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out.idx.numpy(), ref_i)
    assert out.knn.shape == (3, 20, K, 3)
    for n in range(3):
        for k in range(min(K, int(l2[n]))):
            assert torch.equal(out.knn[n, :l1[n], k], p2[n][out.idx[n, :l1[n], k]])
        assert (out.knn[n, :, int(l2[n]):] == 0).all()


@pytest.mark.parametrize("norm", [1, 2])
def test_kdtree_path_matches_brute_force(monkeypatch, norm):
    """The KD-tree path (large clouds on the CPU), forced on small heterogeneous clouds, against the naive
    reference: same indices and distances, K larger than some lengths2, rows past lengths1 zeroed."""
    monkeypatch.setattr(knn_module, "_KDTREE_MIN_PAIRS", 0)
    g = torch.Generator().manual_seed(3)
    p1, p2 = torch.randn(3, 40, 3, generator=g), torch.randn(3, 30, 3, generator=g)
    l1, l2 = torch.tensor([40, 11, 4]), torch.tensor([30, 5, 2])
    out = knn_points(p1, p2, l1, l2, norm=norm, K=4, return_nn=True)
    ref_d, ref_i = _naive(p1.double().numpy(), p2.double().numpy(), l1.tolist(), l2.tolist(), 4, norm)
    np.testing.assert_array_equal(out.idx.numpy(), ref_i)
    np.testing.assert_allclose(out.dists.numpy(), ref_d, rtol=1e-5, atol=1e-6)
    x = p1.clone().requires_grad_(True)
    knn_points(x, p2, l1, l2, norm=norm, K=4).dists.sum().backward()
    monkeypatch.setattr(knn_module, "_KDTREE_MIN_PAIRS", 10**12)
    y = p1.clone().requires_grad_(True)
    knn_points(y, p2, l1, l2, norm=norm, K=4).dists.sum().backward()
    assert torch.equal(x.grad, y.grad)


def test_chunked_equals_unchunked(monkeypatch):
    g = torch.Generator().manual_seed(0)
    p1, p2 = torch.randn(2, 300, 3, generator=g) * 100 + 1000, torch.randn(2, 200, 3, generator=g) * 100 + 1000
    full = knn_points(p1, p2, K=4)
    monkeypatch.setattr(knn_module, "_CHUNK_ELEMENTS", 1000)
    chunked = knn_points(p1, p2, K=4)
    assert torch.equal(full.idx, chunked.idx)
    ref_d, ref_i = _naive(p1.double().numpy(), p2.double().numpy(), [300, 300], [200, 200], 4, 2)
    np.testing.assert_array_equal(full.idx.numpy(), ref_i)  # far from the origin: centring keeps it exact
    np.testing.assert_allclose(full.dists.numpy(), ref_d, rtol=1e-4)


def test_unsorted_returns_same_set():
    p1, p2 = torch.randn(1, 30, 3), torch.randn(1, 40, 3)
    s = knn_points(p1, p2, K=5)
    u = knn_points(p1, p2, K=5, return_sorted=False)
    assert torch.equal(u.idx.sort(-1).values, s.idx.sort(-1).values)


def test_gradcheck():
    p1 = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    p2 = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    l1, l2 = torch.tensor([6, 4]), torch.tensor([5, 2])
    for norm in (1, 2):
        def dists(a, b, norm=norm):
            return knn_points(a, b, l1, l2, norm=norm, K=3).dists

        assert torch.autograd.gradcheck(dists, (p1, p2))


def test_knn_gather_masks_past_lengths():
    x = torch.arange(12.0).view(1, 4, 3)
    idx = torch.tensor([[[3, 1, 0]]])
    out = knn_gather(x, idx, lengths=torch.tensor([2]))
    assert torch.equal(out[0, 0, 0], x[0, 3]) and torch.equal(out[0, 0, 1], x[0, 1])
    assert (out[0, 0, 2] == 0).all()


@pytest.mark.parametrize("kwargs,match", [
    (dict(p1=torch.zeros(2, 3), p2=torch.zeros(1, 2, 3)), r"\(N, P, D\)"),
    (dict(p1=torch.zeros(1, 2, 3), p2=torch.zeros(1, 2, 2)), "share N and D"),
    (dict(p1=torch.zeros(1, 2, 3), p2=torch.zeros(1, 2, 3), K=0), "K must"),
    (dict(p1=torch.zeros(1, 2, 3), p2=torch.zeros(1, 2, 3), norm=3), "norm"),
    (dict(p1=torch.zeros(1, 2, 3), p2=torch.zeros(1, 2, 3), lengths2=torch.tensor([5])), "lengths2"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        knn_points(**kwargs)


def _lattice_ties():
    """(p1, p2): 100 query points each equidistant (L1 and L2) from 8 points of a shuffled 6^3 lattice."""
    g = torch.Generator().manual_seed(0)
    lattice = torch.stack(torch.meshgrid(*[torch.arange(6.0)] * 3, indexing="ij"), -1).reshape(-1, 3)
    p2 = lattice[torch.randperm(len(lattice), generator=g)][None]  # (1, 216, 3)
    return (lattice[:100] + 0.5)[None], p2


def test_kdtree_l1_queries_in_chunks_answer_as_one_scipy_query(monkeypatch):
    """Issue 22: the L1 KD-tree path queries ``_KDTREE_QUERY_ROWS`` rows per scipy.spatial.cKDTree call and keeps
    int32 indices. On a lattice (ties: 8 equidistant neighbours per query) the indices must be those of one
    cKDTree query of all rows (the reference), and both directions' gradients the same for any chunk size."""
    from scipy.spatial import cKDTree

    p1, p2 = _lattice_ties()
    _, ref = cKDTree(p2[0].double().numpy()).query(p1[0].double().numpy(), k=3, p=1)
    monkeypatch.setattr(knn_module, "_KDTREE_MIN_PAIRS", 0)
    grads = []
    for rows in (7, 10**6):
        monkeypatch.setattr(knn_module, "_KDTREE_QUERY_ROWS", rows)
        a, b = p1.clone().requires_grad_(True), p2.clone().requires_grad_(True)
        out = knn_points(a, b, K=3, norm=1, return_sorted=False)
        assert out.idx.dtype == torch.int64
        np.testing.assert_array_equal(out.idx[0].numpy(), ref)
        assert out.dists.grad_fn.saved_tensors[2].dtype == torch.int32  # kept as int32 for the backward
        (out.dists * torch.arange(3.0)).sum().backward()
        grads.append((a.grad, b.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kdtree_l2_path_finds_the_nearest_on_ties_and_random_clouds(monkeypatch, dtype):
    """Issue 22: the L2 KD-tree path is pykdtree on the clouds' own dtype. Against brute force in float64: on a
    lattice (8 equidistant neighbours per query) every chosen point is at the smallest distances (which of
    the tied points is the library's choice); on random clouds the indices are the brute-force ones and the
    distances and gradients equal the brute-force path's."""
    monkeypatch.setattr(knn_module, "_KDTREE_MIN_PAIRS", 0)
    p1, p2 = (t.to(dtype) for t in _lattice_ties())
    out = knn_points(p1, p2, K=3)
    assert out.dists.grad_fn is None and out.idx.dtype == torch.int64
    d_all = ((p1[0, :, None].double() - p2[0, None].double()) ** 2).sum(-1)
    k_smallest = d_all.sort(-1).values[:, :3]
    chosen = d_all.gather(1, out.idx[0])
    assert torch.equal(chosen, k_smallest)  # 0.75 each: all ties
    assert len(set(out.idx[0].flatten().tolist())) > 20  # the lattice's ties, not one point for every query
    g = torch.Generator().manual_seed(7)
    p1, p2 = torch.randn(2, 300, 3, generator=g, dtype=dtype), torch.randn(2, 250, 3, generator=g, dtype=dtype)
    l2 = torch.tensor([250, 3])
    ref_d, ref_i = _naive(p1.double().numpy(), p2.double().numpy(), [300, 300], l2.tolist(), 4, 2)
    res = []
    for min_pairs in (0, 10**12):  # KD-tree, then brute force
        monkeypatch.setattr(knn_module, "_KDTREE_MIN_PAIRS", min_pairs)
        a, b = p1.clone().requires_grad_(True), p2.clone().requires_grad_(True)
        out = knn_points(a, b, lengths2=l2, K=4)
        np.testing.assert_array_equal(out.idx.numpy(), ref_i)
        out.dists.sum().backward()
        res.append((out.dists, a.grad, b.grad))
    for x, y in zip(*res, strict=True):
        assert torch.equal(x, y)


def test_kdtree_l2_path_uses_the_threads_torch_is_given(monkeypatch):
    """The L2 KD-tree's OpenMP threads follow ``torch.get_num_threads()`` (``--threads``), read back from
    pykdtree's own OpenMP runtime while it is limited."""
    monkeypatch.setattr(knn_module, "_KDTREE_MIN_PAIRS", 0)
    seen = []
    real = knn_module._pykdtree_threads

    def spy():
        sel = real()
        assert sel is not None, "pykdtree's OpenMP runtime was not found by threadpoolctl"

        class _Spy:
            @contextlib.contextmanager
            def limit(self, limits):
                with sel.limit(limits=limits):
                    seen.append(sel.info()[0]["num_threads"])  # what pykdtree's runtime now runs on
                    yield
        return _Spy()

    monkeypatch.setattr(knn_module, "_pykdtree_threads", spy)
    before = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            knn_points(torch.randn(1, 50, 3), torch.randn(1, 40, 3), K=1)
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 2]
