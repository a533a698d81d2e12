"""Rotation representations and conversions, with PyTorch3D's names and conventions.

Matrices here act on column vectors (``R @ v``); quaternions are real-part first
``(w, x, y, z)``; Euler conventions are strings such as ``"XYZ"`` meaning
``R = R_X(a0) @ R_Y(a1) @ R_Z(a2)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_AXES = "XYZ"
_EVEN = {(0, 1, 2), (1, 2, 0), (2, 0, 1)}


def _check_last(x: torch.Tensor, shape: tuple[int, ...], name: str) -> None:
    if not torch.is_tensor(x) or tuple(x.shape[x.dim() - len(shape):]) != shape or x.dim() < len(shape):
        got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"{name}: expected a tensor of shape (..., {', '.join(map(str, shape))}), got {got}")


def _sqrt_positive_part(x: torch.Tensor) -> torch.Tensor:
    """sqrt(max(0, x)) with a zero (not NaN) subgradient at 0."""
    out = torch.zeros_like(x)
    pos = x > 0
    out[pos] = torch.sqrt(x[pos])
    return out


def standardize_quaternion(quaternions: torch.Tensor) -> torch.Tensor:
    """Quaternions (..., 4) with a non-negative real part (q and -q are the same rotation)."""
    return torch.where(quaternions[..., 0:1] < 0, -quaternions, quaternions)


def quaternion_to_matrix(quaternions: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) from quaternions (..., 4), real part first; any norm."""
    _check_last(quaternions, (4,), "quaternions")
    r, i, j, k = torch.unbind(quaternions, -1)
    two_s = 2.0 / (quaternions * quaternions).sum(-1)
    o = torch.stack(
        (
            1 - two_s * (j * j + k * k), two_s * (i * j - k * r), two_s * (i * k + j * r),
            two_s * (i * j + k * r), 1 - two_s * (i * i + k * k), two_s * (j * k - i * r),
            two_s * (i * k - j * r), two_s * (j * k + i * r), 1 - two_s * (i * i + j * j),
        ),
        -1,
    )
    return o.reshape(quaternions.shape[:-1] + (3, 3))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (..., 4), real part first and non-negative, from rotation matrices (..., 3, 3).

    Four candidate formulas are computed and the best-conditioned one is kept per matrix.
    """
    _check_last(matrix, (3, 3), "matrix")
    batch = matrix.shape[:-2]
    m = matrix.reshape(batch + (9,))
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = torch.unbind(m, -1)
    # 4 * q_c^2 for each component c, from the trace and the diagonal.
    q_abs = _sqrt_positive_part(
        torch.stack(
            (1.0 + m00 + m11 + m22, 1.0 + m00 - m11 - m22, 1.0 - m00 + m11 - m22, 1.0 - m00 - m11 + m22), -1
        )
    )
    # Row c: the quaternion scaled by 2 * q_c, built from the off-diagonal terms.
    cands = torch.stack(
        (
            torch.stack((q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01), -1),
            torch.stack((m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20), -1),
            torch.stack((m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21), -1),
            torch.stack((m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2), -1),
        ),
        -2,
    )
    floor = torch.tensor(0.1, dtype=q_abs.dtype, device=q_abs.device)
    cands = cands / (2.0 * torch.maximum(q_abs[..., None], floor))
    best = q_abs.argmax(dim=-1)
    out = torch.gather(cands, -2, best[..., None, None].expand(batch + (1, 4))).squeeze(-2)
    return standardize_quaternion(out)


def _axis_angle_rotation(axis: str, angle: torch.Tensor) -> torch.Tensor:
    """Matrices (..., 3, 3) rotating by ``angle`` (radians) about one of the axes "X", "Y", "Z"."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "X":
        flat = (one, zero, zero, zero, cos, -sin, zero, sin, cos)
    elif axis == "Y":
        flat = (cos, zero, sin, zero, one, zero, -sin, zero, cos)
    elif axis == "Z":
        flat = (cos, -sin, zero, sin, cos, zero, zero, zero, one)
    else:
        raise ValueError(f"axis: expected one of 'X', 'Y', 'Z', got {axis!r}")
    return torch.stack(flat, -1).reshape(angle.shape + (3, 3))


def _check_convention(convention: str) -> None:
    ok = isinstance(convention, str) and len(convention) == 3 and all(c in _AXES for c in convention)
    if not ok or convention[0] == convention[1] or convention[1] == convention[2]:
        raise ValueError(f"convention: expected 3 letters from X, Y, Z, no two neighbours equal; got {convention!r}")


