"""The book's neural radiance field (ch. 6, as PyTorch3D's fit_simple_neural_radiance_field tutorial).

Points along each ray are harmonically embedded and passed through a two-layer Softplus MLP;
a density head gives an opacity ``1 - exp(-softplus(.))`` per point (its bias starts at -1.5 so
space starts nearly empty), a colour head sees the features plus the embedded ray direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class FieldConfig:
    """Size of the field: the book's 60 harmonics (frequencies omega_0 * 2^k) and 256 hidden units."""

    n_harmonic_functions: int = 60
    n_hidden: int = 256
    omega_0: float = 0.1
    density_bias: float = -1.5

    def __post_init__(self) -> None:
        if int(self.n_harmonic_functions) < 1 or int(self.n_hidden) < 1:
            raise ValueError(f"n_harmonic_functions and n_hidden: expected positive integers, got "
                             f"{self.n_harmonic_functions!r} and {self.n_hidden!r}")


class NeuralRadianceField(nn.Module):
    """A volumetric function for the backend's ImplicitRenderer.

    forward(ray_bundle) -> (densities (N, ..., P, 1) in [0, 1), colours (N, ..., P, 3) in (0, 1)).
    """

    def __init__(self, t3d: Any, cfg: FieldConfig = FieldConfig()):
        super().__init__()
        self._points = t3d.renderer.ray_bundle_to_ray_points
        self.embedding = t3d.renderer.HarmonicEmbedding(cfg.n_harmonic_functions, omega_0=cfg.omega_0,
                                                        append_input=False)
        dim = 2 * 3 * cfg.n_harmonic_functions
        h = cfg.n_hidden
        self.mlp = nn.Sequential(nn.Linear(dim, h), nn.Softplus(beta=10.0), nn.Linear(h, h), nn.Softplus(beta=10.0))
        self.color_head = nn.Sequential(nn.Linear(h + dim, h), nn.Softplus(beta=10.0), nn.Linear(h, 3), nn.Sigmoid())
        self.density_head = nn.Sequential(nn.Linear(h, 1), nn.Softplus(beta=10.0))
        with torch.no_grad():
            self.density_head[0].bias.fill_(cfg.density_bias)

    def forward(self, ray_bundle: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.mlp(self.embedding(self._points(ray_bundle)))  # (N, ..., P, h)
        densities = 1.0 - torch.exp(-self.density_head(features))
        dirs = self.embedding(nn.functional.normalize(ray_bundle.directions, dim=-1))  # (N, ..., dim)
        dirs = dirs[..., None, :].expand(*features.shape[:-1], dirs.shape[-1])
        colors = self.color_head(torch.cat((features, dirs), dim=-1))
        return densities, colors
