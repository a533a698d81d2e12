"""Exact nearest neighbours for evaluation: a KD-tree (SciPy) on CPU, chunked brute force on GPU.

Both paths return the neighbour index and the squared distance recomputed exactly in float64 from
the two points, so the metric values do not depend on the search method (up to ties).
"""

from __future__ import annotations

import numpy as np
import torch

METHODS = ("auto", "kdtree", "torch")
# Elements of one (chunk x Q) distance block in the brute-force path (~256 MB in float32).
_BLOCK = 1 << 26


def _resolve(method: str, device: torch.device) -> str:
    if method not in METHODS:
        raise ValueError(f"knn: expected one of {METHODS}, got {method!r}")
    if method == "auto":
        return "torch" if device.type == "cuda" else "kdtree"
    return method


def _kdtree_idx(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    from scipy.spatial import cKDTree

    tree = cKDTree(y.detach().cpu().numpy().astype(np.float64, copy=False))
    _, idx = tree.query(x.detach().cpu().numpy().astype(np.float64, copy=False), k=1, workers=-1)
    return torch.from_numpy(np.asarray(idx, dtype=np.int64)).to(x.device)


def _torch_idx(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Argmin of ||x - y||^2 by matrix products, in chunks of x; float32 on GPU is fine for the argmin."""
    dtype = torch.float32 if x.device.type == "cuda" else torch.float64
    xf, yf = x.to(dtype), y.to(dtype)
    y2 = yf.square().sum(1)
    chunk = max(1, _BLOCK // max(1, y.shape[0]))
    out = []
    for a in range(0, xf.shape[0], chunk):
        xa = xf[a:a + chunk]
        # ||x||^2 is constant per row and does not change the argmin.
        d = torch.addmm(y2[None], xa, yf.T, alpha=-2.0)
        out.append(d.argmin(1))
    return torch.cat(out)


def nearest(x: torch.Tensor, y: torch.Tensor, method: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """For each point of x (P, 3), its nearest point in y (Q, 3): (squared distance (P,) float64, index (P,))."""
    m = _resolve(method, x.device)
    idx = _kdtree_idx(x, y) if m == "kdtree" else _torch_idx(x, y)
    d2 = (x.to(torch.float64) - y.to(torch.float64)[idx]).square().sum(-1)
    return d2, idx
