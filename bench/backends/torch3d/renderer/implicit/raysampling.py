"""Raysamplers: emit rays through image pixels (a grid, a random subset, or random points).

Each ray's points lie at depths ``lengths`` between min_depth and max_depth; the rays come
from unprojecting each (x, y) at depths 1 and 2 with the camera, so ``origins + lengths *
directions`` are the points at those camera depths (directions are not unit unless asked).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from .utils import RayBundle


def _check_depths(min_depth: float, max_depth: float, n_pts_per_ray: int) -> None:
    if n_pts_per_ray < 0:
        raise ValueError(f"n_pts_per_ray must be >= 0; got {n_pts_per_ray}")
    if not min_depth <= max_depth:
        raise ValueError(f"min_depth ({min_depth}) must be <= max_depth ({max_depth})")


def _jiggle_within_stratas(bin_centers: torch.Tensor) -> torch.Tensor:
    """One uniform sample per stratum around each sorted depth (..., P): between midpoints."""
    mids = 0.5 * (bin_centers[..., 1:] + bin_centers[..., :-1])
    upper = torch.cat((mids, bin_centers[..., -1:]), dim=-1)
    lower = torch.cat((bin_centers[..., :1], mids), dim=-1)
    return lower + (upper - lower) * torch.rand_like(lower)


def _xy_to_ray_bundle(
    cameras,
    xy_grid: torch.Tensor,
    min_depth: float,
    max_depth: float,
    n_pts_per_ray: int,
    unit_directions: bool,
    stratified_sampling: bool = False,
) -> RayBundle:
    """Rays through the NDC points xy_grid (N, ..., 2) of ``cameras``."""
    n = xy_grid.shape[0]
    spatial = xy_grid.shape[1:-1]
    n_rays = spatial.numel()
    depths = torch.linspace(min_depth, max_depth, n_pts_per_ray, dtype=xy_grid.dtype, device=xy_grid.device)
    rays_zs = depths[None, None].expand(n, n_rays, n_pts_per_ray)
    if stratified_sampling and n_pts_per_ray > 1:
        rays_zs = _jiggle_within_stratas(rays_zs)
    xy = xy_grid.reshape(n, 1, n_rays, 2).expand(n, 2, n_rays, 2).reshape(n, 2 * n_rays, 2)
    z = torch.cat((xy_grid.new_ones(n, n_rays, 1), xy_grid.new_full((n, n_rays, 1), 2.0)), dim=1)
    world = cameras.unproject_points(torch.cat((xy, z), dim=-1), from_ndc=True)
    plane1, plane2 = world[:, :n_rays], world[:, n_rays:]
    directions = plane2 - plane1
    origins = plane1 - directions  # the point at camera depth 0
    if unit_directions:
        directions = F.normalize(directions, dim=-1)
    return RayBundle(
        origins.reshape(n, *spatial, 3),
        directions.reshape(n, *spatial, 3),
        rays_zs.reshape(n, *spatial, n_pts_per_ray),
        xy_grid,
    )


class MultinomialRaysampler(torch.nn.Module):
    """Rays through a regular image grid of pixel centres spanning [min_x, max_x] x [min_y, max_y].

    With ``n_rays_per_image`` (or a ``mask`` in forward) a random subset of the grid's pixels
    is drawn without replacement; the RayBundle is then (N, n_rays, 1, ...) instead of (N, H, W, ...).
    """

    def __init__(
        self,
        *,
        min_x: float,
        max_x: float,
        min_y: float,
        max_y: float,
        image_width: int,
        image_height: int,
        n_pts_per_ray: int,
        min_depth: float,
        max_depth: float,
        n_rays_per_image: int | None = None,
        unit_directions: bool = False,
        stratified_sampling: bool = False,
    ) -> None:
        super().__init__()
        if image_width < 1 or image_height < 1:
            raise ValueError(f"image_width and image_height must be >= 1; got {image_width}x{image_height}")
        _check_depths(min_depth, max_depth, n_pts_per_ray)
        self._n_pts_per_ray = n_pts_per_ray
        self._min_depth, self._max_depth = min_depth, max_depth
        self._n_rays_per_image = n_rays_per_image
        self._unit_directions = unit_directions
        self._stratified_sampling = stratified_sampling
        self.min_x, self.max_x, self.min_y, self.max_y = min_x, max_x, min_y, max_y
        y, x = torch.meshgrid(
            torch.linspace(min_y, max_y, image_height, dtype=torch.float32),
            torch.linspace(min_x, max_x, image_width, dtype=torch.float32),
            indexing="ij",
        )
        self.register_buffer("_xy_grid", torch.stack([x, y], dim=-1), persistent=False)

    def forward(
        self,
        cameras,
        *,
        mask: torch.Tensor | None = None,
        min_depth: float | None = None,
        max_depth: float | None = None,
        n_rays_per_image: int | None = None,
        n_pts_per_ray: int | None = None,
        stratified_sampling: bool | None = None,
        **kwargs,
    ) -> RayBundle:
        """Rays of a batch of cameras: origins/directions (N, H, W, 3), lengths (N, H, W, P), xys (N, H, W, 2)."""
        n = cameras.R.shape[0]
        xy_grid = self._xy_grid.to(cameras.device).expand(n, -1, -1, -1)
        n_rays_per_image = n_rays_per_image or self._n_rays_per_image
        if mask is not None:
            if mask.shape != xy_grid.shape[:3]:
                raise ValueError(f"mask must have shape {tuple(xy_grid.shape[:3])}; got {tuple(mask.shape)}")
            if n_rays_per_image is None:
                n_rays_per_image = int(mask.reshape(n, -1).sum(-1).min().item())
        if n_rays_per_image is not None:
            weights = (mask.reshape(n, -1).to(xy_grid.dtype) if mask is not None
                       else xy_grid.new_ones(n, xy_grid.shape[1] * xy_grid.shape[2]))
            replace = bool(((weights > 0).sum(-1) < n_rays_per_image).any())
            idx = torch.multinomial(weights, n_rays_per_image, replacement=replace)
            xy_grid = torch.gather(xy_grid.reshape(n, -1, 2), 1, idx[..., None].expand(-1, -1, 2))[:, :, None]
        min_depth = self._min_depth if min_depth is None else min_depth
        max_depth = self._max_depth if max_depth is None else max_depth
        n_pts = self._n_pts_per_ray if n_pts_per_ray is None else n_pts_per_ray
        _check_depths(min_depth, max_depth, n_pts)
        strat = self._stratified_sampling if stratified_sampling is None else stratified_sampling
        return _xy_to_ray_bundle(cameras, xy_grid, min_depth, max_depth, n_pts, self._unit_directions, strat)


class NDCMultinomialRaysampler(MultinomialRaysampler):
    """MultinomialRaysampler on PyTorch3D's NDC pixel centres (+X left, +Y up, (+1, +1) top-left).

    The shorter image side spans [-1, 1]; the longer one [-u, u] with u the aspect ratio.
    """

    def __init__(
        self,
        *,
        image_width: int,
        image_height: int,
        n_pts_per_ray: int,
        min_depth: float,
        max_depth: float,
        n_rays_per_image: int | None = None,
        unit_directions: bool = False,
        stratified_sampling: bool = False,
    ) -> None:
        if image_width < 1 or image_height < 1:
            raise ValueError(f"image_width and image_height must be >= 1; got {image_width}x{image_height}")
        short = min(image_width, image_height)
        range_x, range_y = image_width / short, image_height / short
        half_w, half_h = range_x / image_width, range_y / image_height
        super().__init__(
            min_x=range_x - half_w, max_x=-range_x + half_w,
            min_y=range_y - half_h, max_y=-range_y + half_h,
            image_width=image_width, image_height=image_height, n_pts_per_ray=n_pts_per_ray,
            min_depth=min_depth, max_depth=max_depth, n_rays_per_image=n_rays_per_image,
            unit_directions=unit_directions, stratified_sampling=stratified_sampling,
        )


class MonteCarloRaysampler(torch.nn.Module):
    """Rays through ``n_rays_per_image`` uniformly random real-valued (x, y) in the given box."""

    def __init__(
        self,
        min_x: float,
        max_x: float,
        min_y: float,
        max_y: float,
        n_rays_per_image: int,
        n_pts_per_ray: int,
        min_depth: float,
        max_depth: float,
        *,
        unit_directions: bool = False,
        stratified_sampling: bool = False,
    ) -> None:
        super().__init__()
        if n_rays_per_image < 1:
            raise ValueError(f"n_rays_per_image must be >= 1; got {n_rays_per_image}")
        _check_depths(min_depth, max_depth, n_pts_per_ray)
        self._min_x, self._max_x, self._min_y, self._max_y = min_x, max_x, min_y, max_y
        self._n_rays_per_image = n_rays_per_image
        self._n_pts_per_ray = n_pts_per_ray
        self._min_depth, self._max_depth = min_depth, max_depth
        self._unit_directions = unit_directions
        self._stratified_sampling = stratified_sampling

    def forward(self, cameras, *, stratified_sampling: bool | None = None, **kwargs) -> RayBundle:
        """Rays of a batch of cameras: origins/directions (N, n_rays, 3), lengths (N, n_rays, P), xys (N, n_rays, 2)."""
        n = cameras.R.shape[0]
        u = torch.rand(n, self._n_rays_per_image, 2, device=cameras.device)
        lo = u.new_tensor([self._min_x, self._min_y])
        hi = u.new_tensor([self._max_x, self._max_y])
        xy = lo + u * (hi - lo)
        strat = self._stratified_sampling if stratified_sampling is None else stratified_sampling
        return _xy_to_ray_bundle(cameras, xy, self._min_depth, self._max_depth, self._n_pts_per_ray,
                                 self._unit_directions, strat)


def GridRaysampler(  # noqa: N802 - PyTorch3D's deprecated factory name
    min_x: float, max_x: float, min_y: float, max_y: float, image_width: int, image_height: int,
    n_pts_per_ray: int, min_depth: float, max_depth: float,
) -> MultinomialRaysampler:
    """Deprecated PyTorch3D name for MultinomialRaysampler (positional arguments)."""
    warnings.warn("GridRaysampler is deprecated; use MultinomialRaysampler", PendingDeprecationWarning, stacklevel=2)
    return MultinomialRaysampler(min_x=min_x, max_x=max_x, min_y=min_y, max_y=max_y, image_width=image_width,
                                 image_height=image_height, n_pts_per_ray=n_pts_per_ray,
                                 min_depth=min_depth, max_depth=max_depth)


def NDCGridRaysampler(  # noqa: N802 - PyTorch3D's deprecated factory name
    image_width: int, image_height: int, n_pts_per_ray: int, min_depth: float, max_depth: float,
) -> NDCMultinomialRaysampler:
    """Deprecated PyTorch3D name for NDCMultinomialRaysampler (positional arguments)."""
    warnings.warn("NDCGridRaysampler is deprecated; use NDCMultinomialRaysampler", PendingDeprecationWarning,
                  stacklevel=2)
    return NDCMultinomialRaysampler(image_width=image_width, image_height=image_height,
                                    n_pts_per_ray=n_pts_per_ray, min_depth=min_depth, max_depth=max_depth)
