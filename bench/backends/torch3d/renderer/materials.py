"""Phong material coefficients (PyTorch3D's ``renderer.Materials``)."""

from __future__ import annotations

import torch

from .utils import TensorProperties


class Materials(TensorProperties):
    """Ambient, diffuse and specular reflectances (N, 3) and shininess (N,)."""

    def __init__(self, ambient_color=((1.0, 1.0, 1.0),), diffuse_color=((1.0, 1.0, 1.0),),
                 specular_color=((1.0, 1.0, 1.0),), shininess=64, device: str | torch.device = "cpu") -> None:
        super().__init__(device=device, ambient_color=ambient_color, diffuse_color=diffuse_color,
                         specular_color=specular_color, shininess=shininess)
        for name in ("ambient_color", "diffuse_color", "specular_color"):
            if getattr(self, name).shape[-1] != 3:
                raise ValueError(f"{name}: expected shape (N, 3), got {tuple(getattr(self, name).shape)}")
        if self.shininess.dim() != 1:
            raise ValueError(f"shininess: expected a scalar or shape (N,), got {tuple(self.shininess.shape)}")

    def clone(self) -> Materials:
        return Materials(self.ambient_color.clone(), self.diffuse_color.clone(), self.specular_color.clone(),
                         self.shininess.clone(), device=self.device)
