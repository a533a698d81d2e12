"""Differentiable rendering with PyTorch3D's names (``pytorch3d.renderer``).

Each exported name is imported below and listed in ``__all__``."""

from .blending import (
    BlendParams,
    hard_rgb_blend,
    sigmoid_alpha_blend,
    softmax_rgb_blend,
)
from .camera_utils import convert_to_tensors_and_broadcast
from .cameras import (
    CamerasBase,
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OpenGLOrthographicCameras,
    OpenGLPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
    SfMOrthographicCameras,
    SfMPerspectiveCameras,
    camera_position_from_spherical_angles,
    get_ndc_to_screen_transform,
    get_screen_to_ndc_transform,
    get_world_to_view_transform,
    look_at_rotation,
    look_at_view_transform,
)
from .implicit import (
    AbsorptionOnlyRaymarcher,
    EmissionAbsorptionRaymarcher,
    GridRaysampler,
    HarmonicEmbedding,
    ImplicitRenderer,
    MonteCarloRaysampler,
    MultinomialRaysampler,
    NDCGridRaysampler,
    NDCMultinomialRaysampler,
    RayBundle,
    VolumeRenderer,
    VolumeSampler,
    ray_bundle_to_ray_points,
    ray_bundle_variables_to_ray_points,
)
from .lighting import AmbientLights, DirectionalLights, PointLights
from .materials import Materials
from .mesh import (
    Fragments,
    HardFlatShader,
    HardGouraudShader,
    HardPhongShader,
    MeshRasterizer,
    MeshRenderer,
    MeshRendererWithFragments,
    RasterizationSettings,
    SoftGouraudShader,
    SoftPhongShader,
    SoftSilhouetteShader,
    TexturesAtlas,
    TexturesUV,
    TexturesVertex,
    interpolate_face_attributes,
    rasterize_meshes,
)
from .points import (
    AlphaCompositor,
    NormWeightedCompositor,
    PointFragments,
    PointsRasterizationSettings,
    PointsRasterizer,
    PointsRenderer,
    alpha_composite,
    norm_weighted_sum,
    rasterize_points,
    weighted_sum,
)
from .utils import TensorProperties

__all__ = [
    "AbsorptionOnlyRaymarcher", "AlphaCompositor", "AmbientLights", "BlendParams", "CamerasBase", "DirectionalLights",
    "EmissionAbsorptionRaymarcher", "FoVOrthographicCameras", "FoVPerspectiveCameras", "Fragments", "GridRaysampler",
    "HardFlatShader", "HardGouraudShader", "HardPhongShader", "HarmonicEmbedding", "ImplicitRenderer", "Materials",
    "MeshRasterizer", "MeshRenderer", "MeshRendererWithFragments", "MonteCarloRaysampler", "MultinomialRaysampler",
    "NDCGridRaysampler", "NDCMultinomialRaysampler", "NormWeightedCompositor", "OpenGLOrthographicCameras",
    "OpenGLPerspectiveCameras", "OrthographicCameras", "PerspectiveCameras", "PointFragments", "PointLights",
    "PointsRasterizationSettings", "PointsRasterizer", "PointsRenderer", "RasterizationSettings", "RayBundle",
    "SfMOrthographicCameras", "SfMPerspectiveCameras", "SoftGouraudShader", "SoftPhongShader", "SoftSilhouetteShader",
    "TensorProperties", "TexturesAtlas", "TexturesUV", "TexturesVertex", "VolumeRenderer", "VolumeSampler",
    "alpha_composite", "camera_position_from_spherical_angles", "convert_to_tensors_and_broadcast",
    "get_ndc_to_screen_transform", "get_screen_to_ndc_transform", "get_world_to_view_transform", "hard_rgb_blend",
    "interpolate_face_attributes", "look_at_rotation", "look_at_view_transform", "norm_weighted_sum",
    "rasterize_meshes", "rasterize_points", "ray_bundle_to_ray_points", "ray_bundle_variables_to_ray_points",
    "sigmoid_alpha_blend", "softmax_rgb_blend", "weighted_sum",
]
