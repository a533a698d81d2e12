"""Point-cloud normals and local frames from neighbourhood covariances (PyTorch3D's ``ops.points_normals``)."""

from __future__ import annotations

import torch

from .knn import knn_points


def _to_padded(pointclouds) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(pointclouds, "points_padded") and hasattr(pointclouds, "num_points_per_cloud"):
        return pointclouds.points_padded(), pointclouds.num_points_per_cloud()
    if torch.is_tensor(pointclouds) and pointclouds.ndim == 3:
        n, p = pointclouds.shape[:2]
        return pointclouds, torch.full((n,), p, dtype=torch.int64, device=pointclouds.device)
    raise ValueError("pointclouds must be a Pointclouds or an (N, P, 3) tensor")


def _flip_towards_majority(points: torch.Tensor, knns: torch.Tensor, vecs: torch.Tensor) -> torch.Tensor:
    """Flip each (N, P, 3) direction so that at least half of the point's neighbours lie on its positive side."""
    proj = ((knns - points[:, :, None]) * vecs[:, :, None]).sum(3)
    n_pos = (proj > 0).to(knns.dtype).sum(2, keepdim=True)
    flip = (n_pos < 0.5 * knns.shape[2]).to(knns.dtype)
    return (1.0 - 2.0 * flip) * vecs


def estimate_pointcloud_local_coord_frames(pointclouds, neighborhood_size: int = 50,
                                           disambiguate_directions: bool = True, *,
                                           use_symeig_workaround: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Curvatures (N, P, 3) ascending and frames (N, P, 3, 3) whose columns are the principal directions.

    Column 0 is the normal (smallest-variance direction) of the ``neighborhood_size`` nearest points
    (the point included). ``use_symeig_workaround`` is accepted for API parity; torch.linalg.eigh is used.
    """
    points, lengths = _to_padded(pointclouds)
    if points.shape[2] != 3:
        raise ValueError(f"pointclouds must have shape (N, P, 3), got {tuple(points.shape)}")
    if not isinstance(neighborhood_size, int) or neighborhood_size < 1:
        raise ValueError(f"neighborhood_size must be a positive int, got {neighborhood_size!r}")
    if bool((lengths <= neighborhood_size).any()):
        raise ValueError(f"neighborhood_size ({neighborhood_size}) must be smaller than the number of points "
                         f"of every cloud (smallest: {int(lengths.min())})")
    mean = points.sum(1) / lengths[:, None].to(points.dtype)
    centred = points - mean[:, None]
    knns = knn_points(centred, centred, lengths, lengths, K=neighborhood_size, return_nn=True).knn
    local = knns - knns.mean(2, keepdim=True)
    cov = torch.einsum("npki,npkj->npij", local, local) / neighborhood_size
    curvatures, frames = torch.linalg.eigh(cov)
    if disambiguate_directions:
        n = _flip_towards_majority(centred, knns, frames[..., 0])
        z = _flip_towards_majority(centred, knns, frames[..., 2])
        frames = torch.stack([n, torch.linalg.cross(n, z, dim=2), z], 3)
    return curvatures, frames


def estimate_pointcloud_normals(pointclouds, neighborhood_size: int = 50, disambiguate_directions: bool = True, *,
                                use_symeig_workaround: bool = True) -> torch.Tensor:
    """(N, P, 3) unit normals: the least-variance direction of each point's neighbourhood."""
    _, frames = estimate_pointcloud_local_coord_frames(pointclouds, neighborhood_size, disambiguate_directions,
                                                       use_symeig_workaround=use_symeig_workaround)
    return frames[..., 0]
