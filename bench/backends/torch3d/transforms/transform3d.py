"""Batched 3D affine/projective transforms in row-vector form (PyTorch3D's ``Transform3d``).

A point p (row vector) maps to ``[p, 1] @ M``; composing ``a.compose(b)`` applies ``a`` first.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch

from .rotation_conversions import _axis_angle_rotation

Device = str | torch.device


def _broadcast_bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched matmul of (N|1, ., .) by (N|1, ., .), broadcasting a batch of one."""
    if a.dim() == 2:
        a = a[None]
    if b.dim() == 2:
        b = b[None]
    if a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
        raise ValueError(f"cannot broadcast transforms of batch sizes {a.shape[0]} and {b.shape[0]}")
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype) @ b.to(dtype)


class Transform3d:
    """A batch of N 4x4 transforms, stored lazily as a matrix plus a list of composed transforms."""

    def __init__(self, dtype: torch.dtype | None = None, device: Device | None = None,
                 matrix: torch.Tensor | None = None) -> None:
        if matrix is None:
            dtype = dtype or torch.float32
            self._matrix = torch.eye(4, dtype=dtype, device=device).view(1, 4, 4)
        else:
            if not torch.is_tensor(matrix) or matrix.dim() not in (2, 3) or matrix.shape[-2:] != (4, 4):
                got = tuple(matrix.shape) if torch.is_tensor(matrix) else type(matrix).__name__
                raise ValueError(f"matrix: expected a tensor of shape (4, 4) or (N, 4, 4), got {got}")
            dtype, device = matrix.dtype, matrix.device
            self._matrix = matrix.view(-1, 4, 4)
        self._transforms: list[Transform3d] = []
        self.device = torch.device(device) if device is not None else self._matrix.device
        self.dtype = dtype

    def __len__(self) -> int:
        return self.get_matrix().shape[0]

    def __getitem__(self, index: int | slice | list | torch.Tensor) -> Transform3d:
        if isinstance(index, int):
            index = [index]
        return Transform3d(matrix=self.get_matrix()[index])

    def compose(self, *others: Transform3d) -> Transform3d:
        """A transform applying ``self`` then each of ``others`` in order."""
        out = Transform3d(dtype=self.dtype, device=self.device)
        out._matrix = self._matrix.clone()
        for other in others:
            if not isinstance(other, Transform3d):
                raise ValueError(f"compose: expected Transform3d arguments, got {type(other).__name__}")
        out._transforms = self._transforms + list(others)
        return out

    def get_matrix(self) -> torch.Tensor:
        """The composed (N, 4, 4) matrix, row-vector form (translation in the last row)."""
        composed = self._matrix.clone()
        for other in self._transforms:
            composed = _broadcast_bmm(composed, other.get_matrix())
        return composed

    def _get_matrix_inverse(self) -> torch.Tensor:
        return torch.inverse(self._matrix)

    def inverse(self, invert_composed: bool = False) -> Transform3d:
        """The inverse transform (points mapped by self then by the inverse come back unchanged)."""
        tinv = Transform3d(dtype=self.dtype, device=self.device)
        if invert_composed:
            tinv._matrix = torch.inverse(self.get_matrix())
            return tinv
        tinv._matrix = self._get_matrix_inverse()
        if self._transforms:
            # (A B C)^-1 = C^-1 B^-1 A^-1: invert each part and reverse the order.
            tinv._transforms = [t.inverse() for t in reversed(self._transforms)]
            last = Transform3d(dtype=self.dtype, device=self.device)
            last._matrix = tinv._matrix
            tinv._matrix = torch.eye(4, dtype=self.dtype, device=self.device)[None]
            tinv._transforms.append(last)
        return tinv

    def stack(self, *others: Transform3d) -> Transform3d:
        """Concatenate the batches of self and ``others`` into one transform."""
        mats = [self.get_matrix()] + [o.get_matrix() for o in others]
        return Transform3d(matrix=torch.cat(mats, 0))

    def transform_points(self, points: torch.Tensor, eps: float | None = None) -> torch.Tensor:
        """Apply to points (P, 3) or (N, P, 3), dividing by the homogeneous w (clamped to ``eps`` if given)."""
        if not torch.is_tensor(points) or points.dim() not in (2, 3) or points.shape[-1] != 3:
            got = tuple(points.shape) if torch.is_tensor(points) else type(points).__name__
            raise ValueError(f"points: expected a tensor of shape (P, 3) or (N, P, 3), got {got}")
        batch = points if points.dim() == 3 else points[None]
        homog = torch.cat((batch, torch.ones_like(batch[..., :1])), -1)
        out = _broadcast_bmm(homog, self.get_matrix())
        denom = out[..., 3:]
        if eps is not None:
            sign = denom.sign() + (denom == 0).to(denom.dtype)
            denom = sign * denom.abs().clamp(min=eps)
        out = out[..., :3] / denom
        if out.shape[0] == 1 and points.dim() == 2:
            out = out.reshape(points.shape)
        return out

    def transform_normals(self, normals: torch.Tensor) -> torch.Tensor:
        """Apply the inverse-transpose of the linear part to normals (P, 3) or (N, P, 3)."""
        if not torch.is_tensor(normals) or normals.dim() not in (2, 3) or normals.shape[-1] != 3:
            got = tuple(normals.shape) if torch.is_tensor(normals) else type(normals).__name__
            raise ValueError(f"normals: expected a tensor of shape (P, 3) or (N, P, 3), got {got}")
        mat = self.get_matrix()[:, :3, :3]
        out = _broadcast_bmm(normals if normals.dim() == 3 else normals[None], mat.transpose(1, 2).inverse())
        if out.shape[0] == 1 and normals.dim() == 2:
            out = out.reshape(normals.shape)
        return out

    def translate(self, *args, **kwargs) -> Transform3d:
        return self.compose(Translate(*args, device=self.device, dtype=self.dtype, **kwargs))

    def scale(self, *args, **kwargs) -> Transform3d:
        return self.compose(Scale(*args, device=self.device, dtype=self.dtype, **kwargs))

    def rotate(self, *args, **kwargs) -> Transform3d:
        return self.compose(Rotate(*args, device=self.device, dtype=self.dtype, **kwargs))

    def rotate_axis_angle(self, *args, **kwargs) -> Transform3d:
        return self.compose(RotateAxisAngle(*args, device=self.device, dtype=self.dtype, **kwargs))

    def clone(self) -> Transform3d:
        other = Transform3d(dtype=self.dtype, device=self.device)
        other._matrix = self._matrix.clone()
        other._transforms = [t.clone() for t in self._transforms]
        return other

    def to(self, device: Device, copy: bool = False, dtype: torch.dtype | None = None) -> Transform3d:
        """This transform on ``device`` (and ``dtype``); ``copy`` forces a new object."""
        device = torch.device(device)
        dtype = self.dtype if dtype is None else dtype
        if not copy and self.device == device and self.dtype == dtype:
            return self
        other = self.clone()
        other.device, other.dtype = device, dtype
        other._matrix = other._matrix.to(device=device, dtype=dtype)
        other._transforms = [t.to(device, copy=copy, dtype=dtype) for t in other._transforms]
        return other

    def cpu(self) -> Transform3d:
        return self.to("cpu")

    def cuda(self) -> Transform3d:
        return self.to("cuda")


