"""Binned, vectorised mesh rasterisation with PyTorch3D's semantics, in pure PyTorch.

Pixels are enumerated per face over its screen bounding box (expanded by the blur radius),
in fixed-size chunks, so memory scales with the number of candidate (pixel, face) pairs,
not with faces x pixels. Depth, barycentrics and edge distances are computed once per
candidate, without gradients, and carried through the selection of the K nearest faces per
pixel. The backward (``_KeptPairsFn``) works from the kept pairs' (face, pixel) indices alone,
as PyTorch3D's analytic backward does: no elementwise intermediate is kept alive for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..utils import empty_huge, one_intra_op_thread, run_on_workers, worker_pool
from .rasterize_geometry import (
    _EPS,
    _bary_depth_backward,
    _bary_depth_cols,
    _bary_plane_coefficients,
    _dist_backward,
    _edge_dist_cols,
    _edge_table,
)

# Re-exported, unused here: tests/benchmarks/test_bench_raster.py reaches the first two as rm.<name>;
# triangle_dist2 was a public name of this module.
from .rasterize_geometry import _bary_depth_fast as _bary_depth_fast
from .rasterize_geometry import _triangle_dist2_edge as _triangle_dist2_edge
from .rasterize_geometry import triangle_dist2 as triangle_dist2

CHUNK_PAIRS = 1 << 14  # candidate (pixel, face) pairs examined per vectorised step (and per backward step)
MERGE_PAIRS = 1 << 20  # kept pairs above which the top-k selection runs again before the search ends
BAND_PAIRS = 1 << 15  # candidate pairs per thread at least, before a second thread is used
BAND_MAX_PAIRS = 1 << 16  # candidate pairs per row band at most: bands of one thread run one after another,
# each reusing the memory the last one freed, so the search's peak is about one band's (peak memory)


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


def _sorted_ranks(pix: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Order (M,) sorting candidates by (pixel, z), stable, each sorted candidate's rank in its pixel (M,) int32
    and its pixel (M,) int64.

    One int64 sort on ``pixel << 32 | float32 bits of z``: for z >= 0 the IEEE bit pattern orders like z.
    Ranks from the run lengths of the sorted pixels, in int32 (fewer and smaller temporaries than a cummax).
    """
    key = z.to(torch.float32).clamp(min=0.0).view(torch.int32).to(torch.int64)
    key.bitwise_or_(torch.bitwise_left_shift(pix, 32))
    spix, order = torch.sort(key, stable=True)
    del key
    spix.bitwise_right_shift_(32)
    n = spix.shape[0]
    _, counts = torch.unique_consecutive(spix, return_counts=True)
    counts = counts.to(torch.int32)
    first = torch.repeat_interleave(torch.cumsum(counts, 0, dtype=torch.int32).sub_(counts), counts, output_size=n)
    rank = torch.arange(n, dtype=torch.int32, device=pix.device).sub_(first)
    return order, rank, spix


def _topk_per_pixel(cols: list[torch.Tensor], k: int) -> torch.Tensor:
    """Keep the k smallest-z candidates of each pixel, sorted by (pixel, z); returns their rank (M',).

    cols: per-candidate tensors (first dim M), cols[0] the flat pixel index, cols[1] the depth; replaced
    in place, one at a time, by their kept and sorted rows (so only one column is ever held twice).
    """
    order, rank, _ = _sorted_ranks(cols[0], cols[1])
    n = rank.shape[0]
    if n and int(rank.max()) >= k:
        sel = (rank < k).nonzero().squeeze(1)
        order, rank = order.index_select(0, sel), rank.index_select(0, sel)
    for i in range(len(cols)):
        cols[i] = cols[i].index_select(0, order)
    return rank


