"""SMPLify fitting targets from the built-in procedural body: detector-like 2D keypoints with ground truth.

Each sample draws a shape (betas ~ N(0, 1)), a body pose in the natural joint ranges and a yaw, places
the body upright in a camera at the origin looking down +z (image y down, OpenCV's pinhole; SMPLify's
camera) so that it is ``body_height_px`` tall, and projects the 14 LSP keypoints (SMPLify's map: 12 limb
joints, the neck joint, the head-top vertex). Detector-like corruption: Gaussian noise of ``noise_px``
with a confidence that falls with the error (a heatmap peak), and each joint occluded with probability
``occlusion`` (confidence 0, moved by up to 10% of the body height). Ground truth: 3D keypoints, the 24
joints, the vertices and the parameters, in the camera frame.

``facing``: ``front`` (yaw within +-``yaw_range_deg`` of facing the camera), ``side`` (turned 90 degrees
+- ``yaw_range_deg`` to either side, shoulders close in the image: SMPLify's ambiguous case) or ``away``
(facing away, +- ``yaw_range_deg``).

``legs``: ``natural`` (every joint in its natural range) or ``crossed``: the hips turned past their natural
adduction so that the legs cross in the image (left hip z in [-0.35, -0.25] rad, right hip z in [0.25, 0.35]),
the left leg forward (hip x in [-0.6, -0.4]) and the right back (x in [0.15, 0.3]) so that the true legs pass
each other without touching; a fit that crosses them by adduction alone makes them interpenetrate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.files import read_json
from bench.data.formats.keypoints import LSP_JOINTS
from bench.data.report import Problems
from bench.data.safe_io import load_npy

FACINGS = ("front", "side", "away")
LEGS = ("natural", "crossed")
# body_pose indices (joint - 1) * 3 + axis of the left (joint 1) and right (joint 2) hips, and their ranges
_CROSSED = {2: (-0.5, -0.4), 5: (0.4, 0.5), 0: (-0.6, -0.4), 3: (0.15, 0.3)}
ARRAYS = {"keypoints2d": 2, "confidence": 1, "visible": 1, "keypoints3d": 3, "joints3d": 3, "vertices": 3,
          "betas": 10, "global_orient": 3, "body_pose": 69, "transl": 3}


def upright_orient(yaw: np.ndarray) -> np.ndarray:
    """(N, 3) axis-angle of a body turned by ``yaw`` (radians, 0 = facing the camera) in a y-down camera."""
    from scipy.spatial.transform import Rotation

    flip = Rotation.from_rotvec([np.pi, 0.0, 0.0])  # SMPL's y-up, +z-facing body -> image y down, facing -z
    return (flip * Rotation.from_rotvec(np.stack([0 * yaw, yaw, 0 * yaw], 1))).as_rotvec()


def project(points: np.ndarray, focal: float, centre: np.ndarray) -> np.ndarray:
    """Pinhole projection (..., 3) camera-frame points -> (..., 2) pixels (camera at the origin, looking +z)."""
    return focal * points[..., :2] / points[..., 2:3] + centre


def _yaws(rng: np.random.Generator, n: int, facing: str, yaw_range: float) -> np.ndarray:
    if facing not in FACINGS:
        raise ValueError(f"facing: expected one of {', '.join(FACINGS)}, got {facing!r}")
    jitter = rng.uniform(-yaw_range, yaw_range, n)
    if facing == "front":
        return jitter
    if facing == "away":
        return np.pi + jitter
    return rng.choice([-1.0, 1.0], n) * np.pi / 2 + jitter


def generate_body_fits(out: Path, seed: int, count: int, image_size: int, focal: float, body_height_px: float,
                       noise_px: float, occlusion: float, facing: str, yaw_range_deg: float,
                       legs: str = "natural") -> None:
    """``count`` fitting targets of the built-in body (see the module docstring)."""
    from bench.methods.procedural_body import builtin_body, sample_body_poses

    rng = np.random.default_rng(seed)
    model = builtin_body(dtype=torch.float64)
    betas = rng.normal(size=(count, 10))
    pose = sample_body_poses(rng, count)
    if legs not in LEGS:
        raise ValueError(f"legs: expected one of {', '.join(LEGS)}, got {legs!r}")
    if legs == "crossed":  # drawn after the natural poses: the natural targets' random stream is unchanged
        for i, (lo, hi) in _CROSSED.items():
            pose[:, i] = rng.uniform(lo, hi, count)
    orient = upright_orient(_yaws(rng, count, facing, np.radians(yaw_range_deg)))
    with torch.no_grad():
        body = model(betas=torch.from_numpy(betas), global_orient=torch.from_numpy(orient),
                     body_pose=torch.from_numpy(pose))
    verts, joints = body.vertices.numpy(), body.joints.numpy()
    kp3 = model.keypoints(body).numpy()
    height = verts[:, :, 1].max(1) - verts[:, :, 1].min(1)
    depth = focal * height / body_height_px
    centre = np.full(2, image_size / 2.0)
    mid = (verts.max(1) + verts.min(1)) / 2  # centre the body's box on the principal point
    transl = np.stack([-mid[:, 0], -mid[:, 1], depth - mid[:, 2]], 1)
    verts, joints, kp3 = verts + transl[:, None], joints + transl[:, None], kp3 + transl[:, None]
    uv = project(kp3, focal, centre)
    err = rng.normal(size=uv.shape) * noise_px
    dist = np.linalg.norm(err, axis=-1)
    conf = rng.uniform(0.8, 1.0, dist.shape) * np.exp(-0.5 * (dist / max(2.0 * noise_px, 1e-9)) ** 2)
    hidden = rng.uniform(size=dist.shape) < occlusion
    err[hidden] = rng.uniform(-0.1, 0.1, (int(hidden.sum()), 2)) * body_height_px
    conf[hidden] = 0.0
    arrays = {"keypoints2d": uv + err, "confidence": conf, "visible": (~hidden).astype(np.uint8),
              "keypoints3d": kp3, "joints3d": joints, "vertices": verts, "betas": betas, "global_orient": orient,
              "body_pose": pose, "transl": transl}
    for k, a in arrays.items():
        np.save(out / f"{k}.npy", a.astype(np.uint8 if k == "visible" else np.float32))
    meta = {"image_size": [image_size, image_size], "focal": focal, "principal_point": centre.tolist(),
            "keypoints": list(LSP_JOINTS), "facing": facing, "legs": legs,
            "camera": "pinhole at the origin looking +z, image y down (u = f x / z + cx)",
            "body": "bench3d built-in procedural body"}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


def load_body_fits(root: Path) -> dict[str, Any]:
    """Tensors keypoints2d (N, 14, 2), confidence (N, 14), visible (N, 14) bool, keypoints3d (N, 14, 3),
    joints3d (N, 24, 3), vertices (N, V, 3), betas, global_orient, body_pose, transl; plus ``meta``."""
    root = Path(root)
    out: dict[str, Any] = {"meta": read_json(root / "meta.json")}
    for k in ARRAYS:
        out[k] = torch.from_numpy(load_npy(root / f"{k}.npy", k).astype(np.float32))
    out["visible"] = out["visible"] > 0
    return out


def check_body_fits(root: Path):
    """Arrays agree in sample count and trailing sizes; confidences in [0, 1]."""
    problems = Problems(root)
    try:
        data = load_body_fits(root)
    except Exception as exc:  # any unreadable file is reported by name
        problems.add(root, f"cannot load ({exc})")
        return problems.report("body-fits")
    n = len(data["keypoints2d"])
    for k, last in ARRAYS.items():
        a = data[k]
        if a.shape[0] != n or (last > 1 and a.shape[-1] != last):
            problems.add(root / f"{k}.npy", f"shape {tuple(a.shape)}, expected ({n}, ..., {last})")
    c = data["confidence"]
    if bool(((c < 0) | (c > 1)).any()):
        problems.add(root / "confidence.npy", "values outside [0, 1]")
    return problems.report("body-fits", {"samples": n, "vertices": int(data["vertices"].shape[1]),
                                         "facing": data["meta"].get("facing")})
