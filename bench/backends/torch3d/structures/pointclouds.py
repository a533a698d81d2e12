"""``Pointclouds``: a batch of point clouds with optional normals and features (PyTorch3D's API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .utils import list_to_padded

_Data = Sequence[torch.Tensor] | torch.Tensor | None


def _as_list(x: _Data, name: str, sizes: list[int] | None, width: int | None) -> list[torch.Tensor] | None:
    """Validate points/normals/features given as a list of (P_i, C) or an (N, P, C) tensor; return a list."""
    if x is None:
        return None
    if torch.is_tensor(x):
        if x.ndim != 3:
            raise ValueError(f"Pointclouds: padded {name} must have shape (N, P, C), got {tuple(x.shape)}")
        items = list(x.unbind(0))
        if sizes is not None:  # padded extras follow the clouds' own sizes
            if len(items) != len(sizes) or x.shape[1] < max(sizes, default=0):
                raise ValueError(f"Pointclouds: {name} must have shape ({len(sizes)}, >= {max(sizes, default=0)}, C), "
                                 f"got {tuple(x.shape)}")
            items = [t[:s] for t, s in zip(items, sizes, strict=False)]
    else:
        items = list(x)
    for i, t in enumerate(items):
        if not torch.is_tensor(t) or t.ndim != 2 or (width is not None and t.shape[1] != width):
            shape = tuple(t.shape) if torch.is_tensor(t) else type(t).__name__
            raise ValueError(f"Pointclouds: {name}[{i}] must have shape (P, {width or 'C'}), got {shape}")
        if sizes is not None and t.shape[0] != sizes[i]:
            raise ValueError(f"Pointclouds: {name}[{i}] has {t.shape[0]} rows, expected {sizes[i]} (one per point)")
    if sizes is not None and len(items) != len(sizes):
        raise ValueError(f"Pointclouds: got {len(items)} {name} tensors for {len(sizes)} clouds")
    return items


class Pointclouds:
    """A batch of N point clouds of possibly different sizes.

    Args:
        points: list of (P_i, 3) tensors or an (N, P, 3) padded tensor (all P points valid).
        normals: optional, same layout as points, (..., 3).
        features: optional, same layout as points, (..., C).
    """

    def __init__(self, points: _Data, normals: _Data = None, features: _Data = None) -> None:
        pts = _as_list(points, "points", None, 3)
        if pts is None:
            raise ValueError("Pointclouds: points must be given")
        self._points_list = pts
        sizes = [len(p) for p in pts]
        self._normals_list = _as_list(normals, "normals", sizes, 3)
        self._features_list = _as_list(features, "features", sizes, None)
        if self._features_list is not None and len(set(f.shape[1] for f in self._features_list)) > 1:
            raise ValueError("Pointclouds: all features tensors must have the same number of channels")
        self._N = len(pts)
        self.device = pts[0].device if pts else torch.device("cpu")
        self._cache: dict[str, Any] = {}
        if torch.is_tensor(points):
            self._cache["points_padded"] = points

    def __len__(self) -> int:
        return self._N

    def __repr__(self) -> str:
        return f"Pointclouds(N={self._N}, points={self.num_points_per_cloud().tolist()}, device={self.device})"

    def _get(self, key: str, fn) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    # ---- sizes and index maps ----------------------------------------------------------------
    def num_points_per_cloud(self) -> torch.Tensor:
        """(N,) int64 number of points of each cloud."""
        return self._get("np", lambda: torch.tensor([len(p) for p in self._points_list], dtype=torch.int64,
                                                    device=self.device))

    @property
    def valid(self) -> torch.Tensor:
        """(N,) bool: which clouds have at least one point."""
        return self.num_points_per_cloud() > 0

    @property
    def equisized(self) -> bool:
        """True when all clouds have the same number of points."""
        return self._N > 0 and len(set(len(p) for p in self._points_list)) == 1

    def isempty(self) -> bool:
        """True when there is no cloud or no point at all."""
        return self._N == 0 or not bool(self.valid.any())

    def cloud_to_packed_first_idx(self) -> torch.Tensor:
        """(N,) index of each cloud's first point in ``points_packed()``."""
        n = self.num_points_per_cloud()
        return n.cumsum(0) - n

    def packed_to_cloud_idx(self) -> torch.Tensor:
        """(sum P_i,) cloud index of each packed point."""
        return torch.repeat_interleave(torch.arange(self._N, device=self.device), self.num_points_per_cloud())

    def padded_to_packed_idx(self) -> torch.Tensor:
        """(sum P_i,) index of each packed point in ``points_padded().view(-1, 3)``."""
        n = self.num_points_per_cloud()
        pmax = int(n.max()) if self._N else 0
        cloud = self.packed_to_cloud_idx()
        return cloud * pmax + torch.arange(len(cloud), device=self.device) - self.cloud_to_packed_first_idx()[cloud]

    # ---- list / padded / packed ----------------------------------------------------------------
    def _padded(self, items: list[torch.Tensor] | None) -> torch.Tensor | None:
        if items is None:
            return None
        pmax = max((len(t) for t in items), default=0)
        width = items[0].shape[1] if items else 3
        return list_to_padded(items, (pmax, width), 0.0, equisized=self.equisized)

    def _packed(self, items: list[torch.Tensor] | None) -> torch.Tensor | None:
        if items is None:
            return None
        return torch.cat(items, 0) if items else torch.zeros((0, 3), device=self.device)

    def points_list(self) -> list[torch.Tensor]:
        """List of N (P_i, 3) point tensors."""
        return self._points_list

    def normals_list(self) -> list[torch.Tensor] | None:
        """List of N (P_i, 3) normals, or None."""
        return self._normals_list

    def features_list(self) -> list[torch.Tensor] | None:
        """List of N (P_i, C) features, or None."""
        return self._features_list

    def points_padded(self) -> torch.Tensor:
        """(N, max P_i, 3) points, zero padded."""
        return self._get("points_padded", lambda: self._padded(self._points_list))

    def normals_padded(self) -> torch.Tensor | None:
        """(N, max P_i, 3) normals, zero padded, or None."""
        return self._get("normals_padded", lambda: self._padded(self._normals_list))

    def features_padded(self) -> torch.Tensor | None:
        """(N, max P_i, C) features, zero padded, or None."""
        return self._get("features_padded", lambda: self._padded(self._features_list))

    def points_packed(self) -> torch.Tensor:
        """(sum P_i, 3) all points concatenated."""
        return self._get("points_packed", lambda: self._packed(self._points_list))

    def normals_packed(self) -> torch.Tensor | None:
        """(sum P_i, 3) normals, or None."""
        return self._get("normals_packed", lambda: self._packed(self._normals_list))

    def features_packed(self) -> torch.Tensor | None:
        """(sum P_i, C) features, or None."""
        return self._get("features_packed", lambda: self._packed(self._features_list))

    def get_cloud(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(points (P_i, 3), normals or None, features or None) of cloud ``index``."""
        if not isinstance(index, int) or not -self._N <= index < self._N:
            raise IndexError(f"Pointclouds.get_cloud: index {index!r} out of range for {self._N} clouds")
        def pick(xs):
            return (xs[index] if xs is not None else None)
        return self._points_list[index], pick(self._normals_list), pick(self._features_list)

    def get_bounding_boxes(self) -> torch.Tensor:
        """(N, 3, 2) per-cloud [min, max] of the coordinates."""
        return torch.stack([torch.stack([p.min(0).values, p.max(0).values], 1) for p in self._points_list], 0)

    # ---- updates, copies, indexing --------------------------------------------------------------
    def _with(self, points: list[torch.Tensor], normals=None, features=None) -> Pointclouds:
        return Pointclouds(points, normals=normals, features=features)

    def _map(self, fn) -> Pointclouds:
        def m(xs):
            return ([fn(t) for t in xs] if xs is not None else None)
        return self._with(m(self._points_list), m(self._normals_list), m(self._features_list))

    def clone(self) -> Pointclouds:
        """A deep copy (differentiable)."""
        return self._map(torch.clone)

    def detach(self) -> Pointclouds:
        """A copy detached from the autograd graph."""
        return self._map(torch.Tensor.detach)

    def to(self, device: str | torch.device, copy: bool = False) -> Pointclouds:
        """This batch on ``device``."""
        device = torch.device(device)
        if device.type == self.device.type and (device.index is None or device == self.device) and not copy:
            return self
        new = self._map(lambda t: t.to(device))
        new.device = device
        return new

    def cpu(self) -> Pointclouds:
        """This batch on the CPU."""
        return self.to("cpu")

    def cuda(self) -> Pointclouds:
        """This batch on the current CUDA device."""
        return self.to("cuda")

    def offset_(self, offsets_packed: torch.Tensor) -> Pointclouds:
        """Add (sum P_i, 3) or (3,) offsets to the points in place; returns self."""
        pts = self.points_packed()
        if offsets_packed.shape == (3,):
            offsets_packed = offsets_packed.expand_as(pts)
        if offsets_packed.shape != pts.shape:
            raise ValueError(f"Pointclouds.offset: offsets must have shape {tuple(pts.shape)} or (3,), "
                             f"got {tuple(offsets_packed.shape)}")
        new = pts + offsets_packed
        self._points_list = list(new.split(self.num_points_per_cloud().tolist(), 0))
        self._cache = {"points_packed": new, "np": self.num_points_per_cloud()}
        return self

    def offset(self, offsets_packed: torch.Tensor) -> Pointclouds:
        """A new batch with offsets added to the points."""
        return self.clone().offset_(offsets_packed)

    def scale_(self, scale: float | torch.Tensor) -> Pointclouds:
        """Multiply each cloud's points by a scalar or (N,) per-cloud scale in place; returns self."""
        s = torch.as_tensor(scale, dtype=self.points_packed().dtype, device=self.device)
        if s.ndim == 0:
            s = s.expand(self._N)
        if s.shape != (self._N,):
            raise ValueError(f"Pointclouds.scale: scale must be a scalar or ({self._N},), got {tuple(s.shape)}")
        self._points_list = [p * s[i] for i, p in enumerate(self._points_list)]
        self._cache = {"np": self.num_points_per_cloud()}
        return self

    def scale(self, scale: float | torch.Tensor) -> Pointclouds:
        """A new batch with each cloud's points scaled."""
        return self.clone().scale_(scale)

    def update_padded(self, new_points_padded: torch.Tensor, new_normals_padded: torch.Tensor | None = None,
                      new_features_padded: torch.Tensor | None = None) -> Pointclouds:
        """A new batch with replaced padded points (and optionally normals/features), same sizes."""
        expected = self.points_padded().shape
        if new_points_padded.shape != expected:
            raise ValueError(f"Pointclouds.update_padded: expected shape {tuple(expected)}, "
                             f"got {tuple(new_points_padded.shape)}")
        sizes = self.num_points_per_cloud().tolist()
        def cut(x):
            return ([t[:s] for t, s in zip(x.unbind(0), sizes, strict=False)] if x is not None else None)
        normals = cut(new_normals_padded) if new_normals_padded is not None else self._normals_list
        features = cut(new_features_padded) if new_features_padded is not None else self._features_list
        return self._with(cut(new_points_padded), normals, features)

    def extend(self, N: int) -> Pointclouds:
        """A batch with each cloud repeated N times in a row."""
        if not isinstance(N, int) or N <= 0:
            raise ValueError(f"Pointclouds.extend: N must be a positive int, got {N!r}")
        def rep(xs):
            return ([t.clone() for t in xs for _ in range(N)] if xs is not None else None)
        return self._with(rep(self._points_list), rep(self._normals_list), rep(self._features_list))

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> Pointclouds:
        """The sub-batch at an int, slice, list of ints, or int/bool tensor index."""
        if isinstance(index, int):
            if not -self._N <= index < self._N:
                raise IndexError(f"Pointclouds index {index} out of range for {self._N} clouds")
            ids = [index % self._N]
        elif isinstance(index, slice):
            ids = list(range(self._N))[index]
        elif torch.is_tensor(index):
            if index.dtype == torch.bool:
                index = index.nonzero()[:, 0]
            ids = [int(i) % self._N for i in index.reshape(-1).tolist()]
        elif isinstance(index, (list, tuple)):
            ids = [int(i) % self._N for i in index]
        else:
            raise IndexError(f"Pointclouds cannot be indexed with {type(index).__name__}")
        def pick(xs):
            return ([xs[i] for i in ids] if xs is not None else None)
        return self._with(pick(self._points_list), pick(self._normals_list), pick(self._features_list))

    def estimate_normals(self, neighborhood_size: int = 50, disambiguate_directions: bool = True,
                         assign_to_self: bool = False) -> torch.Tensor:
        """(N, max P_i, 3) normals estimated from local covariances; stored as normals if assign_to_self."""
        from ..ops.points_normals import estimate_pointcloud_normals

        normals = estimate_pointcloud_normals(self, neighborhood_size=neighborhood_size,
                                              disambiguate_directions=disambiguate_directions)
        if assign_to_self:
            sizes = self.num_points_per_cloud().tolist()
            self._normals_list = [n[:s] for n, s in zip(normals.unbind(0), sizes, strict=False)]
            self._cache.pop("normals_padded", None)
            self._cache.pop("normals_packed", None)
        return normals


def join_pointclouds_as_batch(pointclouds: Sequence[Pointclouds]) -> Pointclouds:
    """One batch holding every cloud of every input batch, in order; normals/features kept if all have them."""
    if isinstance(pointclouds, Pointclouds) or not pointclouds:
        raise ValueError("join_pointclouds_as_batch: expected a non-empty list of Pointclouds")
    points = [p for pc in pointclouds for p in pc.points_list()]
    out = {}
    for field in ("normals", "features"):
        lists = [getattr(pc, f"{field}_list")() for pc in pointclouds]
        if all(x is None for x in lists):
            out[field] = None
        elif any(x is None for x in lists):
            raise ValueError(f"join_pointclouds_as_batch: some clouds have {field} and others do not")
        else:
            out[field] = [t for x in lists for t in x]
    return Pointclouds(points, **out)


def join_pointclouds_as_scene(pointclouds: Pointclouds | Sequence[Pointclouds]) -> Pointclouds:
    """A single cloud made of all points of the batch (or list of batches)."""
    if not isinstance(pointclouds, Pointclouds):
        pointclouds = join_pointclouds_as_batch(pointclouds)
    if len(pointclouds) == 0:
        raise ValueError("join_pointclouds_as_scene: the batch is empty")
    def wrap(x):
        return ([x] if x is not None else None)
    return Pointclouds([pointclouds.points_packed()], normals=wrap(pointclouds.normals_packed()),
                       features=wrap(pointclouds.features_packed()))
