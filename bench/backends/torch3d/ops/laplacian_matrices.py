"""Sparse mesh Laplacians: uniform, cotangent and inverse-edge-length (PyTorch3D's conventions)."""

from __future__ import annotations

import torch


def _sparse(idx: torch.Tensor, val: torch.Tensor, V: int) -> torch.Tensor:
    return torch.sparse_coo_tensor(idx, val, (V, V), check_invariants=False).coalesce()


def laplacian(verts: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(V, V) sparse uniform Laplacian: L[i, j] = 1/deg(i) for each neighbour j, L[i, i] = -1.

    Args: verts (V, 3) (only its size and device are used), edges (E, 2) undirected edges.
    """
    V = verts.shape[0]
    e0, e1 = edges[:, 0], edges[:, 1]
    idx = torch.cat([torch.stack([e0, e1]), torch.stack([e1, e0])], 1)
    deg = torch.zeros(V, dtype=verts.dtype, device=verts.device)
    deg = deg.index_add(0, idx[0], torch.ones(idx.shape[1], dtype=verts.dtype, device=verts.device))
    inv = torch.where(deg > 0, 1.0 / deg.clamp(min=1), deg)
    diag = torch.arange(V, device=verts.device)
    all_idx = torch.cat([idx, torch.stack([diag, diag])], 1)
    vals = torch.cat([inv[idx[0]], -torch.ones(V, dtype=verts.dtype, device=verts.device)])
    return _sparse(all_idx, vals, V)


def cot_laplacian(verts: torch.Tensor, faces: torch.Tensor, eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """Cotangent weights and inverse vertex areas.

    Returns L (V, V) sparse with L[i, j] = cot(a_ij) + cot(b_ij) (the angles opposite edge ij),
    no diagonal, and inv_areas (V, 1): 1 / (sum of the areas of the faces around each vertex), 0 if none.
    """
    V = verts.shape[0]
    fv = verts[faces]
    v0, v1, v2 = fv[:, 0], fv[:, 1], fv[:, 2]
    A = (v1 - v2).norm(dim=1)  # side opposite corner 0
    B = (v0 - v2).norm(dim=1)
    C = (v0 - v1).norm(dim=1)
    s = 0.5 * (A + B + C)
    # Heron's formula; clamping keeps degenerate faces finite.
    area = (s * (s - A) * (s - B) * (s - C)).clamp(min=eps).sqrt()
    A2, B2, C2 = A * A, B * B, C * C
    cot = torch.stack([B2 + C2 - A2, A2 + C2 - B2, A2 + B2 - C2], 1) / (4.0 * area[:, None])
    ii = faces[:, [1, 2, 0]]
    jj = faces[:, [2, 0, 1]]
    idx = torch.stack([ii, jj]).reshape(2, -1)
    L = torch.sparse_coo_tensor(idx, cot.reshape(-1), (V, V), check_invariants=False)
    L = (L + L.t()).coalesce()
    vert_area = torch.zeros(V, dtype=verts.dtype, device=verts.device)
    vert_area = vert_area.index_add(0, faces.reshape(-1), area[:, None].expand(-1, 3).reshape(-1))
    inv_areas = torch.where(vert_area > 0, 1.0 / vert_area.clamp(min=eps), vert_area)
    return L, inv_areas[:, None]


def norm_laplacian(verts: torch.Tensor, edges: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(V, V) sparse symmetric matrix with L[i, j] = 1 / (|v_i - v_j| + eps) for each edge."""
    V = verts.shape[0]
    e0, e1 = edges[:, 0], edges[:, 1]
    w = 1.0 / ((verts[e0] - verts[e1]).norm(dim=1) + eps)
    idx = torch.cat([torch.stack([e0, e1]), torch.stack([e1, e0])], 1)
    return _sparse(idx, torch.cat([w, w]), V)
