"""PointsRasterizer: project a Pointclouds batch with a camera and rasterize it (PyTorch3D's API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from .rasterize_points import _packed_to_padded, padded_ids_to_packed, rasterize_points_padded


class PointFragments(NamedTuple):
    """Rasterizer output, each (N, H, W, K): packed point ids (-1 empty), view z, squared NDC distance."""

    idx: torch.Tensor
    zbuf: torch.Tensor
    dists: torch.Tensor


@dataclass
class PointsRasterizationSettings:
    """image_size int or (H, W); radius in NDC units; K = points_per_pixel.

    bin_size and max_points_per_bin are kept for PyTorch3D compatibility (chunking bounds memory).
    """

    image_size: int | tuple[int, int] = 256
    radius: float | torch.Tensor = 0.01
    points_per_pixel: int = 8
    bin_size: int | None = None
    max_points_per_bin: int | None = None


class PointsRasterizer(torch.nn.Module):
    """Rasterize point clouds seen by ``cameras`` into the K nearest points per pixel."""

    def __init__(self, cameras=None, raster_settings: PointsRasterizationSettings | None = None) -> None:
        super().__init__()
        self.cameras = cameras
        self.raster_settings = raster_settings if raster_settings is not None else PointsRasterizationSettings()

    def _project(self, point_clouds, **kwargs) -> torch.Tensor:
        """Padded points (N, P, 3) as NDC x, y and view-space z."""
        cameras = kwargs.get("cameras", self.cameras)
        if cameras is None:
            raise ValueError("PointsRasterizer needs cameras: pass cameras= to the constructor or to forward")
        eps = kwargs.get("eps", None)
        pts_world = point_clouds.points_padded()
        pts_view = cameras.get_world_to_view_transform(**kwargs).transform_points(pts_world, eps=eps)
        pts_ndc = cameras.transform_points_ndc(pts_world, eps=eps, **kwargs)
        return torch.cat((pts_ndc[..., :2], pts_view[..., 2:3]), dim=-1)

    def transform(self, point_clouds, **kwargs):
        """The point clouds with points replaced by NDC x, y and view z (as PyTorch3D)."""
        return point_clouds.update_padded(self._project(point_clouds, **kwargs))

    def forward(self, point_clouds, **kwargs) -> PointFragments:
        """PointFragments (idx, zbuf, dists), each (N, H, W, K); idx indexes the packed points."""
        rs = kwargs.get("raster_settings", self.raster_settings)
        pts = self._project(point_clouds, **kwargs)
        num = point_clouds.num_points_per_cloud().to(pts.device)
        radius = rs.radius
        if torch.is_tensor(radius) and radius.ndim == 1 and radius.numel() == int(num.sum()) and radius.numel() > 1:
            radius = _packed_to_padded(radius.to(pts), num, pts.shape[1])
        idx, zbuf, dists = rasterize_points_padded(pts, num, rs.image_size, radius, rs.points_per_pixel)
        return PointFragments(idx=padded_ids_to_packed(idx, num, pts.shape[1]), zbuf=zbuf, dists=dists)

    def to(self, device):  # noqa: ANN201 - returns self, like nn.Module.to
        """Move the cameras too (they are not a submodule)."""
        if self.cameras is not None and hasattr(self.cameras, "to"):
            self.cameras = self.cameras.to(device)
        return super().to(device)