def _as_tensor(c, dtype: torch.dtype | None, device: Device | None) -> torch.Tensor:
    if torch.is_tensor(c):
        return c.to(device=device if device is not None else c.device, dtype=dtype or c.dtype)
    return torch.tensor(c, dtype=dtype or torch.float32, device=device)


def _handle_input(x, y, z, dtype, device, name: str, allow_singleton: bool = False) -> torch.Tensor:
    """(N, 3) values from either one (N, 3) tensor or three scalars/(N,) tensors (or one scalar for Scale)."""
    if torch.is_tensor(x) and x.dim() == 2:
        if x.shape[1] != 3 or y is not None or z is not None:
            raise ValueError(f"{name}: expected one (N, 3) tensor or three values x, y, z, got {tuple(x.shape)}")
        return _as_tensor(x, dtype, device)
    if y is None and z is None and allow_singleton:
        y = z = x
    if y is None or z is None:
        raise ValueError(f"{name}: expected one (N, 3) tensor or three values x, y, z")
    device = device if device is not None else next((c.device for c in (x, y, z) if torch.is_tensor(c)), None)
    if dtype is None:
        dtype = next((c.dtype for c in (x, y, z) if torch.is_tensor(c) and c.is_floating_point()), None)
    vals = [_as_tensor(c, dtype, device).reshape(-1) for c in (x, y, z)]
    n = max(v.shape[0] for v in vals)
    if any(v.shape[0] not in (1, n) for v in vals):
        raise ValueError(f"{name}: x, y, z have incompatible batch sizes {[v.shape[0] for v in vals]}")
    return torch.stack([v.expand(n) for v in vals], 1)


