"""Implicit and volume renderers: raysampler -> field evaluation -> raymarcher."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...structures.volumes import Volumes
from .utils import RayBundle, _validate_ray_bundle_variables, ray_bundle_variables_to_ray_points


class ImplicitRenderer(torch.nn.Module):
    """Render a field given as ``volumetric_function(ray_bundle, **kw) -> (densities, features)``.

    forward(cameras, volumetric_function) returns (images, ray_bundle); images are the
    raymarcher's output over the raysampler's ray layout, e.g. (N, H, W, C + 1).
    """

    def __init__(self, raysampler: Callable, raymarcher: Callable) -> None:
        super().__init__()
        if not callable(raysampler):
            raise ValueError("raysampler must be callable (cameras -> RayBundle)")
        if not callable(raymarcher):
            raise ValueError("raymarcher must be callable (rays_densities, rays_features -> images)")
        self.raysampler = raysampler
        self.raymarcher = raymarcher

    def forward(self, cameras, volumetric_function: Callable, **kwargs) -> tuple[torch.Tensor, RayBundle]:
        """Sample rays of ``cameras``, evaluate the field on them and march: (images, ray_bundle)."""
        if not callable(volumetric_function):
            raise ValueError("volumetric_function must be callable (ray_bundle -> (densities, features))")
        ray_bundle = self.raysampler(cameras=cameras, volumetric_function=volumetric_function, **kwargs)
        rays_densities, rays_features = volumetric_function(ray_bundle=ray_bundle, cameras=cameras, **kwargs)
        images = self.raymarcher(
            rays_densities=rays_densities, rays_features=rays_features, ray_bundle=ray_bundle, **kwargs
        )
        return images, ray_bundle


class VolumeSampler(torch.nn.Module):
    """A volumetric function that samples a Volumes batch (trilinear or nearest) at the ray points.

    Points outside the volume read zeros (density and features).
    """

    def __init__(self, volumes: Volumes, sample_mode: str = "bilinear") -> None:
        super().__init__()
        if not isinstance(volumes, Volumes):
            raise ValueError(f"volumes must be a Volumes instance; got {type(volumes).__name__}")
        if sample_mode not in ("bilinear", "nearest"):
            raise ValueError(f"sample_mode must be 'bilinear' or 'nearest'; got {sample_mode!r}")
        self._volumes = volumes
        self._sample_mode = sample_mode

    def _sample(self, field: torch.Tensor, grid: torch.Tensor, batch_shape: torch.Size) -> torch.Tensor:
        """``field`` (N, C, D, H, W) at ``grid`` (N, M, 1, 1, 3): (*batch_shape, C), M = prod(batch_shape[1:])."""
        sampled = torch.nn.functional.grid_sample(
            field, grid.to(field.dtype), mode=self._sample_mode, padding_mode="zeros",
            align_corners=self._volumes.get_align_corners())  # (N, C, M, 1, 1)
        sampled = sampled.reshape(sampled.shape[0], sampled.shape[1], -1).transpose(1, 2)
        return sampled.reshape(*batch_shape, field.shape[1])

    def forward(self, ray_bundle: RayBundle, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        """(densities (N, ..., P, density_dim), features (N, ..., P, feature_dim)) at the ray points."""
        _validate_ray_bundle_variables(ray_bundle.origins, ray_bundle.directions, ray_bundle.lengths)
        vols = self._volumes
        if ray_bundle.origins.shape[0] != len(vols):
            raise ValueError(f"the ray bundle has batch size {ray_bundle.origins.shape[0]} but the volumes "
                             f"have {len(vols)}")
        # As PyTorch3D (renderer/implicit/renderer.py, VolumeSampler.forward): origins and directions go to
        # local coordinates (directions by the linear part only), then the points are formed, so the
        # affine map runs on (N, ..., 3) rays rather than on every (N, ..., P, 3) sample.
        origins_local = vols.world_to_local_coords(ray_bundle.origins)
        directions_local = vols.world_to_local_directions(ray_bundle.directions)
        points_local = ray_bundle_variables_to_ray_points(origins_local, directions_local, ray_bundle.lengths)
        dens = vols.densities()
        feats = vols.features()
        grid = points_local.reshape(points_local.shape[0], -1, 1, 1, 3)
        # One grid_sample per field, as PyTorch3D: a single call on the fields concatenated along the
        # channels would copy both into one (N, C, D, H, W) tensor (for a grid expanded over a batch of views,
        # the whole batch), and the backward of splitting its output concatenates the two gradients again:
        # 2.5 MiB more at the volumes suite's smoke step, for ~3% less sampler time (issue 22, docs/backends.md).
        # Outputs and the fields' gradients are the same bits as the one call's; a gradient to the sample points
        # is summed over the two calls instead of over the channels of one (rounding).
        rays_densities = self._sample(dens, grid, points_local.shape[:-1])
        if feats is None:
            rays_features = rays_densities[..., :0]
        else:
            rays_features = self._sample(feats, grid, points_local.shape[:-1])
        return rays_densities, rays_features


class VolumeRenderer(torch.nn.Module):
    """Render a Volumes batch: forward(cameras, volumes) -> (images, ray_bundle)."""

    def __init__(self, raysampler: Callable, raymarcher: Callable, sample_mode: str = "bilinear") -> None:
        super().__init__()
        self.renderer = ImplicitRenderer(raysampler, raymarcher)
        self._sample_mode = sample_mode

    def forward(self, cameras, volumes: Volumes, **kwargs) -> tuple[torch.Tensor, RayBundle]:
        """Raymarch ``volumes`` seen from ``cameras``; images (N, ..., feature_dim + 1)."""
        sampler = VolumeSampler(volumes, sample_mode=self._sample_mode)
        return self.renderer(cameras=cameras, volumetric_function=sampler, **kwargs)
