"""Point rasterization: for each pixel, the K nearest-in-z points whose NDC disc covers it.

Pure PyTorch and vectorised: each point expands to the pixels of its bounding window, the
(pixel, point) pairs that pass the exact disc test are sorted by (pixel, z), and the first
K per pixel are kept. Points are processed in chunks (merging each chunk's survivors with
the running top-K), so memory is bounded by ``pairs_per_chunk`` pairs, not by P * H * W.
Gradients reach the points through ``zbuf`` (view z) and ``dists`` (squared NDC xy distance).
"""

from __future__ import annotations

import math

import torch

# Candidate (pixel, point) pairs materialised at once; about 40 bytes each while selecting.
PAIRS_PER_CHUNK = 1 << 22


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


def _select_topk(pix: torch.Tensor, pid: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep the first k pairs of each pixel, pairs given in ascending (z, id) order; returns (pix, pid, rank)."""
    order = torch.argsort(pix, stable=True)  # stable: keeps (z, id) order within a pixel
    pix, pid = pix[order], pid[order]
    pos = torch.arange(pix.numel(), device=pix.device)
    is_start = torch.ones_like(pix, dtype=torch.bool)
    is_start[1:] = pix[1:] != pix[:-1]
    rank = pos - torch.cummax(torch.where(is_start, pos, torch.zeros_like(pos)), 0).values
    keep = rank < k
    return pix[keep], pid[keep], rank[keep]


@torch.no_grad()
def _rasterize_indices(
    points: torch.Tensor, valid: torch.Tensor, radius: torch.Tensor, h: int, w: int, k: int
) -> torch.Tensor:
    """Padded point ids (N, H, W, K) (n * P + p, or -1) of the K nearest-z covering points per pixel.

    points (N, P, 3) in NDC with view z; valid (N, P) bool; radius (N, P) in NDC units.
    """
    n, p, _ = points.shape
    device = points.device
    xs, ys = pixel_centers_ndc(h, w, device, points.dtype)
    s = min(h, w)
    flat = points.reshape(-1, 3)
    r_flat = radius.reshape(-1)
    ids = torch.nonzero(valid.reshape(-1), as_tuple=False).squeeze(1)
    # visit points in ascending (z, id) order, so pairs arrive already sorted by depth
    ids = ids[torch.argsort(flat[ids, 2], stable=True)]
    px, py, r = flat[ids, 0], flat[ids, 1], r_flat[ids]
    col_c = (w - px * s) * 0.5 - 0.5  # continuous column / row of each point's centre
    row_c = (h - py * s) * 0.5 - 0.5
    r_pix = r * s * 0.5
    inside = (col_c + r_pix > -1) & (col_c - r_pix < w) & (row_c + r_pix > -1) & (row_c - r_pix < h)
    ids, px, py, r, col_c, row_c, r_pix = (t[inside] for t in (ids, px, py, r, col_c, row_c, r_pix))
    out = torch.full((n * h * w * k,), -1, dtype=torch.long, device=device)
    if ids.numel() == 0:
        return out.view(n, h, w, k)
    win = int(math.floor(2 * float(r_pix.max()))) + 2  # covers every pixel centre within the radius
    off = torch.arange(win, device=device)
    off_r, off_c = (t.reshape(1, -1) for t in torch.meshgrid(off, off, indexing="ij"))
    chunk = max(1, PAIRS_PER_CHUNK // (win * win))
    best_pix, best_pid = ids.new_empty(0), ids.new_empty(0)
    for start in range(0, ids.numel(), chunk):
        sl = slice(start, start + chunk)
        cols = torch.floor(col_c[sl] - r_pix[sl]).long()[:, None] + off_c  # (chunk, win * win)
        rows = torch.floor(row_c[sl] - r_pix[sl]).long()[:, None] + off_r
        dx = px[sl, None] - xs[cols.clamp(0, w - 1)]
        dy = py[sl, None] - ys[rows.clamp(0, h - 1)]
        hit = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
        hit &= dx * dx + dy * dy < r[sl, None] ** 2  # strict, as PyTorch3D
        base = (ids[sl] // p) * (h * w)
        pix = (base[:, None] + rows * w + cols)[hit]
        pid = torch.repeat_interleave(ids[sl], hit.sum(1))
        best_pix, best_pid, rank = _select_topk(torch.cat((best_pix, pix)), torch.cat((best_pid, pid)), k)
    out[best_pix * k + rank] = best_pid
    return out.view(n, h, w, k)


def rasterize_points_padded(
    points: torch.Tensor,
    num_points: torch.Tensor | None = None,
    image_size: int | tuple[int, int] = 256,
    radius: float | torch.Tensor = 0.01,
    points_per_pixel: int = 8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rasterize padded NDC points (N, P, 3) (z = view depth; z < 0 is culled).

    Returns idx (N, H, W, K) int64 padded ids n * P + p or -1, zbuf and dists (N, H, W, K)
    (-1 where empty); zbuf and dists carry gradients to ``points``.
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
    # differentiable values only for the filled slots: gather their points, scatter into -1 buffers
    slots = torch.nonzero(idx.reshape(-1) >= 0, as_tuple=True)[0]
    sel = points.reshape(-1, 3)[idx.reshape(-1)[slots]]
    xs, ys = pixel_centers_ndc(h, w, points.device, points.dtype)
    col = (slots // points_per_pixel) % w
    row = (slots // (points_per_pixel * w)) % h
    dx, dy = sel[:, 0] - xs[col], sel[:, 1] - ys[row]
    empty = points.new_full((idx.numel(),), -1.0)
    zbuf = empty.index_put((slots,), sel[:, 2]).view(idx.shape)
    dists = empty.index_put((slots,), dx * dx + dy * dy).view(idx.shape)
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
    first = torch.cumsum(num, 0) - num
    return torch.where(idx >= 0, first[idx.clamp(min=0) // p] + idx % p, idx).int()


def _packed_to_padded(x: torch.Tensor, num: torch.Tensor, p: int) -> torch.Tensor:
    """(sum num,) packed per-point values -> (N, p) padded (zeros in the padding)."""
    out = x.new_zeros(num.numel(), p)
    mask = torch.arange(p, device=x.device)[None] < num[:, None]
    out[mask] = x
    return out
