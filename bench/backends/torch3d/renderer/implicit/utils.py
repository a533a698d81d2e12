"""Ray bundles: the rays a raysampler emits and the 3D points sampled along them."""

from __future__ import annotations

from typing import NamedTuple

import torch


class RayBundle(NamedTuple):
    """Rays as (origins, directions, lengths, xys).

    Shapes: origins and directions (N, ..., 3); lengths (N, ..., n_pts_per_ray), the
    depths of the samples along each ray; xys (N, ..., 2), each ray's image coordinates.
    """

    origins: torch.Tensor
    directions: torch.Tensor
    lengths: torch.Tensor
    xys: torch.Tensor


def _validate_ray_bundle_variables(origins: torch.Tensor, directions: torch.Tensor, lengths: torch.Tensor) -> None:
    """Raise ValueError unless origins/directions are (..., 3) and lengths is (..., n_pts) over the same rays."""
    if origins.shape[-1] != 3 or directions.shape[-1] != 3:
        raise ValueError(f"ray origins and directions must end in 3; got {tuple(origins.shape)} and "
                         f"{tuple(directions.shape)}")
    if origins.shape != directions.shape:
        raise ValueError(f"ray origins {tuple(origins.shape)} and directions {tuple(directions.shape)} differ")
    if lengths.shape[:-1] != origins.shape[:-1]:
        raise ValueError(f"ray lengths {tuple(lengths.shape)} must have the ray dims of origins "
                         f"{tuple(origins.shape[:-1])} plus n_pts_per_ray")


def ray_bundle_variables_to_ray_points(
    rays_origins: torch.Tensor, rays_directions: torch.Tensor, rays_lengths: torch.Tensor
) -> torch.Tensor:
    """Points origin + length * direction, (..., n_pts_per_ray, 3)."""
    return rays_origins[..., None, :] + rays_lengths[..., :, None] * rays_directions[..., None, :]


def ray_bundle_to_ray_points(ray_bundle: RayBundle) -> torch.Tensor:
    """The 3D sample points of a RayBundle, (N, ..., n_pts_per_ray, 3)."""
    return ray_bundle_variables_to_ray_points(ray_bundle.origins, ray_bundle.directions, ray_bundle.lengths)