def euler_angles_to_matrix(euler_angles: torch.Tensor, convention: str) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) from Euler angles (..., 3) in radians, e.g. convention "XYZ"."""
    _check_last(euler_angles, (3,), "euler_angles")
    _check_convention(convention)
    mats = [_axis_angle_rotation(c, a) for c, a in zip(convention, torch.unbind(euler_angles, -1), strict=True)]
    return mats[0] @ mats[1] @ mats[2]


def matrix_to_euler_angles(matrix: torch.Tensor, convention: str) -> torch.Tensor:
    """Euler angles (..., 3) in radians, inverting :func:`euler_angles_to_matrix` (middle angle principal)."""
    _check_last(matrix, (3, 3), "matrix")
    _check_convention(convention)
    i, j, k = (_AXES.index(c) for c in convention)
    if i != k:  # Tait-Bryan: i, j, k all different
        s = 1.0 if (i, j, k) in _EVEN else -1.0
        mid = torch.asin((s * matrix[..., i, k]).clamp(-1.0, 1.0))
        first = torch.atan2(-s * matrix[..., j, k], matrix[..., k, k])
        last = torch.atan2(-s * matrix[..., i, j], matrix[..., i, i])
    else:  # proper Euler: the remaining axis m completes the triple
        m = 3 - i - j
        s = 1.0 if (i, j, m) in _EVEN else -1.0
        mid = torch.acos(matrix[..., i, i].clamp(-1.0, 1.0))
        first = torch.atan2(matrix[..., j, i], -s * matrix[..., m, i])
        last = torch.atan2(matrix[..., i, j], s * matrix[..., i, m])
    return torch.stack((first, mid, last), -1)


def random_quaternions(n: int, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
    """(n, 4) unit quaternions uniform over SO(3), real part non-negative."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n: expected a non-negative int, got {n!r}")
    o = torch.randn((n, 4), dtype=dtype, device=device)
    o = o / o.norm(dim=1, keepdim=True)
    return standardize_quaternion(o)


def random_rotations(n: int, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
    """(n, 3, 3) rotation matrices uniform over SO(3)."""
    return quaternion_to_matrix(random_quaternions(n, dtype=dtype, device=device))


def random_rotation(dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
    """One (3, 3) rotation matrix uniform over SO(3)."""
    return random_rotations(1, dtype, device)[0]


def quaternion_raw_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b of quaternions (..., 4), not normalised."""
    aw, ax, ay, az = torch.unbind(a, -1)
    bw, bx, by, bz = torch.unbind(b, -1)
    return torch.stack(
        (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ),
        -1,
    )


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Quaternion (..., 4) of the rotation "b then a", real part non-negative."""
    return standardize_quaternion(quaternion_raw_multiply(a, b))


def quaternion_invert(quaternion: torch.Tensor) -> torch.Tensor:
    """Inverse rotation (conjugate) of unit quaternions (..., 4)."""
    return quaternion * quaternion.new_tensor([1.0, -1.0, -1.0, -1.0])


def quaternion_apply(quaternion: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """Rotate points (..., 3) by unit quaternions (..., 4)."""
    _check_last(point, (3,), "point")
    real = point.new_zeros(point.shape[:-1] + (1,))
    out = quaternion_raw_multiply(
        quaternion_raw_multiply(quaternion, torch.cat((real, point), -1)), quaternion_invert(quaternion)
    )
    return out[..., 1:]


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """Quaternions (..., 4) from axis-angle vectors (..., 3) (direction = axis, norm = angle in radians)."""
    _check_last(axis_angle, (3,), "axis_angle")
    angles = torch.norm(axis_angle, p=2, dim=-1, keepdim=True)
    half = angles * 0.5
    small = angles.abs() < 1e-6
    # sin(x/2)/x with its Taylor series near 0 so that gradients stay finite.
    safe = torch.where(small, torch.ones_like(angles), angles)
    sin_half_over = torch.where(small, 0.5 - angles * angles / 48, torch.sin(half) / safe)
    return torch.cat((torch.cos(half), axis_angle * sin_half_over), -1)


def quaternion_to_axis_angle(quaternions: torch.Tensor) -> torch.Tensor:
    """Axis-angle vectors (..., 3), angle in [0, pi], from quaternions (..., 4)."""
    _check_last(quaternions, (4,), "quaternions")
    q = standardize_quaternion(quaternions)
    norms = torch.norm(q[..., 1:], p=2, dim=-1, keepdim=True)
    half = torch.atan2(norms, q[..., :1])
    angles = 2 * half
    small = angles.abs() < 1e-6
    safe = torch.where(small, torch.ones_like(half), half)
    sin_half_over = torch.where(small, 0.5 - angles * angles / 48, torch.sin(safe) / (2 * safe))
    return q[..., 1:] / sin_half_over


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) from axis-angle vectors (..., 3)."""
    return quaternion_to_matrix(axis_angle_to_quaternion(axis_angle))


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Axis-angle vectors (..., 3), angle in [0, pi], from rotation matrices (..., 3, 3)."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) from the continuous 6D representation (..., 6) (Zhou et al. 2019).

    The two 3-vectors are Gram-Schmidt orthonormalised; they become the matrix's first two rows.
    """
    _check_last(d6, (6,), "d6")
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-2)


def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """The 6D representation (..., 6): the first two rows of rotation matrices (..., 3, 3)."""
    _check_last(matrix, (3, 3), "matrix")
    return matrix[..., :2, :].clone().reshape(matrix.shape[:-2] + (6,))
