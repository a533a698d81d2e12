"""Batched voxel grids of densities and optional features, with PyTorch3D's coordinate frames.

Local coordinates follow ``grid_sample(align_corners=True)``: the centre of voxel
``[0, 0, 0]`` is ``(-1, -1, -1)`` and of voxel ``[D-1, H-1, W-1]`` is ``(1, 1, 1)``, with
(x, y, z) running along (W, H, D). World coordinates are
``x_world = x_local * (size_xyz - 1) * 0.5 * voxel_size - volume_translation``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

_Vector = float | int | Sequence[float] | torch.Tensor
_TensorBatch = torch.Tensor | Sequence[torch.Tensor]


def _to_padded(x: _TensorBatch, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A 5D padded tensor (N, C, D, H, W) and the (N, 3) grid sizes (D, H, W) of each item."""
    if torch.is_tensor(x):
        if x.ndim != 5:
            raise ValueError(f"`{name}` must be a 5D tensor (minibatch, {name}_dim, depth, height, width); "
                             f"got shape {tuple(x.shape)}")
        sizes = torch.tensor(x.shape[2:], dtype=torch.long, device=x.device)[None].repeat(x.shape[0], 1)
        return x, sizes
    if isinstance(x, (list, tuple)):
        if len(x) == 0 or any(not torch.is_tensor(t) or t.ndim != 4 for t in x):
            raise ValueError(f"`{name}` as a list must hold 4D tensors ({name}_dim, depth, height, width)")
        if any(t.shape[0] != x[0].shape[0] for t in x):
            raise ValueError(f"every entry of `{name}` must have the same number of channels (dim 0)")
        dims = [max(t.shape[i] for t in x) for i in range(1, 4)]
        out = x[0].new_zeros((len(x), x[0].shape[0], *dims))
        for i, t in enumerate(x):
            out[i, :, : t.shape[1], : t.shape[2], : t.shape[3]] = t
        sizes = torch.tensor([list(t.shape[1:]) for t in x], dtype=torch.long, device=out.device)
        return out, sizes
    raise ValueError(f"`{name}` must be a 5D tensor or a list of 4D tensors; got {type(x).__name__}")


def _per_volume_vector(x: _Vector, n: int, name: str, device: torch.device) -> torch.Tensor:
    """Broadcast a scalar / 3-vector / (1|N, 3|1) tensor argument to an (N, 3) float tensor."""
    err = f"`{name}` must be a scalar, a 3-sequence, or a tensor of shape (1,), (3,), (1, 3), ({n}, 3) or ({n}, 1)"
    if isinstance(x, (int, float)):
        t = torch.full((1, 3), float(x), device=device)
    elif isinstance(x, (list, tuple)):
        if len(x) != 3:
            raise ValueError(err)
        t = torch.tensor([float(v) for v in x], device=device)[None]
    elif torch.is_tensor(x):
        t = x.to(device)
        if t.numel() == 1:
            t = t.reshape(1, 1).expand(1, 3)
        elif t.ndim == 1 and t.shape[0] == 3:
            t = t[None]
        elif t.ndim == 2 and t.shape[0] in (1, n) and t.shape[1] in (1, 3):
            t = t.expand(t.shape[0], 3)
        else:
            raise ValueError(err + f"; got shape {tuple(t.shape)}")
    else:
        raise ValueError(err)
    if not t.is_floating_point():
        t = t.float()
    return t.expand(n, 3).clone() if t.shape[0] == 1 else t


