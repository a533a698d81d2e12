"""Implicit / volumetric rendering with PyTorch3D's names: raysamplers, raymarchers, renderers."""

from .harmonic_embedding import HarmonicEmbedding
from .raymarching import AbsorptionOnlyRaymarcher, EmissionAbsorptionRaymarcher
from .raysampling import (
    GridRaysampler,
    MonteCarloRaysampler,
    MultinomialRaysampler,
    NDCGridRaysampler,
    NDCMultinomialRaysampler,
)
from .renderer import ImplicitRenderer, VolumeRenderer, VolumeSampler
from .sample_pdf import sample_pdf
from .utils import RayBundle, ray_bundle_to_ray_points, ray_bundle_variables_to_ray_points

__all__ = [
    "AbsorptionOnlyRaymarcher",
    "EmissionAbsorptionRaymarcher",
    "GridRaysampler",
    "HarmonicEmbedding",
    "ImplicitRenderer",
    "MonteCarloRaysampler",
    "MultinomialRaysampler",
    "NDCGridRaysampler",
    "NDCMultinomialRaysampler",
    "RayBundle",
    "VolumeRenderer",
    "VolumeSampler",
    "ray_bundle_to_ray_points",
    "ray_bundle_variables_to_ray_points",
    "sample_pdf",
]
