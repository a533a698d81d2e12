"""Mesh rasterisation and shading (PyTorch3D's ``renderer.mesh``)."""

from .rasterize_meshes import rasterize_meshes
from .rasterizer import Fragments, MeshRasterizer, RasterizationSettings
from .renderer import MeshRenderer, MeshRendererWithFragments
from .shader import (
    HardFlatShader,
    HardGouraudShader,
    HardPhongShader,
    ShaderBase,
    SoftGouraudShader,
    SoftPhongShader,
    SoftSilhouetteShader,
)
from .shading import flat_shading, gouraud_shading, phong_shading
from .textures import TexturesAtlas, TexturesUV, TexturesVertex
from .utils import interpolate_face_attributes

__all__ = [
    "Fragments", "HardFlatShader", "HardGouraudShader", "HardPhongShader", "MeshRasterizer", "MeshRenderer",
    "MeshRendererWithFragments", "RasterizationSettings", "ShaderBase", "SoftGouraudShader", "SoftPhongShader",
    "SoftSilhouetteShader", "TexturesAtlas", "TexturesUV", "TexturesVertex", "flat_shading", "gouraud_shading",
    "interpolate_face_attributes", "phong_shading", "rasterize_meshes",
]
