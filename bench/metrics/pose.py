"""Pose metrics: geodesic rotation error, translation and camera-centre errors, ADD and ADD-S.

Rotations follow PyTorch3D's row-vector convention (``X_cam = X_world @ R + T``) unless a function
says otherwise. The rotation angle is ``atan2(|sin|, cos)`` of the relative rotation, accurate from
0 to 180 degrees, with no clamping floor (an ``acos`` with a clamped argument hides errors below ~1 degree).
"""

from __future__ import annotations

from typing import Any

import torch

from bench.metrics import validate as V
from bench.metrics.accumulate import from_items
from bench.metrics.fingerprint import MetricResult, make_fingerprint
from bench.metrics.nearest import nearest
from bench.metrics.units import LENGTH

CONVENTIONS = ("row", "column")
_ORTHO_TOL = 1e-3


def _rotations(r: Any, name: str) -> torch.Tensor:
    t = V.as_tensor(r, name)
    t = t[None] if t.ndim == 2 else t
    V.check_ndim(t, name, 3, "(N, 3, 3) or (3, 3)")
    if tuple(t.shape[1:]) != (3, 3):
        raise ValueError(f"{name}: expected shape (N, 3, 3) or (3, 3), got {tuple(t.shape)}")
    V.check_nonempty(t, name)
    eye = torch.eye(3, dtype=t.dtype, device=t.device)
    err = (t @ t.transpose(1, 2) - eye).abs().amax((1, 2))
    det = torch.linalg.det(t)
    bad = torch.nonzero((err > _ORTHO_TOL) | (det <= 0)).flatten()
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"{name}[{i}]: not a rotation matrix "
                         f"(|R R^T - I| = {float(err[i]):.2g}, det = {float(det[i]):.3g})")
    return t


def _vectors(x: Any, name: str, n: int | None = None, ref: str = "") -> torch.Tensor:
    t = V.as_tensor(x, name)
    t = t[None] if t.ndim == 1 else t
    V.check_ndim(t, name, 2, "(N, 3) or (3,)")
    V.check_last_dim(t, name, 3, "(N, 3) or (3,)")
    V.check_nonempty(t, name)
    if n is not None:
        V.check_batch(t, name, n, ref)
    return t


def rotation_angle_deg(r: torch.Tensor) -> torch.Tensor:
    """Rotation angle in degrees of (N, 3, 3) rotation matrices, from atan2(|axis * sin|, cos)."""
    tr = r.diagonal(dim1=-2, dim2=-1).sum(-1)
    skew = torch.stack([r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1]], -1)
    return torch.rad2deg(torch.atan2(0.5 * skew.norm(dim=-1), 0.5 * (tr - 1.0)))


def rotation_error_deg(R_pred: Any, R_gt: Any) -> MetricResult:
    """Geodesic angle between predicted and true rotations, in degrees, per pose.

    Args:
        R_pred, R_gt: (N, 3, 3) or (3, 3) rotation matrices (either vector convention: the angle is the same).
    """
    rp, rg = _rotations(R_pred, "R_pred"), _rotations(R_gt, "R_gt")
    V.check_same_shape(rp, rg, "R_pred", "R_gt")
    ang = rotation_angle_deg(rp.transpose(1, 2) @ rg)
    fp = make_fingerprint("rotation_error", "bench3d.metrics.rotation_error_deg", formula="atan2(|sin|, cos)",
                          clamp=None, unit="deg")
    return from_items("RotationError", [float(a) for a in ang.cpu()], fp, unit="deg", higher_is_better=False)


def translation_error(T_pred: Any, T_gt: Any) -> MetricResult:
    """Euclidean distance between translation vectors (N, 3), in the input units, per pose."""
    tp = _vectors(T_pred, "T_pred")
    tg = _vectors(T_gt, "T_gt", tp.shape[0], "T_pred")
    fp = make_fingerprint("translation_error", "bench3d.metrics.translation_error", norm="L2")
    return from_items("TranslationError", [float(v) for v in (tp - tg).norm(dim=-1).cpu()], fp,
                      unit=LENGTH, higher_is_better=False)