class Translate(Transform3d):
    """Translation by (N, 3) offsets: ``Translate(xyz)`` or ``Translate(x, y, z)``."""

    def __init__(self, x, y=None, z=None, dtype: torch.dtype | None = None, device: Device | None = None) -> None:
        xyz = _handle_input(x, y, z, dtype, device, "Translate")
        super().__init__(device=xyz.device, dtype=xyz.dtype)
        mat = torch.eye(4, dtype=xyz.dtype, device=xyz.device).repeat(xyz.shape[0], 1, 1)
        mat[:, 3, :3] = xyz
        self._matrix = mat

    def _get_matrix_inverse(self) -> torch.Tensor:
        inv = self._matrix.clone()
        inv[:, 3, :3] = -self._matrix[:, 3, :3]
        return inv


class Scale(Transform3d):
    """Axis-aligned scaling: ``Scale(s)``, ``Scale(sxyz (N, 3))`` or ``Scale(x, y, z)``."""

    def __init__(self, x, y=None, z=None, dtype: torch.dtype | None = None, device: Device | None = None) -> None:
        xyz = _handle_input(x, y, z, dtype, device, "Scale", allow_singleton=True)
        super().__init__(device=xyz.device, dtype=xyz.dtype)
        mat = torch.eye(4, dtype=xyz.dtype, device=xyz.device).repeat(xyz.shape[0], 1, 1)
        mat[:, 0, 0], mat[:, 1, 1], mat[:, 2, 2] = xyz.unbind(1)
        self._matrix = mat

    def _get_matrix_inverse(self) -> torch.Tensor:
        inv = self._matrix.clone()
        for i in range(3):
            inv[:, i, i] = 1.0 / self._matrix[:, i, i]
        return inv


class Rotate(Transform3d):
    """Rotation by matrices R (3, 3) or (N, 3, 3) applied to row vectors: ``p @ R``."""

    def __init__(self, R: torch.Tensor, dtype: torch.dtype | None = None, device: Device | None = None,
                 orthogonal_tol: float = 1e-5) -> None:
        if not torch.is_tensor(R) or R.dim() not in (2, 3) or R.shape[-2:] != (3, 3):
            got = tuple(R.shape) if torch.is_tensor(R) else type(R).__name__
            raise ValueError(f"R: expected a tensor of shape (3, 3) or (N, 3, 3), got {got}")
        R = _as_tensor(R.view(-1, 3, 3), dtype, device)
        super().__init__(device=R.device, dtype=R.dtype)
        if orthogonal_tol is not None and R.numel():
            err = (R @ R.transpose(1, 2) - torch.eye(3, dtype=R.dtype, device=R.device)).abs().max()
            if float(err) > max(orthogonal_tol, 1e-3):
                # PyTorch3D only warns here: optimisers may pass slightly non-orthogonal R.
                warnings.warn(f"Rotate: R is not orthogonal (max |R R^T - I| = {float(err):.3g})", stacklevel=2)
        mat = torch.eye(4, dtype=R.dtype, device=R.device).repeat(R.shape[0], 1, 1)
        mat[:, :3, :3] = R
        self._matrix = mat

    def _get_matrix_inverse(self) -> torch.Tensor:
        return self._matrix.transpose(1, 2).contiguous()


class RotateAxisAngle(Rotate):
    """Counter-clockwise rotation by ``angle`` (scalar or (N,)) about the "X", "Y" or "Z" axis."""

    def __init__(self, angle, axis: str = "X", degrees: bool = True, dtype: torch.dtype | None = None,
                 device: Device | None = None) -> None:
        axis = axis.upper() if isinstance(axis, str) else axis
        if axis not in ("X", "Y", "Z"):
            raise ValueError(f"axis: expected one of 'X', 'Y', 'Z', got {axis!r}")
        angle = _as_tensor(angle, dtype, device).reshape(-1)
        if degrees:
            angle = angle / 180.0 * math.pi
        # Row-vector form: transpose the column-vector rotation.
        R = _axis_angle_rotation(axis, angle).transpose(1, 2)
        super().__init__(R=R, device=angle.device, dtype=angle.dtype)


def stack_transforms(transforms: Sequence[Transform3d]) -> Transform3d:
    """One transform whose batch concatenates those of ``transforms``."""
    if not transforms:
        raise ValueError("transforms: expected at least one Transform3d")
    return transforms[0].stack(*transforms[1:])
