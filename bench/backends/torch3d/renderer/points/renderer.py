"""PointsRenderer: rasterizer + compositor, with PyTorch3D's weights 1 - d^2 / r^2."""

from __future__ import annotations

import torch


class PointsRenderer(torch.nn.Module):
    """Render point-cloud features: images (N, H, W, C) from a rasterizer and a compositor."""

    def __init__(self, rasterizer: torch.nn.Module, compositor: torch.nn.Module) -> None:
        super().__init__()
        self.rasterizer = rasterizer
        self.compositor = compositor

    def to(self, device):  # noqa: ANN201 - returns self, like nn.Module.to
        """Move the rasterizer's cameras as well."""
        self.rasterizer = self.rasterizer.to(device)
        self.compositor = self.compositor.to(device)
        return self

    def forward(self, point_clouds, **kwargs) -> torch.Tensor:
        """Composite each pixel's K points with alpha 1 - dist^2 / radius^2; returns (N, H, W, C)."""
        fragments = self.rasterizer(point_clouds, **kwargs)
        rs = kwargs.get("raster_settings", self.rasterizer.raster_settings)
        r = rs.radius
        dists2 = fragments.dists.permute(0, 3, 1, 2)
        idx = fragments.idx.long().permute(0, 3, 1, 2)
        if torch.is_tensor(r) and r.numel() > 1:  # per-point radius: each slot uses its own point's radius
            r2 = (r.to(dists2).reshape(-1) ** 2)[idx.clamp(min=0)]
        else:
            r2 = float(r) ** 2
        weights = 1.0 - dists2 / r2
        images = self.compositor(idx, weights, point_clouds.features_packed().permute(1, 0), **kwargs)
        return images.permute(0, 2, 3, 1)
