"""SO(3) exponential / logarithm maps and rotation angles (PyTorch3D's ``transforms.so3``).

Matrices act on column vectors; ``so3_exp_map(w)`` rotates by ``|w|`` radians about ``w``.
"""

from __future__ import annotations

import torch


def _check_rot(R: torch.Tensor, name: str = "R") -> None:
    if not torch.is_tensor(R) or R.dim() != 3 or R.shape[1:] != (3, 3):
        got = tuple(R.shape) if torch.is_tensor(R) else type(R).__name__
        raise ValueError(f"{name}: expected a batch of rotation matrices of shape (N, 3, 3), got {got}")


def acos_linear_extrapolation(x: torch.Tensor, bounds: tuple[float, float] = (-0.9999, 0.9999)) -> torch.Tensor:
    """arccos(x) inside ``bounds`` and its first-order Taylor extension outside, so gradients stay finite."""
    lo, hi = bounds
    if not -1.0 <= lo < hi <= 1.0:
        raise ValueError(f"bounds: expected -1 <= lower < upper <= 1, got {bounds!r}")
    xc = x.clamp(lo, hi)
    # d/dx acos(x) = -1 / sqrt(1 - x^2), evaluated at the bound that was hit.
    slope = -1.0 / torch.sqrt(1.0 - xc * xc)
    inside = (x >= lo) & (x <= hi)
    return torch.where(inside, torch.acos(xc), torch.acos(xc) + slope * (x - xc))


def hat(v: torch.Tensor) -> torch.Tensor:
    """Skew-symmetric matrices (N, 3, 3) with ``hat(v) @ u == cross(v, u)`` for vectors v (N, 3)."""
    if not torch.is_tensor(v) or v.dim() != 2 or v.shape[1] != 3:
        raise ValueError(f"v: expected a tensor of shape (N, 3), got {tuple(getattr(v, 'shape', ()))}")
    x, y, z = v.unbind(1)
    zero = torch.zeros_like(x)
    return torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), 1).view(-1, 3, 3)


def hat_inv(h: torch.Tensor) -> torch.Tensor:
    """Vectors (N, 3) of skew-symmetric matrices (N, 3, 3); inverse of :func:`hat`."""
    _check_rot(h, "h")
    if float((h + h.transpose(1, 2)).abs().max()) > 1e-5:
        raise ValueError("h: expected skew-symmetric matrices (h == -h^T)")
    return torch.stack((h[:, 2, 1], h[:, 0, 2], h[:, 1, 0]), 1)


def so3_rotation_angle(
    R: torch.Tensor, eps: float = 1e-4, cos_angle: bool = False, cos_bound: float = 1e-4
) -> torch.Tensor:
    """Rotation angles (N,) in [0, pi] of matrices R (N, 3, 3), or their cosines if ``cos_angle``.

    ``cos_bound > 0`` clamps acos's argument to [-1 + cos_bound, 1 - cos_bound] with linear
    extrapolation, keeping gradients finite at angles 0 and pi.
    """
    _check_rot(R)
    trace = R[:, 0, 0] + R[:, 1, 1] + R[:, 2, 2]
    if bool(((trace < -1.0 - eps) | (trace > 3.0 + eps)).any()):
        raise ValueError("R: a matrix trace is outside [-1, 3]; the input is not a rotation matrix")
    phi_cos = (trace - 1.0) * 0.5
    if cos_angle:
        return phi_cos
    if cos_bound > 0.0:
        return acos_linear_extrapolation(phi_cos, (-1.0 + cos_bound, 1.0 - cos_bound))
    return torch.acos(phi_cos.clamp(-1.0, 1.0))


