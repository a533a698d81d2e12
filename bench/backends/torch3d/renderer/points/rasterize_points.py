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


def _select_topk(pix: torch.Tensor, z: torch.Tensor, pid: torch.Tensor, k: int):
    """Keep, per pixel, the k pairs of smallest z (ties: earlier pairs first); returns (pix, pid, z, rank)."""
    order = torch.argsort(z, stable=True)
    order = order[torch.argsort(pix[order], stable=True)]
    pix, z, pid = pix[order], z[order], pid[order]
    _, counts = torch.unique_consecutive(pix, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(pix.numel(), device=pix.device) - torch.repeat_interleave(starts, counts)
    keep = rank < k
    return pix[keep], pid[keep], z[keep], rank[keep]


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
    # continuous column/row of each point's centre, and the first pixel of its window
    col_c = (w - flat[ids, 0] * s) * 0.5 - 0.5
    row_c = (h - flat[ids, 1] * s) * 0.5 - 0.5
    r_pix = r_flat[ids] * s * 0.5
    inside = (col_c + r_pix > -1) & (col_c - r_pix < w) & (row_c + r_pix > -1) & (row_c - r_pix < h)
    ids, col_c, row_c, r_pix = ids[inside], col_c[inside], row_c[inside], r_pix[inside]
    out = torch.full((n * h * w * k,), -1, dtype=torch.long, device=device)
    if ids.numel() == 0:
        return out.view(n, h, w, k)
    win = int(math.floor(2 * float(r_pix.max()))) + 2  # covers every pixel centre within the radius
    off = torch.arange(win, device=device)
    off_r, off_c = torch.meshgrid(off, off, indexing="ij")
    off_r, off_c = off_r.reshape(-1), off_c.reshape(-1)
    chunk = max(1, PAIRS_PER_CHUNK // (win * win))
    best = (ids.new_empty(0), ids.new_empty(0), flat.new_empty(0))
    for start in range(0, ids.numel(), chunk):
        sl = slice(start, start + chunk)
        cid = ids[sl]
        c0 = torch.floor(col_c[sl] - r_pix[sl]).long()
        r0 = torch.floor(row_c[sl] - r_pix[sl]).long()
        cols = (c0[:, None] + off_c).reshape(-1)
        rows = (r0[:, None] + off_r).reshape(-1)
        pid = cid[:, None].expand(-1, off_c.numel()).reshape(-1)
        ok = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
        cols, rows, pid = cols[ok], rows[ok], pid[ok]
        pts = flat[pid]
        dx = pts[:, 0] - xs[cols]
        dy = pts[:, 1] - ys[rows]
        hit = dx * dx + dy * dy < r_flat[pid] ** 2  # strict, as PyTorch3D
        cols, rows, pid = cols[hit], rows[hit], pid[hit]
        pix = (pid // p) * (h * w) + rows * w + cols
        pix = torch.cat((best[0], pix))
        pid = torch.cat((best[1], pid))
        z = torch.cat((best[2], flat[pid[best[1].numel():], 2]))
        pix, pid, z, rank = _select_topk(pix, z, pid, k)
        best = (pix, pid, z)
    out[pix * k + rank] = pid
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
    has = idx >= 0
    gathered = points.reshape(-1, 3)[idx.clamp(min=0)]  # (N, H, W, K, 3)
    xs, ys = pixel_centers_ndc(h, w, points.device, points.dtype)
    dx = gathered[..., 0] - xs[None, None, :, None]
    dy = gathered[..., 1] - ys[None, :, None, None]
    minus_one = points.new_tensor(-1.0)
    zbuf = torch.where(has, gathered[..., 2], minus_one)
    dists = torch.where(has, dx * dx + dy * dy, minus_one)
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
    p = points.shape[1]
    first = torch.cumsum(num, 0) - num
    packed = torch.where(idx >= 0, first[idx.clamp(min=0) // p] + idx % p, idx)
    return packed.int(), zbuf, dists


def _packed_to_padded(x: torch.Tensor, num: torch.Tensor, p: int) -> torch.Tensor:
    """(sum num,) packed per-point values -> (N, p) padded (zeros in the padding)."""
    out = x.new_zeros(num.numel(), p)
    mask = torch.arange(p, device=x.device)[None] < num[:, None]
    out[mask] = x
    return out
