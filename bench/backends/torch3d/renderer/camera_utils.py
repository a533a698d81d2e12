"""Look-at camera poses and world-to-view transforms (PyTorch3D's conventions).

View space: +X left, +Y up, +Z forward (into the screen); a world point p (row vector)
maps to ``p @ R + T``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..transforms import Rotate, Transform3d, Translate

Device = str | torch.device


def convert_to_tensors_and_broadcast(*args, dtype: torch.dtype = torch.float32, device: Device = "cpu"):
    """Tensors of shape (N, ...) from scalars, sequences or tensors, broadcast along dim 0 to a common N."""
    out = []
    for a in args:
        t = a.to(device) if torch.is_tensor(a) else torch.tensor(a, dtype=dtype, device=device)
        out.append(t.view(1, *t.shape) if t.dim() == 0 else t)
    n = max(t.shape[0] for t in out)
    for i, t in enumerate(out):
        if t.shape[0] not in (1, n):
            raise ValueError(f"argument {i}: batch size {t.shape[0]} cannot broadcast to {n}")
        out[i] = t.expand((n,) + tuple(t.shape[1:])) if t.shape[0] == 1 else t
    return out


def get_world_to_view_transform(R: torch.Tensor | None = None, T: torch.Tensor | None = None) -> Transform3d:
    """The transform ``p @ R + T`` for R (N, 3, 3) and T (N, 3) (defaults: identity, zero)."""
    R = torch.eye(3)[None] if R is None else R
    T = torch.zeros(1, 3, dtype=R.dtype, device=R.device) if T is None else T
    if R.dim() != 3 or R.shape[1:] != (3, 3):
        raise ValueError(f"R: expected shape (N, 3, 3), got {tuple(R.shape)}")
    if T.dim() != 2 or T.shape[1] != 3:
        raise ValueError(f"T: expected shape (N, 3), got {tuple(T.shape)}")
    if R.shape[0] != T.shape[0] and 1 not in (R.shape[0], T.shape[0]):
        raise ValueError(f"R and T: batch sizes {R.shape[0]} and {T.shape[0]} differ")
    rot = Rotate(R, device=R.device, dtype=R.dtype, orthogonal_tol=None)
    return rot.compose(Translate(T, device=T.device, dtype=T.dtype))


def camera_position_from_spherical_angles(distance, elevation, azimuth, degrees: bool = True,
                                          device: Device = "cpu") -> torch.Tensor:
    """Camera centres (N, 3) at ``distance`` from the origin; azimuth 0 looks from +Z, elevation lifts to +Y."""
    dist, elev, azim = convert_to_tensors_and_broadcast(distance, elevation, azimuth, device=device)
    if degrees:
        elev = elev * (math.pi / 180.0)
        azim = azim * (math.pi / 180.0)
    x = dist * torch.cos(elev) * torch.sin(azim)
    y = dist * torch.sin(elev)
    z = dist * torch.cos(elev) * torch.cos(azim)
    return torch.stack((x, y, z), dim=1).view(-1, 3)


def look_at_rotation(camera_position, at=((0, 0, 0),), up=((0, 1, 0),), device: Device = "cpu") -> torch.Tensor:
    """World-to-view rotations R (N, 3, 3) for cameras at ``camera_position`` looking at ``at``.

    The columns of R are the camera's x (left), y (up) and z (forward) axes in world coordinates.
    """
    camera_position, at, up = convert_to_tensors_and_broadcast(camera_position, at, up, device=device)
    for t, name in ((camera_position, "camera_position"), (at, "at"), (up, "up")):
        if t.dim() != 2 or t.shape[-1] != 3:
            raise ValueError(f"{name}: expected shape (N, 3) or (3,), got {tuple(t.shape)}")
    up = up.to(camera_position.dtype)
    at = at.to(camera_position.dtype)
    z_axis = F.normalize(at - camera_position, eps=1e-5)
    x_axis = F.normalize(torch.cross(up, z_axis, dim=1), eps=1e-5)
    y_axis = F.normalize(torch.cross(z_axis, x_axis, dim=1), eps=1e-5)
    # When up is parallel to the viewing direction x degenerates (PyTorch3D then returns a singular
    # matrix); use the world axis least aligned with the view direction as "up" instead.
    degenerate = (x_axis.abs() < 5e-3).all(dim=1, keepdim=True)
    if bool(degenerate.any()):
        alt = torch.eye(3, dtype=z_axis.dtype, device=z_axis.device)[z_axis.abs().argmin(dim=1)]
        x_alt = F.normalize(torch.cross(alt, z_axis, dim=1), eps=1e-5)
        x_axis = torch.where(degenerate, x_alt, x_axis)
        y_axis = torch.where(degenerate, F.normalize(torch.cross(z_axis, x_axis, dim=1), eps=1e-5), y_axis)
    return torch.stack((x_axis, y_axis, z_axis), dim=2)


def look_at_view_transform(
    dist=1.0, elev=0.0, azim=0.0, degrees: bool = True, eye: Sequence | torch.Tensor | None = None,
    at=((0, 0, 0),), up=((0, 1, 0),), device: Device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(R (N, 3, 3), T (N, 3)) of cameras on a sphere around ``at`` (or at ``eye``) looking at ``at``.

    E.g. dist=3, elev=0, azim=0 gives R = diag(-1, 1, -1), T = (0, 0, 3).
    """
    if eye is not None:
        eye, at, up = convert_to_tensors_and_broadcast(eye, at, up, device=device)
        centre = eye
    else:
        dist, elev, azim, at, up = convert_to_tensors_and_broadcast(dist, elev, azim, at, up, device=device)
        centre = camera_position_from_spherical_angles(dist, elev, azim, degrees=degrees, device=device) + at
    R = look_at_rotation(centre, at, up, device=device)
    T = -(R.transpose(1, 2) @ centre[:, :, None])[:, :, 0]
    return R, T
