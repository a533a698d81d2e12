"""Binned, vectorised mesh rasterisation with PyTorch3D's semantics, in pure PyTorch.

Pixels are enumerated per face over its screen bounding box (expanded by the blur radius),
in fixed-size chunks, so memory scales with the number of candidate (pixel, face) pairs,
not with faces x pixels. Selection of the K nearest faces per pixel is done without
gradients; barycentrics, depth and distances of the kept pairs are then recomputed with
differentiable torch ops, which gives the same gradients as PyTorch3D's analytic backward.
"""

from __future__ import annotations

import math

import torch

_EPS = 1e-8  # PyTorch3D's kEpsilon
CHUNK_PAIRS = 1 << 20  # candidate (pixel, face) pairs examined per vectorised step


def _parse_image_size(image_size) -> tuple[int, int]:
    if isinstance(image_size, int):
        h = w = image_size
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        h, w = (int(s) for s in image_size)
    elif torch.is_tensor(image_size) and image_size.numel() == 2:
        h, w = (int(s) for s in image_size.reshape(-1).tolist())
    else:
        raise ValueError(f"image_size: expected an int or (height, width), got {image_size!r}")
    if h <= 0 or w <= 0:
        raise ValueError(f"image_size: expected positive sizes, got {(h, w)}")
    return h, w


def pixel_centers_ndc(h: int, w: int, dtype: torch.dtype = torch.float32, device=None):
    """NDC y of each row (H,) and x of each column (W,): row 0 is the top (+Y), column 0 the left (+X)."""
    s = min(h, w)
    ys = h / s - (2 * torch.arange(h, dtype=dtype, device=device) + 1) / s
    xs = w / s - (2 * torch.arange(w, dtype=dtype, device=device) + 1) / s
    return ys, xs


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


