"""K nearest neighbours between padded point batches, chunked so memory stays bounded."""

from __future__ import annotations

import contextlib
import functools
from collections import namedtuple

import numpy as np
import torch
from pykdtree.kdtree import KDTree

_KNN = namedtuple("KNN", "dists idx knn")

# Largest number of (query, candidate) distances held at once: 2**24 floats is 64 MiB.
_CHUNK_ELEMENTS = 1 << 24


def _lengths(lengths: torch.Tensor | None, n: int, p: int, device: torch.device,
             name: str) -> tuple[torch.Tensor, bool]:
    """(lengths as an int64 (n,) tensor, whether every cloud is full, i.e. no padding to mask)."""
    if lengths is None:
        return torch.full((n,), p, dtype=torch.int64, device=device), True
    lengths = torch.as_tensor(lengths, device=device).to(torch.int64)
    if lengths.shape != (n,):
        raise ValueError(f"knn_points: {name} must have shape ({n},), got {tuple(lengths.shape)}")
    if not n:
        return lengths, True
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 0 or hi > p:
        raise ValueError(f"knn_points: {name} must be in [0, {p}]")
    return lengths, lo == p


# Above this many point pairs (P1 * P2 per cloud), on the CPU, nearest neighbours come from a KD-tree
# (pykdtree for L2, scipy.spatial.cKDTree for L1; exact: eps=0) instead of every pair's distance: O(P log P)
# instead of O(P1 P2) time and O(P) instead of O(chunk) memory. The distances and gradients are still computed
# in torch from the chosen indices (below), so values and gradients are the same as the brute-force path's
# (where several points lie at exactly the same distance, the paths may choose different ones).
_KDTREE_MIN_PAIRS = 1_000_000


# Query rows per cKDTree.query call (norm 1): the float64 copy of the queries and SciPy's float64 distances and
# intp indices are made for this many rows at a time, not the whole cloud. A query's answer does not depend on
# the other rows of its call: the indices are one call's, ties included.
_KDTREE_QUERY_ROWS = 2560


@functools.cache
def _pykdtree_threads():
    """A threadpoolctl selection of pykdtree's own OpenMP runtime (its wheel bundles one), or None; looked up once,
    after pykdtree is imported (its runtime is found among the loaded libraries)."""
    from threadpoolctl import ThreadpoolController

    ctrl = ThreadpoolController()
    paths = [i["filepath"] for i in ctrl.info() if "pykdtree" in i["filepath"] and i["user_api"] == "openmp"]
    return ctrl.select(filepath=paths) if paths else None


def _kdtree_idx(p1: torch.Tensor, p2: torch.Tensor, lengths2: torch.Tensor, K: int, norm: int) -> torch.Tensor:
    """(N, P1, K) int32 indices of the K closest valid p2 points by KD-tree (CPU); slots past lengths2[n] are 0.

    Squared L2 (norm 2, what Chamfer and the mesh losses use): pykdtree, on the clouds as they are (float32 or
    float64, no copy), all rows in one query on ``torch.get_num_threads()`` OpenMP threads; it compares
    distances in the clouds' own precision, as PyTorch3D's brute-force kernel does. Issue 22: SciPy's
    cKDTree takes float64 only, and its copy of a 10k cloud, its build and its query's float64 buffers were
    ~0.6 MiB of Chamfer 10k's peak; pykdtree's build and query take ~0.16 MiB (docs/backends.md).
    L1 (norm 1, which pykdtree lacks): scipy.spatial.cKDTree on float64 copies made one cloud at a time,
    ``_KDTREE_QUERY_ROWS`` query rows per call. Both trees keep leaves of 16 points; among points at exactly the
    same distance the two libraries (and PyTorch3D) may choose differently. Indices are kept as int32 (the
    caller checked P2 < 2**31).
    """
    N, P1, _ = p1.shape
    out = torch.zeros((N, P1, K), dtype=torch.int32)
    for n in range(N):
        m = int(lengths2[n])
        k = min(K, m)
        if k == 0 or P1 == 0:
            continue
        if norm == 2:
            out[n, :, :k] = _pykdtree_query(p1[n], p2[n, :m], k)
        else:
            _ckdtree_query_l1(p1[n], p2[n, :m], k, out[n, :, :k])
    return out