def camera_centers(R: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """World position of PyTorch3D cameras: C @ R + T = 0, so C = -T @ R^T; (N, 3)."""
    return -torch.einsum("nj,nij->ni", T, R)


def camera_center_error(R_pred: Any, T_pred: Any, R_gt: Any, T_gt: Any) -> MetricResult:
    """Distance between predicted and true camera centres (PyTorch3D row convention), per camera.

    Args:
        R_*: (N, 3, 3) world-to-view rotations; T_*: (N, 3) translations, with ``X_cam = X_world @ R + T``.
    """
    rp, rg = _rotations(R_pred, "R_pred"), _rotations(R_gt, "R_gt")
    V.check_same_shape(rp, rg, "R_pred", "R_gt")
    tp = _vectors(T_pred, "T_pred", rp.shape[0], "R_pred")
    tg = _vectors(T_gt, "T_gt", rp.shape[0], "R_pred")
    err = (camera_centers(rp, tp) - camera_centers(rg, tg)).norm(dim=-1)
    fp = make_fingerprint("camera_center_error", "bench3d.metrics.camera_center_error",
                          convention="pytorch3d row: C = -T @ R^T", norm="L2")
    return from_items("CameraCenterError", [float(v) for v in err.cpu()], fp, unit=LENGTH,
                      higher_is_better=False)


def _transform(pts: torch.Tensor, R: torch.Tensor, T: torch.Tensor, convention: str) -> torch.Tensor:
    """(N, P, 3) points moved by each pose: ``X @ R + T`` (row) or ``R X + t`` (column)."""
    rot = R if convention == "row" else R.transpose(1, 2)
    return pts @ rot + T[:, None]


def _pose_args(points: Any, R_pred: Any, T_pred: Any, R_gt: Any, T_gt: Any, convention: str
               ) -> tuple[torch.Tensor, torch.Tensor]:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention: expected one of {CONVENTIONS}, got {convention!r}")
    rp, rg = _rotations(R_pred, "R_pred"), _rotations(R_gt, "R_gt")
    V.check_same_shape(rp, rg, "R_pred", "R_gt")
    n = rp.shape[0]
    tp, tg = _vectors(T_pred, "T_pred", n, "R_pred"), _vectors(T_gt, "T_gt", n, "R_pred")
    pts = V.as_tensor(points, "points")
    pts = pts[None].expand(n, -1, -1) if pts.ndim == 2 else pts
    V.check_ndim(pts, "points", 3, "(P, 3) or (N, P, 3)")
    V.check_last_dim(pts, "points", 3, "(P, 3) or (N, P, 3)")
    V.check_batch(pts, "points", n, "R_pred")
    if pts.shape[1] == 0:
        raise ValueError("points: empty point set")
    return _transform(pts, rp, tp, convention), _transform(pts, rg, tg, convention)


def _add_result(name: str, errs: list[float], threshold: float | None, fp: dict[str, Any]) -> MetricResult:
    extra = {}
    if threshold is not None:
        extra["accuracy"] = 100.0 * sum(e < threshold for e in errs) / len(errs)
    return from_items(name, errs, fp, unit=LENGTH, higher_is_better=False, extra=extra)


def add(points: Any, R_pred: Any, T_pred: Any, R_gt: Any, T_gt: Any, *, convention: str = "row",
        threshold: float | None = None) -> MetricResult:
    """ADD: mean distance between model points under the predicted and the true pose, per pose.

    Args:
        points: (P, 3) model points (or (N, P, 3)); R_*: (N, 3, 3); T_*: (N, 3).
        convention: "row" (PyTorch3D, ``X @ R + T``) or "column" (``R X + t``, BOP / OpenCV).
        threshold: if given, ``extra["accuracy"]`` is the percentage of poses with ADD < threshold
            (e.g. 10% of the model diameter).
    """
    xp, xg = _pose_args(points, R_pred, T_pred, R_gt, T_gt, convention)
    errs = [float(v) for v in (xp - xg).norm(dim=-1).mean(-1).cpu()]
    fp = make_fingerprint("add", "bench3d.metrics.add", convention=convention, threshold=threshold)
    return _add_result("ADD", errs, threshold, fp)


def add_s(points: Any, R_pred: Any, T_pred: Any, R_gt: Any, T_gt: Any, *, convention: str = "row",
          threshold: float | None = None, knn: str = "auto") -> MetricResult:
    """ADD-S: for symmetric objects, mean over true-pose points of the distance to the closest
    predicted-pose point (as BOP's ``adi``), per pose. Args as :func:`add`."""
    xp, xg = _pose_args(points, R_pred, T_pred, R_gt, T_gt, convention)
    errs = [float(nearest(g, p, knn)[0].sqrt().mean()) for p, g in zip(xp, xg, strict=True)]
    fp = make_fingerprint("add_s", "bench3d.metrics.add_s", convention=convention, threshold=threshold,
                          direction="gt points to nearest predicted point")
    return _add_result("ADD-S", errs, threshold, fp)


__all__ = ["add", "add_s", "camera_center_error", "rotation_angle_deg", "rotation_error_deg", "translation_error"]