def so3_exp_map(log_rot: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Rotation matrices (N, 3, 3) from axis-angle log-rotations (N, 3) (Rodrigues' rotation, via the quaternion)."""
    if not torch.is_tensor(log_rot) or log_rot.dim() != 2 or log_rot.shape[1] != 3:
        raise ValueError(f"log_rot: expected a tensor of shape (N, 3), got {tuple(getattr(log_rot, 'shape', ()))}")
    # As PyTorch3D 0.7.9 (pytorch3d/transforms/so3.py): through the unit quaternion, whose sin(t/2)/t has a
    # Taylor branch near 0; the former clamped Rodrigues form (theta^2 >= eps) made the Jacobian at angles
    # below 1e-2 off by up to 1.7e-5 relative from PyTorch3D's. ``eps`` is kept for the signature only.
    from .rotation_conversions import axis_angle_to_matrix

    return axis_angle_to_matrix(log_rot)


def so3_log_map(R: torch.Tensor, eps: float = 1e-4, cos_bound: float = 1e-4) -> torch.Tensor:
    """Axis-angle log-rotations (N, 3) of matrices R (N, 3, 3), angle in [0, pi]."""
    _check_rot(R)
    # As PyTorch3D 0.7.9: matrix_to_axis_angle (through the quaternion; eps and cos_bound are unused there
    # too). The former phi / (2 sin phi) (R - R^T) form agreed on rotations but not in its gradient with
    # respect to the 9 matrix entries (off by up to 82 in float64), which an optimiser over R sees.
    from .rotation_conversions import matrix_to_axis_angle

    return matrix_to_axis_angle(R)


def so3_relative_angle(
    R1: torch.Tensor, R2: torch.Tensor, cos_angle: bool = False, cos_bound: float = 1e-4, eps: float = 1e-4
) -> torch.Tensor:
    """Angles (N,) of the relative rotations ``R1 @ R2^T`` between two batches (N, 3, 3)."""
    _check_rot(R1, "R1")
    _check_rot(R2, "R2")
    return so3_rotation_angle(R1 @ R2.transpose(1, 2), eps=eps, cos_angle=cos_angle, cos_bound=cos_bound)


def _se3_v_matrix(log_rot: torch.Tensor, eps: float) -> torch.Tensor:
    """The SE(3) "V" matrix (N, 3, 3) linking translation and log-translation."""
    theta2 = (log_rot * log_rot).sum(1).clamp(min=eps)
    theta = theta2.sqrt()
    k = hat(log_rot)
    eye = torch.eye(3, dtype=log_rot.dtype, device=log_rot.device)[None]
    a = ((1.0 - torch.cos(theta)) / theta2)[:, None, None]
    b = ((theta - torch.sin(theta)) / (theta2 * theta))[:, None, None]
    return eye + a * k + b * (k @ k)


def se3_exp_map(log_transform: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """4x4 transforms (N, 4, 4) in row-vector form from log-transforms (N, 6) = (log_translation, log_rotation)."""
    if not torch.is_tensor(log_transform) or log_transform.dim() != 2 or log_transform.shape[1] != 6:
        raise ValueError(f"log_transform: expected shape (N, 6), got {tuple(getattr(log_transform, 'shape', ()))}")
    log_t, log_r = log_transform[:, :3], log_transform[:, 3:]
    R = so3_exp_map(log_r, eps=eps)
    t = (_se3_v_matrix(log_r, eps) @ log_t[:, :, None])[:, :, 0]
    out = log_transform.new_zeros(log_transform.shape[0], 4, 4)
    out[:, :3, :3] = R.transpose(1, 2)
    out[:, 3, :3] = t
    out[:, 3, 3] = 1.0
    return out


def se3_log_map(transform: torch.Tensor, eps: float = 1e-4, cos_bound: float = 1e-4) -> torch.Tensor:
    """Log-transforms (N, 6) of row-vector 4x4 transforms (N, 4, 4); inverse of :func:`se3_exp_map`."""
    if not torch.is_tensor(transform) or transform.dim() != 3 or transform.shape[1:] != (4, 4):
        raise ValueError(f"transform: expected shape (N, 4, 4), got {tuple(getattr(transform, 'shape', ()))}")
    R = transform[:, :3, :3].transpose(1, 2)
    log_r = so3_log_map(R, eps=eps, cos_bound=cos_bound)
    t = transform[:, 3, :3]
    log_t = torch.linalg.solve(_se3_v_matrix(log_r, eps), t[:, :, None])[:, :, 0]
    return torch.cat((log_t, log_r), 1)