def _ckdtree_query_l1(q: torch.Tensor, pts: torch.Tensor, k: int, out: torch.Tensor) -> None:
    """Write into ``out`` (P1, k) the indices into ``pts`` (M, D) of the k nearest points (L1) to each row of q."""
    from scipy.spatial import cKDTree

    tree = cKDTree(pts.double().numpy())
    for s in range(0, q.shape[0], _KDTREE_QUERY_ROWS):
        rows = q[s:s + _KDTREE_QUERY_ROWS]
        _, found = tree.query(rows.double().numpy(), k=k, p=1, workers=torch.get_num_threads())
        del _
        out[s:s + rows.shape[0]] = torch.from_numpy(found.reshape(rows.shape[0], k))
        del found


def _pykdtree_query(q: torch.Tensor, pts: torch.Tensor, k: int) -> torch.Tensor:
    """(P1, k) int32 indices into ``pts`` (M, D) of the k nearest points to each row of ``q`` (P1, D), L2."""
    dtype = pts.dtype if pts.dtype in (torch.float32, torch.float64) else torch.float32
    tree = KDTree(pts.to(dtype).contiguous().numpy(), leafsize=16)
    limit = _pykdtree_threads()
    with limit.limit(limits=torch.get_num_threads()) if limit is not None else contextlib.nullcontext():
        _, found = tree.query(q.to(dtype).contiguous().numpy(), k=k)
    del _, tree
    found = found.reshape(q.shape[0], k)
    # uint32 indices below 2**31 (P2 < 2**31): the same bits read as int32, no copy
    return torch.from_numpy(found.view(np.int32) if found.dtype == np.uint32 else found.astype(np.int32))


