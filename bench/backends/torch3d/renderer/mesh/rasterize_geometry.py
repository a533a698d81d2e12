"""Per-candidate geometry of the mesh rasteriser, forward and backward: squared point-to-edge distances
(edge tables), barycentrics and depth (plane coefficients), and their gradients for the backward of
:mod:`.rasterize_meshes`."""

from __future__ import annotations

import torch

_EPS = 1e-8  # PyTorch3D's kEpsilon


def _segment_dist2(px, py, ax, ay, bx, by):
    """Squared distance from points p to segments a-b; a point-like segment measures to b."""
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    degenerate = l2 <= _EPS
    t = ((px - ax) * dx + (py - ay) * dy) / torch.where(degenerate, torch.ones_like(l2), l2)
    t = t.clamp(0.0, 1.0)
    qx = torch.where(degenerate, bx, ax + t * dx)
    qy = torch.where(degenerate, by, ay + t * dy)
    return (px - qx) ** 2 + (py - qy) ** 2


def _edge_table(fv: torch.Tensor) -> torch.Tensor:
    """Per-triangle edge table (F, 15): for edges v0-v1, v0-v2, v1-v2 the start (ax, ay), direction (dx, dy)
    and squared length l2. A degenerate edge (l2 <= eps) is stored as the point b with zero direction and
    l2 = 1, so that the per-pixel maths below measures to b without a branch (as ``_segment_dist2``)."""
    x, y = fv[..., 0], fv[..., 1]
    cols = []
    for i, j in ((0, 1), (0, 2), (1, 2)):
        ax, ay, bx, by = x[:, i], y[:, i], x[:, j], y[:, j]
        dx, dy = bx - ax, by - ay
        l2 = dx * dx + dy * dy
        deg = l2 <= _EPS
        cols += [torch.where(deg, bx, ax), torch.where(deg, by, ay), dx.masked_fill(deg, 0.0),
                 dy.masked_fill(deg, 0.0), l2.masked_fill(deg, 1.0)]
    return torch.stack(cols, 1)


def _edge_dist_cols(tab, px: torch.Tensor, py: torch.Tensor):
    """Squared 2D distance (M,) from pixels (px, py) to triangles' edges and the nearest edge (M,) int64.

    tab: the 15 columns (each (M,)) of :func:`_edge_table` rows, e.g. a (15, M) tensor; edges 0: v0-v1,
    1: v0-v2, 2: v1-v2. Same operations, in the same order, as ``_segment_dist2``, so the values are
    bit-identical to it. Column-major so that every elementwise op runs on contiguous memory.
    """
    d = torch.empty((3, px.shape[0]), dtype=px.dtype, device=px.device)
    for e in range(3):
        ax, ay, dx, dy, l2 = tab[5 * e:5 * e + 5]
        ex, ey = px - ax, py - ay
        t = ex.mul_(dx).add_(ey.mul_(dy)).div_(l2).clamp_(0.0, 1.0)
        rx = torch.mul(t, dx).add_(ax)
        ry = t.mul_(dy).add_(ay)
        rx = torch.sub(px, rx, out=rx)
        ry = torch.sub(py, ry, out=ry)
        torch.add(rx.mul_(rx), ry.mul_(ry), out=d[e])
    best = d.min(0)
    return best.values, best.indices


def _triangle_dist2_edge(tab: torch.Tensor, px: torch.Tensor, py: torch.Tensor):
    """:func:`_edge_dist_cols` of row-major edge tables tab (M, 15)."""
    return _edge_dist_cols(tab.t(), px, py)


