"""Point-cloud rendering with PyTorch3D's names: rasterizer, compositors, renderer."""

from .compositing import alpha_composite, norm_weighted_sum, weighted_sum
from .compositor import AlphaCompositor, NormWeightedCompositor
from .rasterize_points import rasterize_points
from .rasterizer import PointFragments, PointsRasterizationSettings, PointsRasterizer
from .renderer import PointsRenderer

__all__ = [
    "AlphaCompositor",
    "NormWeightedCompositor",
    "PointFragments",
    "PointsRasterizationSettings",
    "PointsRasterizer",
    "PointsRenderer",
    "alpha_composite",
    "norm_weighted_sum",
    "rasterize_points",
    "weighted_sum",
]