@torch.no_grad()
def _nearest_idx(p1: torch.Tensor, p2: torch.Tensor, lengths2: torch.Tensor, K: int, norm: int,
                 sorted_: bool) -> torch.Tensor:
    """(N, P1, K) indices of the K closest valid p2 points, found chunk by chunk over P1 (int64; int32 from the
    KD-tree)."""
    N, P1, _ = p1.shape
    P2 = p2.shape[1]
    if p1.device.type == "cpu" and P1 * P2 >= _KDTREE_MIN_PAIRS and p1.shape[2] <= 8 and P2 < 2**31:
        return _kdtree_idx(p1, p2, lengths2, K, norm)
    centre = p2.mean(1, keepdim=True) if P2 else 0.0
    a, b = p1 - centre, p2 - centre  # centring keeps the |a|^2 - 2ab + |b|^2 expansion accurate
    invalid = (torch.arange(P2, device=p2.device)[None] >= lengths2[:, None])[:, None, :]
    b2 = (b * b).sum(-1)[:, None, :]
    bt = b.transpose(1, 2)
    rows = max(1, _CHUNK_ELEMENTS // max(1, N * P2))
    out = []
    for s in range(0, P1, rows):
        ac = a[:, s:s + rows]
        if norm == 2:
            d = torch.baddbmm(b2, ac, bt, alpha=-2.0).add_((ac * ac).sum(-1, keepdim=True))
        else:
            d = torch.cdist(ac, b, p=1.0)
        d.masked_fill_(invalid, float("inf"))
        if K == 1:
            out.append(d.argmin(-1, keepdim=True))
        else:
            out.append(d.topk(K, dim=-1, largest=False, sorted=sorted_).indices)
    if not out:
        return torch.zeros((N, 0, K), dtype=torch.int64, device=p1.device)
    return torch.cat(out, 1)


class _NeighbourDists(torch.autograd.Function):
    """Distances (N, P1, K) of p1 (N, P1, D) to its neighbours p2[idx] (squared L2 or L1), keeping only p1, p2
    and idx for the backward: the (N, P1, K, D) differences are recomputed there instead of being held from the
    forward to the backward (issue 22: peak memory). Forward and backward run the same torch ops autograd runs
    for ``((p1[:, :, None] - knn_gather(p2, idx)) ** 2).sum(-1)`` (sum, mul of diff by itself, sub, gather), in
    the same order, so values and gradients are bit-identical to it; the backward is written in differentiable
    ops, so double backward still works. ``idx`` may be int32 (the KD-tree's): it is kept so, half the memory
    of int64 from the forward to the backward, and widened only for the gathers."""

    @staticmethod
    def forward(ctx, p1: torch.Tensor, p2: torch.Tensor, idx: torch.Tensor, norm: int) -> torch.Tensor:
        ctx.save_for_backward(p1, p2, idx)
        ctx.norm = norm
        # forward runs without grad: the differences are made and squared in one buffer (-nn + p1 == p1 - nn)
        diff = knn_gather(p2, idx.long()).neg_().add_(p1[:, :, None, :])
        return diff.mul_(diff).sum(-1) if norm == 2 else diff.abs_().sum(-1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        p1, p2, idx = ctx.saved_tensors
        idx = idx.long()
        # Without create_graph the temporaries are reused in place (one (N, P1, K, D) buffer, not four); each
        # in-place form gives the same bits: -nn + p1 == p1 - nn, diff * g == g * diff, and the gather gradient
        # of -g is the negated scatter-sum of g (IEEE rounding is symmetric).
        inplace = not torch.is_grad_enabled()
        nn = knn_gather(p2, idx)
        diff = nn.neg_().add_(p1[:, :, None, :]) if inplace else p1[:, :, None, :] - nn
        del nn
        g = grad.unsqueeze(-1).expand(diff.shape)  # SumBackward
        if ctx.norm == 2:  # MulBackward: diff * diff gives grad * diff to each factor, accumulated
            g_diff = diff.mul_(g) if inplace else g * diff
            g_diff = g_diff.add_(g_diff) if inplace else g_diff + g_diff
        else:  # AbsBackward
            g_diff = diff.sgn_().mul_(g) if inplace else g * diff.sgn()
        del diff
        g1 = g2 = None
        if ctx.needs_input_grad[1]:  # SubBackward (other), then knn_gather's reshape and gather backward
            N, L, K, U = g_diff.shape
            index = idx.reshape(N, L * K, 1).expand(-1, -1, U)
            if inplace:
                g2 = p2.new_zeros(p2.shape).scatter_add_(1, index, g_diff.reshape(N, L * K, U)).neg_()
            else:
                g2 = p2.new_zeros(p2.shape).scatter_add_(1, index, (-g_diff).reshape(N, L * K, U))
        if ctx.needs_input_grad[0]:  # SubBackward (self), reduced over the broadcast K dimension
            g1 = (g_diff.sum(2, keepdim=True) if g_diff.shape[2] != 1 else g_diff).squeeze(2)
        return g1, g2, None, None


def knn_points(p1: torch.Tensor, p2: torch.Tensor, lengths1: torch.Tensor | None = None,
               lengths2: torch.Tensor | None = None, norm: int = 2, K: int = 1, version: int = -1,
               return_nn: bool = False, return_sorted: bool = True) -> _KNN:
    """For each point of p1 (N, P1, D), its K nearest points in p2 (N, P2, D).

    Returns KNN(dists (N, P1, K), idx (N, P1, K), knn (N, P1, K, D) or None). ``dists`` are
    squared L2 distances for norm=2 and L1 distances for norm=1, differentiable in p1 and p2.
    Entries past lengths2[n] (when K > lengths2[n]) and rows past lengths1[n] are 0 in dists and idx;
    knn is ``knn_gather(p2, idx, lengths2)`` as in PyTorch3D (rows past lengths1[n] hold p2[n, 0]).
    """
    if not (torch.is_tensor(p1) and torch.is_tensor(p2)) or p1.ndim != 3 or p2.ndim != 3:
        raise ValueError("knn_points: p1 and p2 must be tensors of shape (N, P, D)")
    if p1.shape[0] != p2.shape[0] or p1.shape[2] != p2.shape[2]:
        raise ValueError(f"knn_points: p1 {tuple(p1.shape)} and p2 {tuple(p2.shape)} must share N and D")
    if norm not in (1, 2):
        raise ValueError(f"knn_points: norm must be 1 or 2, got {norm!r}")
    if not isinstance(K, int) or K < 1:
        raise ValueError(f"knn_points: K must be a positive int, got {K!r}")
    N, P1, D = p1.shape
    P2 = p2.shape[1]
    lengths1, full1 = _lengths(lengths1, N, P1, p1.device, "lengths1")
    lengths2, full2 = _lengths(lengths2, N, P2, p1.device, "lengths2")
    Kc = min(K, P2)
    if Kc == 0:
        idx = torch.zeros((N, P1, 0), dtype=torch.int64, device=p1.device)
    else:
        idx = _nearest_idx(p1.detach(), p2.detach(), lengths2, Kc, norm, return_sorted)
    if Kc == 0:
        dists = (p1[:, :, None, :] - knn_gather(p2, idx)).sum(-1)  # (N, P1, 0): nothing to differentiate
    else:
        dists = _NeighbourDists.apply(p1, p2, idx, norm)
    if return_sorted and Kc > 1:
        with torch.no_grad():  # re-sort on the exact distances
            key = dists.detach().masked_fill(
                torch.arange(Kc, device=p1.device)[None, None] >= lengths2[:, None, None], float("inf"))
            order = key.argsort(dim=-1, stable=True)
        idx, dists = idx.gather(-1, order), dists.gather(-1, order)
    if Kc < K:
        pad = K - Kc
        idx = torch.cat([idx, idx.new_zeros((N, P1, pad))], -1)
        dists = torch.cat([dists, dists.new_zeros((N, P1, pad))], -1)
    if not (full1 and full2 and K <= P2):  # with no padding and K <= P2 every entry is valid: skip the mask
        valid = (torch.arange(K, device=p1.device)[None, None] < lengths2[:, None, None]) & \
            (torch.arange(P1, device=p1.device)[None, :, None] < lengths1[:, None, None])
        dists = torch.where(valid, dists, torch.zeros((), dtype=dists.dtype, device=dists.device))
        idx = torch.where(valid, idx, torch.zeros((), dtype=idx.dtype, device=idx.device))
    idx = idx.long()  # int32 from the KD-tree; the API's indices are int64 as PyTorch3D's
    # as PyTorch3D: knn is knn_gather(p2, idx, lengths2), so a row past lengths1[n] (idx 0) holds p2[n, 0]
    knn = knn_gather(p2, idx, lengths2) if return_nn else None
    return _KNN(dists=dists, idx=idx, knn=knn)


def knn_gather(x: torch.Tensor, idx: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Gather x (N, M, U) at idx (N, L, K) into (N, L, K, U); entries with k >= lengths[n] are 0."""
    if x.ndim != 3 or idx.ndim != 3 or x.shape[0] != idx.shape[0]:
        raise ValueError(f"knn_gather: x must be (N, M, U) and idx (N, L, K) with the same N, "
                         f"got {tuple(x.shape)} and {tuple(idx.shape)}")
    N, M, U = x.shape
    _, L, K = idx.shape
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= max(M, 1)):
        raise ValueError(f"knn_gather: idx must be in [0, {M - 1}]")
    if M == 0:
        return x.new_zeros((N, L, K, U))
    out = x.gather(1, idx.reshape(N, L * K, 1).expand(-1, -1, U)).reshape(N, L, K, U)
    if lengths is not None:
        mask = torch.arange(K, device=x.device)[None, None, :, None] < lengths.to(x.device)[:, None, None, None]
        out = torch.where(mask, out, torch.zeros((), dtype=out.dtype, device=out.device))
    return out


# Looked up when the backend is imported, as PyTorch3D loads its extension: done lazily, the first knn call of a
# process paid ~0.1 s and ~2.9 MiB for threadpoolctl's scan of the loaded libraries, inside the first timed loop
# that called it (issue 22: a mesh-fitting iteration phase read 1.17 vs PyTorch3D's 0.85 MiB for that alone).
_pykdtree_threads()
