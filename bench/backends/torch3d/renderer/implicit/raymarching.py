"""Raymarchers: turn per-point densities (and features) along each ray into a pixel value.

Densities are per-sample opacities in [0, 1] (not extinction coefficients): the light
reaching sample k is prod_{j<k}(1 - d_j) and the ray's opacity is 1 - prod_k(1 - d_k).
"""

from __future__ import annotations

import warnings

import torch


def _check_inputs(rays_densities: torch.Tensor, rays_features: torch.Tensor | None, need_features: bool) -> None:
    """Raise ValueError on a malformed (..., n_pts, 1) density / (..., n_pts, C) feature pair."""
    if not torch.is_tensor(rays_densities):
        raise ValueError(f"rays_densities must be a torch.Tensor; got {type(rays_densities).__name__}")
    if rays_densities.ndim < 2 or rays_densities.shape[-1] != 1:
        raise ValueError("rays_densities must have shape (..., n_points_per_ray, 1); "
                         f"got {tuple(rays_densities.shape)}")
    if need_features:
        if not torch.is_tensor(rays_features):
            raise ValueError(f"rays_features must be a torch.Tensor; got {type(rays_features).__name__}")
        if rays_features.shape[:-1] != rays_densities.shape[:-1]:
            raise ValueError(f"rays_features {tuple(rays_features.shape)} must match rays_densities "
                             f"{tuple(rays_densities.shape)} in all but the last dimension")


def _warn_out_of_bounds(rays_densities: torch.Tensor) -> None:
    if ((rays_densities > 1.0) | (rays_densities < 0.0)).any():
        warnings.warn("rays_densities has values outside [0, 1]; raymarchers expect per-sample opacities",
                      stacklevel=3)


def _shifted_cumprod(x: torch.Tensor, shift: int = 1) -> torch.Tensor:
    """cumprod along the last axis, shifted right by ``shift`` with ones filled in."""
    cp = torch.cumprod(x, dim=-1)
    return torch.cat([torch.ones_like(cp[..., :shift]), cp[..., :-shift]], dim=-1)


class EmissionAbsorptionRaymarcher(torch.nn.Module):
    """Emission-absorption compositing: features = sum_k d_k T_k f_k, T_k = prod_{j<k}(1 - d_j).

    Returns (..., feature_dim + 1): the composited features, then the opacity 1 - prod(1 - d).
    ``surface_thickness`` shifts the transmittance by that many samples (1 is standard).
    """

    def __init__(self, surface_thickness: int = 1) -> None:
        super().__init__()
        if int(surface_thickness) < 1:
            raise ValueError(f"surface_thickness must be >= 1; got {surface_thickness}")
        self.surface_thickness = int(surface_thickness)

    def forward(
        self, rays_densities: torch.Tensor, rays_features: torch.Tensor, eps: float = 1e-10, **kwargs
    ) -> torch.Tensor:
        """rays_densities (..., P, 1), rays_features (..., P, C) -> (..., C + 1)."""
        _check_inputs(rays_densities, rays_features, need_features=True)
        _warn_out_of_bounds(rays_densities)
        dens = rays_densities[..., 0]
        # eps keeps the transmittance away from an exact 0 that would stop gradients.
        transmittance = _shifted_cumprod((1.0 + eps) - dens, shift=self.surface_thickness)
        weights = dens * transmittance
        features = (weights[..., None] * rays_features).sum(dim=-2)
        opacities = 1.0 - torch.prod(1.0 - dens, dim=-1, keepdim=True)
        return torch.cat((features, opacities), dim=-1)


class AbsorptionOnlyRaymarcher(torch.nn.Module):
    """Opacity only: 1 - prod_k(1 - d_k), shape (..., 1)."""

    def forward(self, rays_densities: torch.Tensor, **kwargs) -> torch.Tensor:
        """rays_densities (..., P, 1) -> (..., 1)."""
        _check_inputs(rays_densities, None, need_features=False)
        _warn_out_of_bounds(rays_densities)
        return 1.0 - torch.prod(1.0 - rays_densities[..., 0], dim=-1, keepdim=True)
