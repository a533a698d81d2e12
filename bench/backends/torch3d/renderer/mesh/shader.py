"""Shaders: fragments + meshes -> RGBA images (PyTorch3D's ``renderer.mesh.shader``)."""

from __future__ import annotations

import torch
from torch import nn

from ..blending import BlendParams, hard_rgb_blend, sigmoid_alpha_blend, softmax_rgb_blend
from ..lighting import PointLights
from ..materials import Materials
from .shading import flat_shading, gouraud_shading, phong_shading


class ShaderBase(nn.Module):
    """Holds cameras, lights, materials and blend parameters; each can be overridden per call via kwargs."""

    def __init__(self, device: str | torch.device = "cpu", cameras=None, lights=None, materials=None,
                 blend_params: BlendParams | None = None) -> None:
        super().__init__()
        self.lights = lights if lights is not None else PointLights(device=device)
        self.materials = materials if materials is not None else Materials(device=device)
        self.cameras = cameras
        self.blend_params = blend_params if blend_params is not None else BlendParams()

    def to(self, device):  # type: ignore[override]
        for name in ("cameras", "lights", "materials"):
            obj = getattr(self, name)
            if obj is not None:
                setattr(self, name, obj.to(device))
        return self

    def _parts(self, kwargs):
        cameras = kwargs.get("cameras", self.cameras)
        if cameras is None:
            raise ValueError(f"cameras: none given to {type(self).__name__} or to its forward call")
        return (cameras, kwargs.get("lights", self.lights), kwargs.get("materials", self.materials),
                kwargs.get("blend_params", self.blend_params))

    @staticmethod
    def _depth_range(cameras, kwargs):
        znear = kwargs.get("znear", getattr(cameras, "znear", 1.0))
        zfar = kwargs.get("zfar", getattr(cameras, "zfar", 100.0))
        return znear, zfar


class HardPhongShader(ShaderBase):
    """Phong lighting per pixel, nearest face only."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras, lights, materials, blend = self._parts(kwargs)
        colors = phong_shading(meshes, fragments, lights, cameras, materials, meshes.sample_textures(fragments))
        return hard_rgb_blend(colors, fragments, blend)


class SoftPhongShader(ShaderBase):
    """Phong lighting per pixel, softly blended over the K faces (differentiable silhouettes)."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras, lights, materials, blend = self._parts(kwargs)
        colors = phong_shading(meshes, fragments, lights, cameras, materials, meshes.sample_textures(fragments))
        znear, zfar = self._depth_range(cameras, kwargs)
        return softmax_rgb_blend(colors, fragments, blend, znear=znear, zfar=zfar)


class HardGouraudShader(ShaderBase):
    """Lighting at vertices (needs TexturesVertex), interpolated; nearest face only."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras, lights, materials, blend = self._parts(kwargs)
        colors = gouraud_shading(meshes, fragments, lights, cameras, materials)
        return hard_rgb_blend(colors, fragments, blend)


class SoftGouraudShader(ShaderBase):
    """Lighting at vertices (needs TexturesVertex), interpolated; soft blending."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras, lights, materials, blend = self._parts(kwargs)
        colors = gouraud_shading(meshes, fragments, lights, cameras, materials)
        znear, zfar = self._depth_range(cameras, kwargs)
        return softmax_rgb_blend(colors, fragments, blend, znear=znear, zfar=zfar)


class HardFlatShader(ShaderBase):
    """One lighting value per face (face normal at its centroid); nearest face only."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        cameras, lights, materials, blend = self._parts(kwargs)
        colors = flat_shading(meshes, fragments, lights, cameras, materials, meshes.sample_textures(fragments))
        return hard_rgb_blend(colors, fragments, blend)


class SoftSilhouetteShader(nn.Module):
    """Soft silhouette: alpha channel = 1 - prod_k (1 - sigmoid(-d_k / sigma)); RGB is unused (ones)."""

    def __init__(self, blend_params: BlendParams | None = None) -> None:
        super().__init__()
        self.blend_params = blend_params if blend_params is not None else BlendParams()

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        blend = kwargs.get("blend_params", self.blend_params)
        # A broadcast view of ones: no (N, H, W, K, 3) buffer is allocated.
        colors = fragments.bary_coords.new_ones(()).expand(fragments.bary_coords.shape)
        return sigmoid_alpha_blend(colors, fragments, blend)