def _output_slots(cols: list[torch.Tensor], k: int) -> torch.Tensor:
    """Output slot ``pixel * k + rank`` (M',) of the k smallest-z candidates of each pixel, in input order.

    cols: per-candidate tensors (first dim M), cols[0] the flat pixel index, cols[1] the depth; the
    candidates outside their pixel's k nearest are removed from them in place. The ranks are those of
    :func:`_topk_per_pixel` (same stable sort), but the columns are not permuted: the slots are scattered
    back to input order, so each column is written straight into the output buffers.
    """
    order, rank, slot = _sorted_ranks(cols[0], cols[1])
    slot = slot.mul_(k).add_(rank)
    if slot.numel() and int(rank.max()) >= k:
        slot.masked_fill_(rank >= k, -1)
    del rank
    if slot.numel() and int(slot.max()) < 2**31:
        slot = slot.to(torch.int32)  # 4 bytes a pair wherever the buffers allow
    slot = torch.empty_like(slot).index_put_((order,), slot)
    del order
    if slot.numel() and int(slot.min()) < 0:
        sel = (slot >= 0).nonzero().squeeze(1)
        slot = slot.index_select(0, sel)
        for i in range(len(cols)):
            cols[i] = cols[i].index_select(0, sel)
    return slot


def _cat_columns(kept: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """Concatenate the chunks' columns one column at a time, releasing each chunk column as it goes."""
    cols = []
    for c in range(len(kept[0])):
        parts = [chunk[c] for chunk in kept]
        for chunk in kept:
            chunk[c] = None
        cols.append(torch.cat(parts) if len(parts) > 1 else parts[0])
        del parts
    kept.clear()
    return cols


@dataclass
class _Pairs:
    """The kept (pixel, face) pairs and their output slots (in search order): M entries each. Mutable, so that
    the scatter into the output buffers can release each column as soon as it is written."""

    slot: torch.Tensor  # (M,) flat output index ((mesh * H + row) * W + col) * K + rank, rank 0 nearest
    face: torch.Tensor  # (M,) packed face index
    pz: torch.Tensor | None  # (M,) depth
    bary: torch.Tensor | None  # (M, 3) barycentrics (perspective-corrected and clipped as asked)
    dist: torch.Tensor | None  # (M,) signed squared distance to the nearest edge, negative inside
    edge: torch.Tensor  # (M,) int8 nearest edge: 0 v0-v1, 1 v0-v2, 2 v1-v2
    inside: torch.Tensor  # (M,) bool
    rows: tuple[int, int] | None = None  # the image rows [lo, hi) of every mesh searched; None: all rows


def _face_groups(counts: torch.Tensor, starts: torch.Tensor, total: int) -> list[int]:
    """Face-index bounds [b0, b1, ..., F] so that each group's pairs start within one CHUNK_PAIRS window."""
    if total == 0:
        return [0, counts.shape[0]]
    marks = torch.arange(0, total, CHUNK_PAIRS, device=counts.device)
    bounds = torch.searchsorted(starts, marks).tolist()
    return sorted(set(bounds) | {0, counts.shape[0]})


def _row_bands(weight: torch.Tensor, r0: torch.Tensor, r1: torch.Tensor, h: int, threads: int) -> list[tuple[int, int]]:
    """Image row ranges [lo, hi) with about equal candidate pairs each: at most BAND_MAX_PAIRS candidates a
    band, and a multiple of the workers (one per thread, at most one per BAND_PAIRS candidates) bands.

    weight: (F,) candidate pixels per row of each face (its box width, 0 if skipped); r0, r1: (F,) its rows.
    """
    weight = torch.where(r1 >= r0, weight, torch.zeros_like(weight))
    delta = torch.zeros(h + 1, dtype=torch.int64, device=weight.device)
    delta.index_add_(0, r0.clamp(0, h), weight).index_add_(0, (r1 + 1).clamp(0, h), -weight)
    per_row = torch.cumsum(delta[:h], 0)
    total = int(per_row.sum())
    workers = max(1, min(threads, total // BAND_PAIRS))
    n = max(workers, -(-total // BAND_MAX_PAIRS))
    n = min(h, -(-n // workers) * workers)
    if n <= 1:
        return [(0, h)]
    cum = torch.cumsum(per_row, 0)
    marks = torch.tensor([total * i // n for i in range(1, n)], dtype=cum.dtype, device=cum.device)
    cuts = [0] + [int(c) + 1 for c in torch.searchsorted(cum, marks)] + [h]
    cuts = sorted(set(min(max(c, 0), h) for c in cuts))
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def _select_faces(fv: torch.Tensor, face_mesh: torch.Tensor, h: int, w: int, blur_radius: float, k: int,
                  perspective_correct: bool, clip_barycentric_coords: bool, cull_backfaces: bool) -> list[_Pairs]:
    """Non-differentiable search and forward values of the top-k faces of every pixel, per row band.

    With torch at 2+ threads and enough candidates, the image is cut into row bands of about equal work,
    each taken by the next free Python worker thread (one intra-op thread each; bands of unequal cost
    balance), the per-face tables built once for all bands (the bands' pixels are disjoint, so each
    band's top-k is final); otherwise one band, on this thread, with one intra-op thread.
    """
    threads = torch.get_num_threads()
    with torch.no_grad(), one_intra_op_thread():
        x, y = fv[..., 0], fv[..., 1]
        area = (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0]) - (y[:, 2] - y[:, 0]) * (x[:, 1] - x[:, 0])
        valid = (area.abs() > _EPS) & (fv[..., 2].max(1).values >= _EPS) & torch.isfinite(fv).all((1, 2))
        if cull_backfaces:
            valid &= area >= 0
        r0, r1, c0, c1 = _face_pixel_boxes(fv, h, w, math.sqrt(blur_radius))
        bw = (c1 - c0 + 1).clamp(min=0)
        bands = _row_bands(torch.where(valid, bw, torch.zeros_like(bw)), r0, r1, h, threads)
        settings = (h, w, blur_radius, k, perspective_correct, clip_barycentric_coords)
        workers = min(threads, len(bands))  # as in _row_bands: bands are a multiple of the workers
        # Per-face tables, built once for all bands: column-major (30, F) plane coefficients + edge table;
        # int32 (3, F): box column, width and mesh (index arithmetic in int32 is cheaper; boxes are < H*W).
        ftab = torch.cat((_bary_plane_coefficients(fv, perspective_correct), _edge_table(fv)), 1).t().contiguous()
        itab = torch.stack((c0, bw, face_mesh), 0).to(torch.int32)
        with worker_pool(workers) as pool:
            return run_on_workers([lambda band=band: _search_rows(fv, valid, (r0, r1, bw), (ftab, itab), band,
                                                                settings) for band in bands], pool, workers,
                                  dynamic=True)


@torch.no_grad()
def _search_rows(fv: torch.Tensor, valid: torch.Tensor, boxes: tuple, tables: tuple, rows: tuple[int, int],
                 settings: tuple) -> _Pairs:
    """The top-k search of the image rows [lo, hi) of every mesh.

    Candidates are enumerated face by face over their pixel boxes (cut to the rows), in groups of about
    CHUNK_PAIRS pairs; depth, barycentrics, inside test and edge distance are computed once per candidate and
    carried through the top-k selection (the forward needs no second pass).
    boxes: (r0, r1, bw) (F,) each, from :func:`_face_pixel_boxes`; tables: ftab (30, F) float (plane
    coefficients and edge table, column-major) and itab (3, F) int32 (box column, width, mesh).
    """
    h, w, blur_radius, k, perspective_correct, clip_barycentric_coords = settings
    r0, r1, bw = boxes
    ftab, itab = tables
    if rows != (0, h):
        r0, r1 = r0.clamp(min=rows[0]), r1.clamp(max=rows[1] - 1)
    counts = torch.where(valid, bw * (r1 - r0 + 1).clamp(min=0), torch.zeros_like(bw))
    cum = torch.cumsum(counts, 0)
    total = int(cum[-1]) if cum.numel() else 0
    starts = cum - counts
    ys, xs = pixel_centers_ndc(h, w, fv.dtype, fv.device)
    r0i = r0.to(torch.int32)  # the boxes' first rows in this band
    kept: list[list[torch.Tensor]] = []
    kept_size, merged_size = 0, 0
    bounds = _face_groups(counts, starts, total)
    for f0, f1 in zip(bounds[:-1], bounds[1:], strict=True):
        m = int(cum[f1 - 1] - starts[f0]) if f1 > f0 else 0
        if m == 0:
            continue
        fi = torch.repeat_interleave(torch.arange(f0, f1, device=fv.device), counts[f0:f1], output_size=m)
        first = torch.repeat_interleave((starts[f0:f1] - starts[f0]).to(torch.int32), counts[f0:f1], output_size=m)
        col0, bwi, mesh = itab.index_select(1, fi)
        row0 = r0i.index_select(0, fi)
        off = torch.arange(m, dtype=torch.int32, device=fv.device).sub_(first)
        del first
        q = torch.div(off, bwi, rounding_mode="floor")
        rr, cc = row0.add_(q), off.sub_(q.mul_(bwi)).add_(col0)
        del q, bwi, col0
        py, px = ys.index_select(0, rr), xs.index_select(0, cc)
        g = ftab.index_select(1, fi)
        bary, pz, inside = _bary_depth_cols(g, px, py, perspective_correct, clip_barycentric_coords)
        if blur_radius > 0:  # edge distances decide the pixels outside their face
            d2, edge = _edge_dist_cols(g[15:], px, py)
            idx = ((pz >= 0) & (inside | (d2 < blur_radius))).nonzero().squeeze(1)
            d2, edge = d2.index_select(0, idx), edge.index_select(0, idx)
        else:
            idx = ((pz >= 0) & inside).nonzero().squeeze(1)
            d2, edge = _edge_dist_cols(g[15:].index_select(1, idx), px.index_select(0, idx), py.index_select(0, idx))
        del g
        inside = inside.index_select(0, idx)
        pix = (mesh.index_select(0, idx).long() * h + rr.index_select(0, idx)) * w + cc.index_select(0, idx)
        kept.append([pix, pz.index_select(0, idx), fi.index_select(0, idx)]
                    + [b.index_select(0, idx) for b in bary]
                    + [torch.where(inside, -d2, d2), edge.to(torch.int8), inside])
        kept_size += idx.numel()
        if kept_size > max(MERGE_PAIRS, 2 * merged_size) and len(kept) > 1:  # bound memory, amortised
            cols = _cat_columns(kept)
            _topk_per_pixel(cols, k)
            kept, kept_size = [cols], cols[0].numel()
            merged_size = kept_size
    if not kept:
        e = torch.zeros(0, dtype=torch.long, device=fv.device)
        z = fv.new_zeros(0)
        return _Pairs(e, e, z, fv.new_zeros(0, 3), z, e, torch.zeros(0, dtype=torch.bool, device=fv.device), rows)
    cols = _cat_columns(kept)
    slot = _output_slots(cols, k)
    _, zz, f, b0, b1, b2, dist, edge, inside = cols
    return _Pairs(slot, f, zz, torch.stack((b0, b1, b2), 1), dist, edge, inside, rows)


class _KeptPairsFn(torch.autograd.Function):
    """Scatter the kept pairs' faces, zbuf, barycentrics and distances into (N*H*W*K[, 3]) buffers.

    Each row band fills its own rows of the buffers (-1 where no pair lands) and scatters its pairs, on the
    band's thread. Backward from the (pair -> face, pixel) indices, nothing elementwise saved: distances by the
    closed-form gradient of the squared point-segment distance (as PyTorch3D's ``PointLineDistanceBackward``:
    d|p - q|^2 / da = -2 (1 - t) (p - q), / db = -2 t (p - q) at the nearest point q = a + t (b - a));
    zbuf and barycentrics, only when they receive a gradient, by recomputing their maths with autograd in
    chunks of CHUNK_PAIRS pairs. With several bands each band's gradient is summed on its own thread and the
    band sums are added (so gradients equal the one-band ones to float32 rounding, not bitwise).
    """

    @staticmethod
    def forward(ctx, fv, bands: list[_Pairs], workers: int, n: int, k: int, h: int, w: int, persp: bool,
                clip: bool):
        total = n * h * w * k
        small = torch.int32 if total < 2**31 else torch.int64  # the backward's indices, in 4 bytes when they fit
        outs = []
        workers = min(workers, len(bands))
        with worker_pool(workers) as pool:
            # One buffer at a time, each pair column released once written: a buffer may reuse the memory of
            # the columns scattered before it (peak memory).
            for name, shape, dtype in (("face", (total,), torch.long), ("pz", (total,), fv.dtype),
                                       ("bary", (total, 3), fv.dtype), ("dist", (total,), fv.dtype)):
                buf = empty_huge(shape, dtype, fv.device)
                calls = [lambda p=p, b=buf, c=name: _scatter_column(b, p, c, n, h) for p in bands]
                run_on_workers(calls, pool, workers, dynamic=True)  # disjoint rows: any order
                outs.append(buf)
        ctx.pairs = [(p.slot.to(small), p.face.to(small), p.edge, p.inside) for p in bands]
        ctx.save_for_backward(fv)
        ctx.settings = (k, h, w, persp, clip)
        ctx.workers = workers
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(outs[0])
        return tuple(outs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, _g_face, g_zbuf, g_bary, g_dists):
        (fv,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0] or all(p[0].numel() == 0 for p in ctx.pairs):
            return (torch.zeros_like(fv),) + (None,) * 8
        grads = g_zbuf, g_bary, g_dists
        workers = ctx.workers
        with one_intra_op_thread(), worker_pool(workers) as pool:
            parts = run_on_workers([lambda w=w: _bands_backward(fv, ctx.pairs[w::workers], ctx.settings, grads)
                                  for w in range(workers)], pool, workers)
            grad = parts[0]
            for part in parts[1:]:
                grad += part
        return (grad,) + (None,) * 8


def _scatter_column(buf: torch.Tensor, pairs: _Pairs, name: str, n: int, h: int) -> None:
    """Fill the band's rows of buf (N*H*W*K[, 3]) with -1 and scatter the band's column ``name`` into it; the
    column is released after (except the faces, which the backward keeps)."""
    lo, hi = pairs.rows or (0, h)
    buf.view(n, h, -1)[:, lo:hi].fill_(-1)
    values = getattr(pairs, name)
    buf.index_put_((pairs.slot,), values.long() if name == "face" else values)
    if name != "face":
        setattr(pairs, name, None)


def _bands_backward(fv: torch.Tensor, bands: list[tuple], settings: tuple, grads: tuple) -> torch.Tensor:
    """The gradient (F, 3, 3) of the kept pairs of these bands, one band after another."""
    grad = torch.zeros_like(fv)
    for pairs in bands:
        if pairs[0].numel():
            _pairs_backward(grad, fv, *pairs, settings, *grads)
    return grad


def _pairs_backward(grad: torch.Tensor, fv: torch.Tensor, slot: torch.Tensor, face: torch.Tensor,
                    edge: torch.Tensor, inside: torch.Tensor, settings: tuple, g_zbuf, g_bary, g_dists) -> None:
    """Add to grad (F, 3, 3) the gradients of the kept pairs' distances, depths and barycentrics."""
    k, h, w, persp, clip = settings
    pix = torch.div(slot, k, rounding_mode="floor")  # slot is int32 where the buffers allow: faster divisions
    ys, xs = pixel_centers_ndc(h, w, fv.dtype, fv.device)
    py = torch.div(pix, w, rounding_mode="floor")
    px = xs.index_select(0, pix.sub_(py * w))
    py = ys.index_select(0, py.remainder_(h))
    del pix
    for s in range(0, slot.numel() if g_dists is not None else 0, CHUNK_PAIRS):
        c = slice(s, s + CHUNK_PAIRS)
        _dist_backward(grad, fv, g_dists.index_select(0, slot[c]), face[c], edge[c].long(), inside[c],
                       px[c], py[c])
    if g_zbuf is not None or g_bary is not None:
        _bary_depth_backward(grad, fv, slot, face, px, py, g_zbuf, g_bary, persp, clip, CHUNK_PAIRS)


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
    threads = torch.get_num_threads()
    with one_intra_op_thread():
        fv = verts[faces]  # (F, 3, 3), differentiable
        face_mesh = meshes.faces_packed_to_mesh_idx()
    bands = _select_faces(fv.detach(), face_mesh, h, w, float(blur_radius), k, bool(perspective_correct),
                          bool(clip_barycentric_coords), bool(cull_backfaces))
    if isinstance(bands, _Pairs):  # a one-band search (tests' brute force)
        bands = [bands]
    with one_intra_op_thread():
        persp, clip = bool(perspective_correct), bool(clip_barycentric_coords)
        pix_to_face, zbuf, bary_out, dists = _KeptPairsFn.apply(fv, bands, threads, n, k, h, w, persp, clip)
    shape = (n, h, w, k)
    return pix_to_face.view(shape), zbuf.view(shape), bary_out.view(shape + (3,)), dists.view(shape)