def triangle_dist2(fv: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Squared 2D distance (M,) from pixels (px, py) to the edges of triangles fv (M, 3, >=2)."""
    return _triangle_dist2_edge(_edge_table(fv), px, py)[0]


def _bary_plane_coefficients(fv: torch.Tensor, perspective_correct: bool) -> torch.Tensor:
    """Per-face table (F, 15): barycentrics as planes w = A px + B py + C (A, B, C each (F, 3)), the
    vertex depths (F, 3) and the perspective weights (z1 z2, z0 z2, z0 z1), so that each (pixel, face)
    pair costs one gather and a few (M, 3) operations."""
    x, y, z = fv[..., 0], fv[..., 1], fv[..., 2]
    x0, x1, x2 = x.unbind(1)
    y0, y1, y2 = y.unbind(1)
    area = ((x2 - x0) * (y1 - y0) - (y2 - y0) * (x1 - x0) + _EPS)[:, None]
    # Edge function of p against edge (a, b): (px - ax)(by - ay) - (py - ay)(bx - ax).
    ax, ay = torch.stack((x1, x2, x0), 1), torch.stack((y1, y2, y0), 1)
    bx, by = torch.stack((x2, x0, x1), 1), torch.stack((y2, y0, y1), 1)
    a_coef, b_coef = (by - ay) / area, -(bx - ax) / area
    c_coef = (ay * (bx - ax) - ax * (by - ay)) / area
    z0, z1, z2 = z.unbind(1)
    zprod = torch.stack((z1 * z2, z0 * z2, z0 * z1), 1) if perspective_correct else torch.ones_like(z)
    return torch.cat((a_coef, b_coef, c_coef, z, zprod), 1)


def _bary_depth_cols(coef, px: torch.Tensor, py: torch.Tensor, perspective_correct: bool,
                     clip_barycentric_coords: bool) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """([bary_0, bary_1, bary_2] each (M,), pz (M,), inside (M,)) from the 15 columns of gathered plane
    coefficients (e.g. a (15, M) tensor, rows as :func:`_bary_plane_coefficients`' columns).

    PyTorch3D's maths: bary_i = edge_i(p) / (area + eps); optional perspective correction
    bary_i z_j z_k / sum and clipping to [0, 1] renormalised; pz = sum bary_i z_i. Inside means
    all (unclipped) bary_i > 0. Sums run left to right, as a sum over a dimension of 3.
    """
    bary = [torch.addcmul(torch.addcmul(coef[6 + i], coef[i], px), coef[3 + i], py) for i in range(3)]
    if perspective_correct:
        top = [b * coef[12 + i] for i, b in enumerate(bary)]
        den = (top[0] + top[1]).add_(top[2]).clamp_(min=_EPS)
        bary = [t.div_(den) for t in top]
    inside = (bary[0] > 0).logical_and_(bary[1] > 0).logical_and_(bary[2] > 0)
    if clip_barycentric_coords:
        bary = [b.clamp(min=0.0) for b in bary]
        den = (bary[0] + bary[1]).add_(bary[2]).clamp_(min=1e-5)
        bary = [b.div_(den) for b in bary]
    pz = (bary[0] * coef[9]).add_(bary[1] * coef[10]).add_(bary[2] * coef[11])
    return bary, pz, inside


def _bary_depth_fast(coef: torch.Tensor, px: torch.Tensor, py: torch.Tensor, perspective_correct: bool,
                     clip_barycentric_coords: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(bary (M, 3), pz (M,), inside (M,)): :func:`_bary_depth_cols` of row-major coefficients (M, 15)."""
    bary, pz, inside = _bary_depth_cols(coef.t(), px, py, perspective_correct, clip_barycentric_coords)
    return torch.stack(bary, 1), pz, inside


_EDGE_A = (0, 0, 1)  # first vertex of edges v0-v1, v0-v2, v1-v2
_EDGE_B = (1, 2, 2)


def _dist_backward(grad: torch.Tensor, fv: torch.Tensor, g: torch.Tensor, face: torch.Tensor, edge: torch.Tensor,
                   inside: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> None:
    """Add to grad (F, 3, 3) the gradient of the signed squared edge distances (M,) given their grads g (M,)."""
    g = torch.where(inside, -g, g)
    ia = face * 3 + torch.tensor(_EDGE_A, device=fv.device).index_select(0, edge)
    ib = face * 3 + torch.tensor(_EDGE_B, device=fv.device).index_select(0, edge)
    v2d = fv[..., :2].reshape(-1, 2)
    (ax, ay), (bx, by) = v2d.index_select(0, ia).unbind(1), v2d.index_select(0, ib).unbind(1)
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    degenerate = l2 <= _EPS  # measured to b, as the forward
    t = ((px - ax) * dx + (py - ay) * dy) / torch.where(degenerate, torch.ones_like(l2), l2)
    t = torch.where(degenerate, torch.ones_like(t), t.clamp(0.0, 1.0))
    qx = torch.where(degenerate, bx, ax + t * dx)
    qy = torch.where(degenerate, by, ay + t * dy)
    cx, cy = -2.0 * g * (px - qx), -2.0 * g * (py - qy)  # d dist / d q
    flat = grad.view(-1)
    index = torch.cat((ia * 3, ia * 3 + 1, ib * 3, ib * 3 + 1))
    flat.index_add_(0, index, torch.cat(((1.0 - t) * cx, (1.0 - t) * cy, t * cx, t * cy)))


def _bary_depth_backward(grad: torch.Tensor, fv: torch.Tensor, slot: torch.Tensor, face: torch.Tensor,
                         px: torch.Tensor, py: torch.Tensor, g_zbuf: torch.Tensor | None,
                         g_bary: torch.Tensor | None, persp: bool, clip: bool, chunk_pairs: int) -> None:
    """Add to grad (F, 3, 3) the gradient of the pairs' depths and barycentrics, recomputed in chunks (of
    chunk_pairs pairs: the caller's ``rasterize_meshes.CHUNK_PAIRS``)."""
    with torch.enable_grad():
        fvr = fv.detach().requires_grad_(True)
        coef = _bary_plane_coefficients(fvr, persp)
    g_coef = torch.zeros_like(coef)
    for s in range(0, slot.numel(), chunk_pairs):
        sl, fc = slot[s:s + chunk_pairs], face[s:s + chunk_pairs]
        c = coef.detach().index_select(0, fc).requires_grad_(True)
        with torch.enable_grad():
            bary, pz, _ = _bary_depth_fast(c, px[s:s + chunk_pairs], py[s:s + chunk_pairs], persp, clip)
        outs, grads = [], []
        if g_bary is not None:
            outs.append(bary)
            grads.append(g_bary.index_select(0, sl))
        if g_zbuf is not None:
            outs.append(pz)
            grads.append(g_zbuf.index_select(0, sl))
        g_coef.index_add_(0, fc, torch.autograd.grad(outs, c, grads)[0])
    grad += torch.autograd.grad(coef, fvr, g_coef)[0]
