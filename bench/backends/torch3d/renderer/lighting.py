"""Lights and the Lambert / Phong terms (PyTorch3D's ``renderer.lighting``).

Light properties have shape (N, 3); they broadcast against points and normals of shape
(N, ..., 3) (e.g. (N, H, W, K, 3)) or (P, 3) with N == 1 or N == P.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .utils import TensorProperties


def _expand(prop: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-batch property (N, C) or (N,) to broadcast against ``like`` (N, ..., 3)."""
    if like.dim() <= 2:
        return prop
    extra = like.dim() - prop.dim()
    return prop.reshape(prop.shape[:1] + (1,) * extra + prop.shape[1:]) if extra > 0 else prop


def diffuse(normals: torch.Tensor, color: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Lambert term color * max(0, n . l); normals and directions are normalised here."""
    normals = F.normalize(normals, p=2, dim=-1, eps=1e-6)
    direction = F.normalize(direction, p=2, dim=-1, eps=1e-6)
    cos = F.relu((normals * direction).sum(-1))
    return color * cos[..., None]


def specular(points: torch.Tensor, normals: torch.Tensor, direction: torch.Tensor, color: torch.Tensor,
             camera_position: torch.Tensor, shininess: torch.Tensor) -> torch.Tensor:
    """Phong term color * max(0, r . v)^shininess, zero where the light is behind the surface."""
    normals = F.normalize(normals, p=2, dim=-1, eps=1e-6)
    direction = F.normalize(direction, p=2, dim=-1, eps=1e-6)
    cos = (normals * direction).sum(-1)
    reflect = -direction + 2 * cos[..., None] * normals
    view = F.normalize(camera_position - points, p=2, dim=-1, eps=1e-6)
    alpha = F.relu((view * reflect).sum(-1)) * (cos > 0).to(points.dtype)
    return color * torch.pow(alpha, shininess)[..., None]


class _LightsBase(TensorProperties):
    def _direction(self, points: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def diffuse(self, normals: torch.Tensor, points: torch.Tensor | None = None) -> torch.Tensor:
        """Diffuse light colour (same shape as normals) reflected by surfaces with these normals."""
        color = _expand(self.diffuse_color, normals)
        return diffuse(normals, color, self._direction(points if points is not None else normals))

    def specular(self, normals: torch.Tensor, points: torch.Tensor, camera_position: torch.Tensor,
                 shininess: torch.Tensor) -> torch.Tensor:
        """Specular light colour seen from ``camera_position`` (N, 3)."""
        color = _expand(self.specular_color, points)
        return specular(points, normals, self._direction(points), color, _expand(camera_position, points),
                        _expand(shininess, points[..., 0]))


class PointLights(_LightsBase):
    """Point lights at ``location`` (N, 3) with ambient, diffuse and specular colours."""

    def __init__(self, ambient_color=((0.5, 0.5, 0.5),), diffuse_color=((0.3, 0.3, 0.3),),
                 specular_color=((0.2, 0.2, 0.2),), location=((0.0, 1.0, 0.0),),
                 device: str | torch.device = "cpu") -> None:
        super().__init__(device=device, ambient_color=ambient_color, diffuse_color=diffuse_color,
                         specular_color=specular_color, location=location)
        if self.location.shape[-1] != 3:
            raise ValueError(f"location: expected shape (N, 3), got {tuple(self.location.shape)}")

    def _direction(self, points: torch.Tensor) -> torch.Tensor:
        return _expand(self.location, points) - points

    def clone(self) -> PointLights:
        return PointLights(self.ambient_color.clone(), self.diffuse_color.clone(), self.specular_color.clone(),
                           self.location.clone(), device=self.device)


class DirectionalLights(_LightsBase):
    """Directional lights: ``direction`` (N, 3) points from the surface towards the light."""

    def __init__(self, ambient_color=((0.5, 0.5, 0.5),), diffuse_color=((0.3, 0.3, 0.3),),
                 specular_color=((0.2, 0.2, 0.2),), direction=((0.0, 1.0, 0.0),),
                 device: str | torch.device = "cpu") -> None:
        super().__init__(device=device, ambient_color=ambient_color, diffuse_color=diffuse_color,
                         specular_color=specular_color, direction=direction)
        if self.direction.shape[-1] != 3:
            raise ValueError(f"direction: expected shape (N, 3), got {tuple(self.direction.shape)}")

    def _direction(self, points: torch.Tensor) -> torch.Tensor:
        return _expand(self.direction, points).expand_as(points)

    def clone(self) -> DirectionalLights:
        return DirectionalLights(self.ambient_color.clone(), self.diffuse_color.clone(),
                                 self.specular_color.clone(), self.direction.clone(), device=self.device)


class AmbientLights(_LightsBase):
    """Ambient light only: diffuse and specular terms are zero."""

    def __init__(self, ambient_color=((0.5, 0.5, 0.5),), device: str | torch.device = "cpu") -> None:
        super().__init__(device=device, ambient_color=ambient_color)

    def diffuse(self, normals: torch.Tensor, points: torch.Tensor | None = None) -> torch.Tensor:
        return torch.zeros_like(normals)

    def specular(self, normals, points, camera_position, shininess) -> torch.Tensor:
        return torch.zeros_like(points)

    def clone(self) -> AmbientLights:
        return AmbientLights(self.ambient_color.clone(), device=self.device)