class Volumes:
    """A batch of voxel grids (densities plus optional features) placed in the world.

    Args:
        densities: (N, density_dim, D, H, W) tensor or list of (density_dim, D_i, H_i, W_i).
        features: optional, same layout with feature_dim channels.
        voxel_size: world size of a voxel: scalar, 3-vector, (N, 3) or (N, 1) tensor.
        volume_translation: world offset of the volume centre (subtracted, as PyTorch3D).
        align_corners: local +-1 at voxel centres (True) or at the outer voxel faces (False).
    """

    def __init__(
        self,
        densities: _TensorBatch,
        features: _TensorBatch | None = None,
        voxel_size: _Vector = 1.0,
        volume_translation: _Vector = (0.0, 0.0, 0.0),
        align_corners: bool = True,
    ) -> None:
        self._densities, self._grid_sizes = _to_padded(densities, "densities")
        self.device = self._densities.device
        self._align_corners = bool(align_corners)
        self._features: torch.Tensor | None = None
        if features is not None:
            self._set_features(features)
        n = len(self)
        self._voxel_size = _per_volume_vector(voxel_size, n, "voxel_size", self.device)
        self._translation = _per_volume_vector(volume_translation, n, "volume_translation", self.device)

    # ---------------------------------------------------------------- accessors
    def __len__(self) -> int:
        return self._densities.shape[0]

    def densities(self) -> torch.Tensor:
        """Padded densities, (N, density_dim, D, H, W)."""
        return self._densities

    def features(self) -> torch.Tensor | None:
        """Padded features, (N, feature_dim, D, H, W), or None."""
        return self._features

    def densities_list(self) -> list[torch.Tensor]:
        """Unpadded densities, each (density_dim, D_i, H_i, W_i)."""
        return self._unpad(self._densities)

    def features_list(self) -> list[torch.Tensor] | None:
        """Unpadded features, each (feature_dim, D_i, H_i, W_i), or None."""
        return None if self._features is None else self._unpad(self._features)

    def get_grid_sizes(self) -> torch.Tensor:
        """(N, 3) long tensor of each volume's (D_i, H_i, W_i)."""
        return self._grid_sizes

    def get_align_corners(self) -> bool:
        """Whether local +-1 lies on the outer voxel centres (grid_sample's align_corners)."""
        return self._align_corners

    def _unpad(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x[i, :, : s[0], : s[1], : s[2]] for i, s in enumerate(self._grid_sizes.tolist())]

    def _set_features(self, features: _TensorBatch) -> None:
        feats, sizes = _to_padded(features, "features")
        if feats.device != self.device:
            raise ValueError("`features` must be on the same device as `densities`")
        if sizes.shape != self._grid_sizes.shape or not torch.equal(sizes, self._grid_sizes):
            raise ValueError("every grid in `features` must have the size of the matching `densities` grid")
        self._features = feats

    # ------------------------------------------------------------- coordinates
    def _scale(self) -> torch.Tensor:
        """(N, 3) world units per local unit along x, y, z."""
        size_xyz = self._grid_sizes.flip(-1).to(self._voxel_size.dtype)
        extent = size_xyz - 1 if self._align_corners else size_xyz
        return extent * self._voxel_size * 0.5

    def local_to_world_coords(self, points_3d_local: torch.Tensor) -> torch.Tensor:
        """Map (N, ..., 3) local points to world coordinates."""
        self._check_points(points_3d_local, "points_3d_local")
        view = (len(self),) + (1,) * (points_3d_local.ndim - 2) + (3,)
        scale = self._scale().to(points_3d_local.dtype).view(view)
        return points_3d_local * scale - self._translation.to(points_3d_local.dtype).view(view)

    def world_to_local_coords(self, points_3d_world: torch.Tensor) -> torch.Tensor:
        """Map (N, ..., 3) world points to local coordinates ([-1, 1] inside the volume)."""
        self._check_points(points_3d_world, "points_3d_world")
        view = (len(self),) + (1,) * (points_3d_world.ndim - 2) + (3,)
        scale = self._scale().to(points_3d_world.dtype).view(view)
        return (points_3d_world + self._translation.to(points_3d_world.dtype).view(view)) / scale

    def world_to_local_directions(self, directions_world: torch.Tensor) -> torch.Tensor:
        """Map (N, ..., 3) world direction vectors to local ones: the linear part of world_to_local_coords."""
        self._check_points(directions_world, "directions_world")
        view = (len(self),) + (1,) * (directions_world.ndim - 2) + (3,)
        return directions_world / self._scale().to(directions_world.dtype).view(view)

    def _check_points(self, pts: torch.Tensor, name: str) -> None:
        if pts.ndim < 2 or pts.shape[-1] != 3 or pts.shape[0] != len(self):
            raise ValueError(f"`{name}` must have shape ({len(self)}, ..., 3); got {tuple(pts.shape)}")

    def get_local_to_world_coords_transform(self):  # noqa: ANN201 - Transform3d of the transforms module
        """A Transform3d (row-vector convention) taking local points to world points."""
        from ..transforms import Transform3d

        mat = torch.zeros(len(self), 4, 4, dtype=self._voxel_size.dtype, device=self.device)
        mat[:, [0, 1, 2], [0, 1, 2]] = self._scale()
        mat[:, 3, :3] = -self._translation
        mat[:, 3, 3] = 1.0
        return Transform3d(matrix=mat, device=self.device)

    def get_world_to_local_coords_transform(self):  # noqa: ANN201
        """A Transform3d taking world points to local points (inverse of the above)."""
        return self.get_local_to_world_coords_transform().inverse()

    def get_coord_grid(self, world_coordinates: bool = True) -> torch.Tensor:
        """Voxel-centre coordinates, (N, D, H, W, 3), in world or local frame.

        For padded (heterogeneous) batches each volume's own voxels span [-1, 1] locally.
        """
        n, _, d, h, w = self._densities.shape
        axes = [torch.linspace(-1.0, 1.0, r, device=self.device) for r in (d, h, w)]
        zz, yy, xx = torch.meshgrid(*axes, indexing="ij")
        grid = torch.stack((xx, yy, zz), dim=-1)[None].repeat(n, 1, 1, 1, 1)
        padded = torch.tensor([d, h, w], device=self.device, dtype=torch.float32)
        rel = ((padded - 1) / (self._grid_sizes.float() - 1).clamp(min=1e-12)).flip(-1)  # (N, 3) xyz
        rel = torch.where(padded.flip(-1)[None] > 1, rel, torch.ones_like(rel))
        if (rel != 1.0).any():
            rel = rel[:, None, None, None]
            grid = grid * rel + (rel - 1)
        if not self._align_corners:
            size_xyz = self._grid_sizes.flip(-1).float()[:, None, None, None]
            grid = grid * (size_xyz - 1) / size_xyz
        return self.local_to_world_coords(grid) if world_coordinates else grid

    # ----------------------------------------------------------------- copies
    def __getitem__(self, index: int | slice | list[int] | torch.Tensor) -> Volumes:
        """The selected volumes (tensors are views, not copies)."""
        if isinstance(index, int):
            index = [index]
        elif torch.is_tensor(index):
            if index.ndim != 1 or index.is_floating_point():
                raise IndexError(f"Volumes index tensor must be 1D long or bool; got {index.dtype} "
                                 f"{tuple(index.shape)}")
        elif not isinstance(index, (slice, list, tuple)):
            raise IndexError(f"Volumes index must be int, slice, list or tensor; got {type(index).__name__}")
        new = copy.copy(self)
        new._densities = self._densities[index]
        new._features = None if self._features is None else self._features[index]
        new._grid_sizes = self._grid_sizes[index]
        new._voxel_size = self._voxel_size[index]
        new._translation = self._translation[index]
        return new

    def update_padded(self, new_densities: torch.Tensor, new_features: torch.Tensor | None = None) -> Volumes:
        """A copy with new padded densities (and features), keeping sizes and placement."""
        new = copy.copy(self)
        dens, _ = _to_padded(new_densities, "new_densities")
        if dens.shape[0] != len(self) or dens.shape[2:] != self._densities.shape[2:]:
            raise ValueError(f"`new_densities` must have shape ({len(self)}, C, "
                             f"{', '.join(map(str, self._densities.shape[2:]))}); got {tuple(dens.shape)}")
        new._densities = dens
        new._features = None
        if new_features is not None:
            feats, _ = _to_padded(new_features, "new_features")
            if feats.shape[0] != len(self) or feats.shape[2:] != dens.shape[2:]:
                raise ValueError("`new_features` must have the batch size and spatial shape of `new_densities`")
            new._features = feats
        return new

    def clone(self) -> Volumes:
        """A deep copy with every tensor cloned."""
        return copy.deepcopy(self)

    def to(self, device: str | torch.device, copy: bool = False) -> Volumes:  # noqa: A002 - PyTorch3D's name
        """This batch on ``device`` (a copy when moved or when ``copy``)."""
        device = torch.device(device)
        if not copy and self.device == device:
            return self
        other = self.clone()
        other.device = device
        for name in ("_densities", "_features", "_grid_sizes", "_voxel_size", "_translation"):
            t = getattr(other, name)
            if t is not None:
                setattr(other, name, t.to(device))
        return other

    def cpu(self) -> Volumes:
        """This batch on the CPU."""
        return self.to("cpu")

    def cuda(self) -> Volumes:
        """This batch on the current CUDA device."""
        return self.to("cuda")
