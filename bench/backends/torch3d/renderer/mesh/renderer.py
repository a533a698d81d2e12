"""``MeshRenderer``: a rasterizer followed by a shader (PyTorch3D's ``renderer.mesh.renderer``)."""

from __future__ import annotations

import torch
from torch import nn


class MeshRenderer(nn.Module):
    """Renders world meshes to images (N, H, W, C); kwargs (R, T, cameras, lights...) reach both stages."""

    def __init__(self, rasterizer: nn.Module, shader: nn.Module) -> None:
        super().__init__()
        self.rasterizer = rasterizer
        self.shader = shader

    def to(self, device):  # type: ignore[override]
        self.rasterizer.to(device)
        self.shader.to(device)
        return self

    def forward(self, meshes_world, **kwargs) -> torch.Tensor:
        fragments = self.rasterizer(meshes_world, **kwargs)
        return self.shader(fragments, meshes_world, **kwargs)


class MeshRendererWithFragments(MeshRenderer):
    """Like :class:`MeshRenderer` but returns (images, fragments), e.g. to read the depth buffer."""

    def forward(self, meshes_world, **kwargs):
        fragments = self.rasterizer(meshes_world, **kwargs)
        return self.shader(fragments, meshes_world, **kwargs), fragments
