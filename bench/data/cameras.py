"""Camera conventions of the standard formats, converted to PyTorch3D's.

PyTorch3D: row vectors, ``X_cam = X_world @ R + T``; camera +X left, +Y up, +Z forward.
Loaders return ``R`` (N, 3, 3), ``T`` (N, 3), ``focal`` (N, 2) and ``principal_point``
(N, 2) in pixels with OpenCV's pixel axes (u right, v down), and ``image_size`` (H, W).
"""

from __future__ import annotations

import numpy as np

_GL_TO_P3D = np.diag([-1.0, 1.0, -1.0])  # OpenGL camera (x right, y up, z back) -> PyTorch3D
_CV_TO_P3D = np.diag([-1.0, -1.0, 1.0])  # OpenCV camera (x right, y down, z fwd) -> PyTorch3D


def _w2c_to_p3d(w2c: np.ndarray, flip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rot = flip @ w2c[..., :3, :3]
    t = (flip @ w2c[..., :3, 3:4])[..., 0]
    return np.swapaxes(rot, -1, -2), t


def opengl_c2w_to_p3d(c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenGL camera-to-world (..., 3|4, 4) (NeRF Blender, LLFF after reordering) -> R (..., 3, 3), T (..., 3)."""
    c2w = np.asarray(c2w, dtype=np.float64)[..., :3, :4]
    rot, t = c2w[..., :3, :3], c2w[..., :3, 3]
    w2c = np.zeros(c2w.shape[:-2] + (3, 4))
    w2c[..., :3, :3] = np.swapaxes(rot, -1, -2)
    w2c[..., :3, 3] = -np.einsum("...ji,...j->...i", rot, t)
    return _w2c_to_p3d(w2c, _GL_TO_P3D)


def opencv_w2c_to_p3d(w2c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV world-to-camera (..., 3|4, 4) (RealEstate10K, Pix3D, KITTI inverted) -> R, T."""
    return _w2c_to_p3d(np.asarray(w2c, dtype=np.float64)[..., :3, :4], _CV_TO_P3D)


def opencv_c2w_to_p3d(c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV camera-to-world (KITTI odometry poses) -> R, T."""
    c2w = np.asarray(c2w, dtype=np.float64)[..., :3, :4]
    full = np.zeros(c2w.shape[:-2] + (4, 4))
    full[..., :3, :4] = c2w
    full[..., 3, 3] = 1.0
    return opencv_w2c_to_p3d(np.linalg.inv(full))


def project(points: np.ndarray, R: np.ndarray, T: np.ndarray, focal: np.ndarray,
            principal_point: np.ndarray) -> np.ndarray:
    """Pixel coordinates (u right, v down) of world points (P, 3) seen by one PyTorch3D camera.

    Args:
        R: (3, 3), T: (3,), focal: (2,) fx, fy in pixels, principal_point: (2,) cx, cy in pixels.
    Returns:
        (P, 2) pixels; PyTorch3D's +X left / +Y up make both image axes run opposite to the camera's.
    """
    cam = np.asarray(points, dtype=np.float64) @ np.asarray(R) + np.asarray(T)
    u = principal_point[0] - focal[0] * cam[:, 0] / cam[:, 2]
    v = principal_point[1] - focal[1] * cam[:, 1] / cam[:, 2]
    return np.stack([u, v], axis=-1)


def ndc_intrinsics(focal: np.ndarray, principal_point: np.ndarray,
                   image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel intrinsics (..., 2) -> PyTorch3D NDC ``focal_length`` and ``principal_point`` (in_ndc=True)."""
    h, w = image_size
    scale = min(h, w) / 2.0
    half = np.array([w / 2.0, h / 2.0])
    return np.asarray(focal) / scale, -(np.asarray(principal_point) - half) / scale


def fov_from_focal(focal_px: float, size_px: int) -> float:
    """Full field of view in degrees along an image side of ``size_px`` pixels."""
    return float(np.degrees(2.0 * np.arctan(0.5 * size_px / focal_px)))