def triangle_dist2(fv: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Squared 2D distance (M,) from pixels (px, py) to the edges of triangles fv (M, 3, >=2).

    One (M,) tensor per coordinate and edge: on CPU this is ~3x faster than (M, 3, 2) tensors.
    """
    x0, x1, x2 = fv[:, :, 0].unbind(1)
    y0, y1, y2 = fv[:, :, 1].unbind(1)
    d = torch.stack((
        _segment_dist2(px, py, x0, y0, x1, y1),
        _segment_dist2(px, py, x0, y0, x2, y2),
        _segment_dist2(px, py, x1, y1, x2, y2),
    ), 1)
    return d.min(1).values


def _face_pixel_boxes(fv: torch.Tensor, h: int, w: int, margin: float):
    """Inclusive pixel ranges (row0, row1, col0, col1) covered by each face's NDC bbox expanded by margin."""
    s = min(h, w)
    xmin, xmax = fv[..., 0].min(1).values - margin, fv[..., 0].max(1).values + margin
    ymin, ymax = fv[..., 1].min(1).values - margin, fv[..., 1].max(1).values + margin
    tol = 1e-4  # a generous prefilter: exact tests follow
    # Clamping each end separately leaves c0 > c1 (an empty range) for boxes off-screen.
    c0 = torch.ceil((w - xmax * s - 1) / 2 - tol).clamp(0, w)
    c1 = torch.floor((w - xmin * s - 1) / 2 + tol).clamp(-1, w - 1)
    r0 = torch.ceil((h - ymax * s - 1) / 2 - tol).clamp(0, h)
    r1 = torch.floor((h - ymin * s - 1) / 2 + tol).clamp(-1, h - 1)
    return r0.long(), r1.long(), c0.long(), c1.long()


def _topk_per_pixel(pix: torch.Tensor, z: torch.Tensor, face: torch.Tensor, k: int):
    """Keep the k smallest-z candidates of each pixel; returns them sorted by (pixel, z) with their rank.

    One int64 sort on ``pixel << 32 | float32 bits of z``: for z >= 0 the IEEE bit pattern orders like z.
    """
    zbits = z.to(torch.float32).clamp(min=0.0).view(torch.int32).to(torch.int64)
    order = torch.argsort((pix << 32) | zbits, stable=True)
    pix, z, face = pix.index_select(0, order), z.index_select(0, order), face.index_select(0, order)
    n = pix.shape[0]
    pos = torch.arange(n, device=pix.device)
    start = torch.ones(n, dtype=torch.bool, device=pix.device)
    start[1:] = pix[1:] != pix[:-1]
    first = torch.cummax(torch.where(start, pos, torch.zeros_like(pos)), 0).values
    rank = pos - first
    keep = (rank < k).nonzero().squeeze(1)
    return pix[keep], z[keep], face[keep], rank[keep]


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


def _bary_depth_fast(coef: torch.Tensor, px: torch.Tensor, py: torch.Tensor, perspective_correct: bool,
                     clip_barycentric_coords: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(bary (M, 3), pz (M,), inside (M,)) from gathered plane coefficients (M, 15).

    PyTorch3D's maths: bary_i = edge_i(p) / (area + eps); optional perspective correction
    bary_i z_j z_k / sum and clipping to [0, 1] renormalised; pz = sum bary_i z_i. Inside means
    all (unclipped) bary_i > 0.
    """
    bary = torch.addcmul(torch.addcmul(coef[:, 6:9], coef[:, 0:3], px[:, None]), coef[:, 3:6], py[:, None])
    if perspective_correct:
        top = bary * coef[:, 12:15]
        bary = top / top.sum(1, keepdim=True).clamp(min=_EPS)
    inside = (bary > 0).all(1)
    if clip_barycentric_coords:
        bary = bary.clamp(min=0.0)
        bary = bary / bary.sum(1, keepdim=True).clamp(min=1e-5)
    return bary, (bary * coef[:, 9:12]).sum(1), inside


@torch.no_grad()
def _select_faces(fv: torch.Tensor, face_mesh: torch.Tensor, h: int, w: int, blur_radius: float, k: int,
                  perspective_correct: bool, clip_barycentric_coords: bool, cull_backfaces: bool):
    """Non-differentiable search: (pixel flat index, rank, face) of the top-k faces of every pixel."""
    x, y = fv[..., 0], fv[..., 1]
    area = (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0]) - (y[:, 2] - y[:, 0]) * (x[:, 1] - x[:, 0])
    valid = (area.abs() > _EPS) & (fv[..., 2].max(1).values >= _EPS) & torch.isfinite(fv).all((1, 2))
    if cull_backfaces:
        valid &= area >= 0
    r0, r1, c0, c1 = _face_pixel_boxes(fv, h, w, math.sqrt(blur_radius))
    bw = (c1 - c0 + 1).clamp(min=0)
    counts = torch.where(valid, bw * (r1 - r0 + 1).clamp(min=0), torch.zeros_like(bw))
    cum = torch.cumsum(counts, 0)
    total = int(cum[-1]) if cum.numel() else 0
    ys, xs = pixel_centers_ndc(h, w, fv.dtype, fv.device)
    coef = _bary_plane_coefficients(fv, perspective_correct)
    kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    kept_size = 0
    # Per-face integer table gathered once per pair: first row, first column, box width, first pair index.
    table = torch.stack((r0, c0, bw, cum - counts, face_mesh), 1)
    for start in range(0, total, CHUNK_PAIRS):
        j = torch.arange(start, min(start + CHUNK_PAIRS, total), device=fv.device)
        fi = torch.searchsorted(cum, j, right=True)
        row0, col0, bwi, first, mesh = table.index_select(0, fi).unbind(1)
        off = j - first
        rr, cc = row0 + off // bwi, col0 + off % bwi
        py, px = ys.index_select(0, rr), xs.index_select(0, cc)
        _, pz, inside = _bary_depth_fast(coef.index_select(0, fi), px, py, perspective_correct,
                                         clip_barycentric_coords)
        front = pz >= 0
        ok = front & inside
        if blur_radius > 0:  # distances only for pixels outside their face
            out = (front & ~inside).nonzero().squeeze(1)
            fo = fv.index_select(0, fi.index_select(0, out))
            ok[out] = triangle_dist2(fo, px.index_select(0, out), py.index_select(0, out)) < blur_radius
        idx = ok.nonzero().squeeze(1)
        pix = (mesh.index_select(0, idx) * h + rr.index_select(0, idx)) * w + cc.index_select(0, idx)
        kept.append((pix, pz.index_select(0, idx), fi.index_select(0, idx)))
        kept_size += idx.numel()
        if kept_size > CHUNK_PAIRS and len(kept) > 1:
            p, zz, f, _ = _topk_per_pixel(*(torch.cat(t) for t in zip(*kept, strict=True)), k)
            kept, kept_size = [(p, zz, f)], p.numel()
    if not kept:
        empty = torch.zeros(0, dtype=torch.long, device=fv.device)
        return empty, empty, empty
    p, _, f, rank = _topk_per_pixel(*(torch.cat(t) for t in zip(*kept, strict=True)), k)
    return p, rank, f


def rasterize_meshes(meshes, image_size=256, blur_radius: float = 0.0, faces_per_pixel: int = 8,
                     bin_size: int | None = None, max_faces_per_bin: int | None = None,
                     perspective_correct: bool = False, clip_barycentric_coords: bool = False,
                     cull_backfaces: bool = False, z_clip_value: float | None = None,
                     cull_to_frustum: bool = False):
    """Rasterise meshes whose vertices are in NDC (x, y) with view depth as z.

    Returns (pix_to_face (N, H, W, K) long, zbuf (N, H, W, K), bary_coords (N, H, W, K, 3),
    dists (N, H, W, K)); empty slots hold -1. ``bin_size`` and ``max_faces_per_bin`` are accepted
    for API compatibility: binning here is automatic. ``dists`` are signed squared NDC distances.
    ``clip_barycentric_coords`` defaults to False as in PyTorch3D's function (``MeshRasterizer`` turns it on
    when ``blur_radius > 0``).
    """
    h, w = _parse_image_size(image_size)
    k = int(faces_per_pixel)
    if k < 1:
        raise ValueError(f"faces_per_pixel: expected a positive int, got {faces_per_pixel!r}")
    if not 0.0 <= float(blur_radius) <= 2.0:
        raise ValueError(f"blur_radius: expected a value in [0, 2], got {blur_radius!r}")
    if z_clip_value is not None:
        raise ValueError("z_clip_value: clipping faces at the near plane is not supported by the torch backend; "
                         "leave it None")
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    n = len(meshes)
    fv = verts[faces]  # (F, 3, 3), differentiable
    face_mesh = meshes.faces_packed_to_mesh_idx()
    pix, rank, face = _select_faces(fv.detach(), face_mesh, h, w, float(blur_radius), k, bool(perspective_correct),
                                    bool(clip_barycentric_coords), bool(cull_backfaces))
    # Differentiable recomputation for the kept pairs only.
    ys, xs = pixel_centers_ndc(h, w, fv.dtype, fv.device)
    rr, cc = (pix // w) % h, pix % w
    pxk, pyk = xs.index_select(0, cc), ys.index_select(0, rr)
    coef = _bary_plane_coefficients(fv, bool(perspective_correct)).index_select(0, face)
    bary, pz, inside = _bary_depth_fast(coef, pxk, pyk, bool(perspective_correct), bool(clip_barycentric_coords))
    dist2 = triangle_dist2(fv.index_select(0, face), pxk, pyk)
    signed = torch.where(inside, -dist2, dist2)
    slot = pix * k + rank
    total = n * h * w * k
    # In-place scatter into fresh buffers: autograd tracks the values without copying the buffers.
    pix_to_face = torch.full((total,), -1, dtype=torch.long, device=fv.device)
    pix_to_face[slot] = face
    zbuf = fv.new_full((total,), -1.0).index_put_((slot,), pz)
    dists = fv.new_full((total,), -1.0).index_put_((slot,), signed)
    bary_out = fv.new_full((total, 3), -1.0).index_put_((slot,), bary)
    shape = (n, h, w, k)
    return pix_to_face.view(shape), zbuf.view(shape), bary_out.view(shape + (3,)), dists.view(shape)
