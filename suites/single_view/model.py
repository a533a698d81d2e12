"""Single-view decoders of the "Learning 3D Vision with Inverse Graphics" write-up (image -> voxels, points,
mesh), on the shared image encoder: a global latent vector decoded by

- voxels: fully connected + 3D transposed convolutions to G^3 logits, BCE-with-logits with a positive-class
  weight (occupied voxels are few);
- points: fully connected to n points (tanh, inside [-1, 1]^3), Chamfer loss;
- mesh: fully connected to per-vertex offsets of an ico-sphere, Chamfer on sampled points + Laplacian smoothing.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.methods.single_view import ImageEncoder, VoxelPrior


class VoxelDecoder(nn.Module):
    """latent (N, L) -> logits (N, G, G, G) in cubify's (D, H, W) layout (G a multiple of 4), plus the optional
    training-occupancy prior (:class:`VoxelPrior`, shifted by ``prior_offset``). ``groups`` > 0: a GroupNorm of
    that many groups after each transposed convolution (Wu & He, "Group Normalization", ECCV 2018)."""

    def __init__(self, latent: int, grid: int, width: int = 32, prior: str = "none",
                 train_voxels: torch.Tensor | None = None, prior_offset: float = 0.0, groups: int = 0) -> None:
        super().__init__()
        self.grid, self.width = grid, width
        self.prior = VoxelPrior(prior, train_voxels, prior_offset)
        self.fc = nn.Linear(latent, width * 4 * 4 * 4)

        def up(c_in: int, c_out: int) -> list[nn.Module]:
            conv = nn.ConvTranspose3d(c_in, c_out, 4, stride=2, padding=1)
            return [conv, nn.GroupNorm(groups, c_out), nn.ReLU()] if groups > 0 else [conv, nn.ReLU()]
        self.net = nn.Sequential(*up(width, width), *up(width, width // 2), nn.Conv3d(width // 2, 1, 3, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.net(F.relu(self.fc(z)).view(-1, self.width, 4, 4, 4))
        return self.prior(F.interpolate(x, size=(self.grid,) * 3, mode="trilinear", align_corners=False)[:, 0])


class PointDecoder(nn.Module):
    """latent (N, L) -> points (N, n, 3) in [-1, 1]^3: tanh of the network's output, or with ``base`` (n, 3)
    points, tanh(atanh(base) + output) with the last layer zero-initialised, so it starts at ``base``."""

    def __init__(self, latent: int, points: int, hidden: int = 512, base: torch.Tensor | None = None) -> None:
        super().__init__()
        self.points = points
        self.net = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, points * 3))
        self.register_buffer("base", None if base is None else torch.atanh(base.clamp(-0.999, 0.999)).reshape(-1))
        if base is not None:
            nn.init.zeros_(self.net[-1].weight)
            nn.init.zeros_(self.net[-1].bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z) if self.base is None else self.base + self.net(z)
        return torch.tanh(out).view(-1, self.points, 3)


class MeshDecoder(nn.Module):
    """latent (N, L) -> Meshes: an ico-sphere of ``radius`` plus per-vertex offsets."""

    def __init__(self, backend: Any, latent: int, level: int, radius: float, hidden: int = 512) -> None:
        super().__init__()
        self.backend = backend
        sphere = backend.utils.ico_sphere(level, "cpu")
        self.register_buffer("verts", sphere.verts_packed() * radius)
        self.register_buffer("faces", sphere.faces_packed())
        self.net = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, self.verts.numel()))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, z: torch.Tensor) -> Any:
        v = self.verts[None] + self.net(z).view(len(z), -1, 3)
        return self.backend.structures.Meshes(list(v), [self.faces] * len(z))


class SingleView(nn.Module):
    """Encoder + one decoder (``decoder``: "voxel", "point" or "mesh")."""

    def __init__(self, backend: Any, decoder: str, *, width: int, latent: int, grid: int, points: int, level: int,
                 radius: float, voxel_prior: str = "none", train_voxels: torch.Tensor | None = None,
                 prior_offset: float = 0.0, point_base: torch.Tensor | None = None, voxel_groups: int = 0) -> None:
        super().__init__()
        self.decoder_kind = decoder
        self.encoder = ImageEncoder(width, latent)
        if decoder == "voxel":
            self.decoder: nn.Module = VoxelDecoder(latent, grid, prior=voxel_prior, train_voxels=train_voxels,
                                                   prior_offset=prior_offset, groups=voxel_groups)
        elif decoder == "point":
            self.decoder = PointDecoder(latent, points, base=point_base)
        elif decoder == "mesh":
            self.decoder = MeshDecoder(backend, latent, level, radius)
        else:
            raise ValueError(f"decoder {decoder!r}: expected voxel, point or mesh")

    def forward(self, images: torch.Tensor) -> Any:
        _, z = self.encoder(images)
        return self.decoder(z)
