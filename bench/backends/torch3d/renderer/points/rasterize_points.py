"""Point rasterization: for each pixel, the K nearest-in-z points whose NDC disc covers it.

Pure PyTorch and vectorised: each point expands to the pixels of its bounding window, the
(pixel, point) pairs that pass the exact disc test are ranked within their pixel in (z, id)
order, and the first K per pixel are kept. Points are processed in ascending z, a chunk at a
time, and each pixel counts the slots it has filled, so memory is the output plus one chunk
of ``PAIRS_PER_CHUNK`` candidate pairs, never P * H * W.
Gradients reach the points through ``zbuf`` (view z) and ``dists`` (squared NDC xy distance).
"""

from __future__ import annotations

import math

import torch

# Candidate (pixel, point) pairs tested at once: ~5 bytes each, and ~80 bytes per pair that hits.
PAIRS_PER_CHUNK = 1 << 16


def _image_hw(image_size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        h = w = image_size
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        h, w = (int(v) for v in image_size)
    else:
        raise ValueError(f"image_size must be an int or an (H, W) pair; got {image_size!r}")
    if h < 1 or w < 1:
        raise ValueError(f"image_size must be positive; got {image_size!r}")
    return h, w


def pixel_centers_ndc(h: int, w: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32):
    """NDC x of each column (W,) and y of each row (H,): (+1, +1) top-left, shorter side in [-1, 1]."""
    s = min(h, w)
    xs = w / s - (2 * torch.arange(w, device=device, dtype=dtype) + 1) / s
    ys = h / s - (2 * torch.arange(h, device=device, dtype=dtype) + 1) / s
    return xs, ys


def _rank_in_pixel(pix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stable sort of pixel ids: (sorted ids, order, rank of each sorted pair within its pixel's run)."""
    pix_sorted, order = torch.sort(pix, stable=True)  # stable: keeps (z, id) order within a pixel
    pos = torch.arange(pix.numel(), device=pix.device)
    is_start = torch.ones_like(pix_sorted, dtype=torch.bool)
    is_start[1:] = pix_sorted[1:] != pix_sorted[:-1]
    first = torch.cummax(torch.where(is_start, pos, torch.zeros_like(pos)), 0).values
    return pix_sorted, order, pos.sub_(first)


@torch.no_grad()
def _rasterize_indices(
    points: torch.Tensor, valid: torch.Tensor, radius: torch.Tensor, h: int, w: int, k: int
) -> torch.Tensor:
    """Padded point ids (N, H, W, K) (n * P + p, or -1; int32 where they fit) of the K nearest-z
    covering points per pixel.

    points (N, P, 3) in NDC with view z; valid (N, P) bool; radius (N, P) in NDC units.
    Points are visited in ascending (z, id) order, a chunk at a time; each pixel keeps a count
    of the slots it has filled, so a chunk's hits go straight to their slots (rank in the chunk
    plus the pixel's count) and nothing but the output and one chunk is ever held.
    """
    n, p, _ = points.shape
    device = points.device
    xs, ys = pixel_centers_ndc(h, w, device, points.dtype)
    s = min(h, w)
    flat = points.reshape(-1, 3)
    r_flat = radius.reshape(-1)
    ids = torch.nonzero(valid.reshape(-1), as_tuple=False).squeeze(1)
    ids = ids[torch.argsort(flat[ids, 2], stable=True)]
    px, py, r = flat[ids, 0], flat[ids, 1], r_flat[ids]
    col_c = (w - px * s) * 0.5 - 0.5  # continuous column / row of each point's centre
    row_c = (h - py * s) * 0.5 - 0.5
    r_pix = r * s * 0.5
    inside = (col_c + r_pix > -1) & (col_c - r_pix < w) & (row_c + r_pix > -1) & (row_c - r_pix < h)
    ids, px, py, r, col_c, row_c, r_pix = (t[inside] for t in (ids, px, py, r, col_c, row_c, r_pix))
    id_dtype = torch.int32 if n * p < 2**31 else torch.long
    out = torch.full((n * h * w * k,), -1, dtype=id_dtype, device=device)
    if ids.numel() == 0:
        return out.view(n, h, w, k)
    win = int(math.floor(2 * float(r_pix.max()))) + 2  # covers every pixel centre within the radius
    off = torch.arange(win, device=device)
    filled = torch.zeros(n * h * w, dtype=torch.int32, device=device)  # points met per pixel so far
    chunk = max(1, PAIRS_PER_CHUNK // (win * win))
    for start in range(0, ids.numel(), chunk):
        sl = slice(start, start + chunk)
        cols = torch.floor(col_c[sl] - r_pix[sl]).long()[:, None] + off  # (chunk, win): the window's
        rows = torch.floor(row_c[sl] - r_pix[sl]).long()[:, None] + off  # columns and rows
        dx = px[sl, None] - xs[cols.clamp(0, w - 1)]
        dy = py[sl, None] - ys[rows.clamp(0, h - 1)]
        # off-image columns / rows get an infinite squared distance, so they never hit
        dx2 = torch.where((cols >= 0) & (cols < w), dx * dx, math.inf)
        dy2 = torch.where((rows >= 0) & (rows < h), dy * dy, math.inf)
        del dx, dy
        hit = dy2[:, :, None] + dx2[:, None, :] < (r[sl] ** 2)[:, None, None]  # strict, as PyTorch3D
        del dx2, dy2
        i, a, b = torch.nonzero(hit, as_tuple=True)  # point-major, so in (z, id) order
        del hit
        pix = (ids[sl] // p * (h * w))[i] + rows[i, a] * w + cols[i, b]
        pid = ids[sl][i]
        del i, a, b, rows, cols
        pix, order, rank = _rank_in_pixel(pix)
        pid = pid[order]
        del order
        rank += filled[pix]
        keep = rank < k
        out[pix[keep] * k + rank[keep]] = pid[keep].to(id_dtype)
        filled.index_add_(0, pix, torch.ones_like(pix, dtype=torch.int32))
    return out.view(n, h, w, k)


def _slot_geometry(points: torch.Tensor, idx: torch.Tensor, h: int, w: int):
    """For the filled slots of idx (N, H, W, K): (slots, point ids, dx, dy, z), dx/dy from the pixel centre."""
    flat = idx.view(-1)
    slots = torch.nonzero(flat >= 0, as_tuple=True)[0]
    pid = flat[slots].long()
    sel = points.reshape(-1, 3)[pid]
    pixel = torch.div(slots, idx.shape[-1], rounding_mode="floor").remainder_(h * w)  # y * w + x
    xs, ys = pixel_centers_ndc(h, w, points.device, points.dtype)
    dx = sel[:, 0] - xs.repeat(h)[pixel]
    dy = sel[:, 1] - ys.repeat_interleave(w)[pixel]
    return slots, pid, dx, dy, sel[:, 2]


class _SlotValues(torch.autograd.Function):
    """zbuf (view z) and dists (squared NDC xy distance to the pixel centre) of the points in idx's slots, -1 in the
    empty ones. Saves only the points and idx (PyTorch3D's backward keeps the same two): the per-slot gathers
    are made again in the backward instead of being held from forward to backward."""

    @staticmethod
    def forward(ctx, points: torch.Tensor, idx: torch.Tensor, h: int, w: int):  # noqa: ANN205
        slots, _, dx, dy, z = _slot_geometry(points, idx, h, w)
        zbuf = points.new_full((idx.numel(),), -1.0).index_put_((slots,), z).view(idx.shape)
        dists = points.new_full((idx.numel(),), -1.0).index_put_((slots,), dx * dx + dy * dy).view(idx.shape)
        ctx.save_for_backward(points, idx)
        ctx.hw = (h, w)
        ctx.set_materialize_grads(False)
        return zbuf, dists

    @staticmethod
    def backward(ctx, grad_zbuf: torch.Tensor | None, grad_dists: torch.Tensor | None):  # noqa: ANN205
        points, idx = ctx.saved_tensors
        if not ctx.needs_input_grad[0] or (grad_zbuf is None and grad_dists is None):
            return None, None, None, None
        slots, pid, dx, dy, _ = _slot_geometry(points, idx, *ctx.hw)
        per_slot = points.new_zeros(slots.numel(), 3)
        if grad_dists is not None:
            g = grad_dists.reshape(-1)[slots]
            per_slot[:, 0] = (g * dx).mul_(2.0)  # d(dx^2 + dy^2)/d(dx) = 2 dx, as autograd's g dx + g dx
            per_slot[:, 1] = (g * dy).mul_(2.0)
        if grad_zbuf is not None:
            per_slot[:, 2] = grad_zbuf.reshape(-1)[slots]
        grad = points.new_zeros(points.shape[0] * points.shape[1], 3).index_add_(0, pid, per_slot)
        return grad.view(points.shape), None, None, None


def rasterize_points_padded(
    points: torch.Tensor,
    num_points: torch.Tensor | None = None,
    image_size: int | tuple[int, int] = 256,
    radius: float | torch.Tensor = 0.01,
    points_per_pixel: int = 8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rasterize padded NDC points (N, P, 3) (z = view depth; z < 0 is culled).

    Returns idx (N, H, W, K) padded ids n * P + p or -1 (int32; int64 when N * P >= 2**31), zbuf
    and dists (N, H, W, K) (-1 where empty); zbuf and dists carry gradients to ``points``.
    """
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must have shape (N, P, 3); got {tuple(points.shape)}")
    if points_per_pixel < 1:
        raise ValueError(f"points_per_pixel must be >= 1; got {points_per_pixel}")
    h, w = _image_hw(image_size)
    n, p, _ = points.shape
    if num_points is None:
        num_points = torch.full((n,), p, dtype=torch.long, device=points.device)
    if torch.is_tensor(radius):
        if radius.shape not in ((n, p), (p,), ()):
            raise ValueError(f"radius must be a float or a tensor of shape ({n}, {p}); got {tuple(radius.shape)}")
        rad = radius.to(points).expand(n, p) if radius.ndim < 2 else radius.to(points)
    else:
        if not radius > 0:
            raise ValueError(f"radius must be positive; got {radius}")
        rad = points.new_full((n, p), float(radius))
    pts = points.detach()
    valid = torch.arange(p, device=points.device)[None] < num_points.to(points.device)[:, None]
    valid &= (pts[..., 2] >= 0) & torch.isfinite(pts).all(-1)
    idx = _rasterize_indices(pts, valid, rad.detach(), h, w, points_per_pixel)
    zbuf, dists = _SlotValues.apply(points, idx, h, w)
    return idx, zbuf, dists


def rasterize_points(
    pointclouds,
    image_size: int | tuple[int, int] = 256,
    radius: float | torch.Tensor = 0.01,
    points_per_pixel: int = 8,
    bin_size: int | None = None,
    max_points_per_bin: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PyTorch3D's rasterize_points on a Pointclouds already in NDC (z = view depth).

    Returns idx (N, H, W, K) int32 indices into the packed points (-1 empty), zbuf (N, H, W, K)
    view z ascending along K, dists (N, H, W, K) squared NDC xy distances. ``radius`` is in NDC
    units (float or per-point (P_packed,) tensor). ``bin_size``/``max_points_per_bin`` are
    accepted for API compatibility; memory is bounded by chunking instead of fixed bins.
    """
    points = pointclouds.points_padded()
    num = pointclouds.num_points_per_cloud().to(points.device)
    if torch.is_tensor(radius) and radius.ndim == 1 and radius.numel() == int(num.sum()) and radius.numel() > 1:
        radius = _packed_to_padded(radius, num, points.shape[1])
    idx, zbuf, dists = rasterize_points_padded(points, num, image_size, radius, points_per_pixel)
    return padded_ids_to_packed(idx, num, points.shape[1]), zbuf, dists


def padded_ids_to_packed(idx: torch.Tensor, num: torch.Tensor, p: int) -> torch.Tensor:
    """Padded point ids n * p + i (or -1) -> int32 packed ids first[n] + i (or -1), same shape."""
    if num.numel() == 0 or bool((num == p).all()):  # no padding: the ids are already packed ids
        return idx.int()
    first = torch.cumsum(num, 0) - num
    shift = (torch.arange(num.numel(), device=idx.device) * p - first).to(idx.dtype)  # padded - packed
    cloud = idx.clamp(min=0).div_(p, rounding_mode="floor")
    return (idx - shift[cloud]).masked_fill_(idx < 0, -1).int()


def _packed_to_padded(x: torch.Tensor, num: torch.Tensor, p: int) -> torch.Tensor:
    """(sum num,) packed per-point values -> (N, p) padded (zeros in the padding)."""
    out = x.new_zeros(num.numel(), p)
    mask = torch.arange(p, device=x.device)[None] < num[:, None]
    out[mask] = x
    return out
