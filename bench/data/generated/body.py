"""2D keypoints with known 3D joints and cameras from an articulated stick-figure body.

A 16-joint tree with fixed bone offsets; each sample draws a root yaw and bounded joint
rotations, poses the tree by forward kinematics and projects the joints with a pinhole
camera in PyTorch3D's convention. The fitting targets of the SMPLify suite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from bench.data.cameras import project
from bench.data.files import read_json
from bench.data.report import Problems
from bench.data.safe_io import load_npy

# name, parent, rest offset from the parent (metres, y up, body facing +z), max rotation (rad) per axis
SKELETON: tuple[tuple[str, int, tuple[float, float, float], float], ...] = (
    ("pelvis", -1, (0.0, 1.0, 0.0), 0.0),
    ("spine", 0, (0.0, 0.25, 0.0), 0.3),
    ("neck", 1, (0.0, 0.3, 0.0), 0.3),
    ("head", 2, (0.0, 0.2, 0.0), 0.4),
    ("l_shoulder", 2, (0.18, -0.02, 0.0), 0.2),
    ("l_elbow", 4, (0.28, 0.0, 0.0), 1.2),
    ("l_wrist", 5, (0.25, 0.0, 0.0), 1.2),
    ("r_shoulder", 2, (-0.18, -0.02, 0.0), 0.2),
    ("r_elbow", 7, (-0.28, 0.0, 0.0), 1.2),
    ("r_wrist", 8, (-0.25, 0.0, 0.0), 1.2),
    ("l_hip", 0, (0.1, -0.05, 0.0), 0.3),
    ("l_knee", 10, (0.0, -0.42, 0.0), 0.8),
    ("l_ankle", 11, (0.0, -0.4, 0.0), 0.8),
    ("r_hip", 0, (-0.1, -0.05, 0.0), 0.3),
    ("r_knee", 13, (0.0, -0.42, 0.0), 0.8),
    ("r_ankle", 14, (0.0, -0.4, 0.0), 0.8),
)
NAMES = tuple(j[0] for j in SKELETON)
PARENTS = np.array([j[1] for j in SKELETON])
OFFSETS = np.array([j[2] for j in SKELETON])
LIMITS = np.array([j[3] for j in SKELETON])


def forward_kinematics(rotvecs: np.ndarray, root_translation: np.ndarray | None = None) -> np.ndarray:
    """World joint positions (J, 3) from per-joint local axis-angle rotations (J, 3).

    Joint j sits at its parent's position plus the parent's global rotation applied to its rest
    offset; the root's own rotation orients the whole body about the root.
    """
    local = Rotation.from_rotvec(rotvecs).as_matrix()
    glob = np.zeros_like(local)
    pos = np.zeros((len(SKELETON), 3))
    for j, parent in enumerate(PARENTS):
        if parent < 0:
            glob[j] = local[j]
            pos[j] = OFFSETS[j] if root_translation is None else root_translation
        else:
            glob[j] = glob[parent] @ local[j]
            pos[j] = pos[parent] + glob[parent] @ OFFSETS[j]
    return pos


def look_at(eye: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch3D R (3, 3), T (3,) of a camera at ``eye`` looking at ``target`` with +y up."""
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=1)  # columns are the camera axes in world: X_cam = X_world @ R + T
    return R, -eye @ R


def generate_body(out: Path, seed: int, count: int, image_size: int, focal: float, noise_px: float) -> None:
    """``count`` posed bodies, their 3D joints, one camera each and the projected 2D keypoints."""
    rng = np.random.default_rng(seed)
    joints, kps, poses, cams = [], [], [], []
    for _ in range(count):
        rot = rng.uniform(-1.0, 1.0, (len(SKELETON), 3)) * LIMITS[:, None]
        rot[0] = [0.0, rng.uniform(-np.pi, np.pi), 0.0]  # root: any yaw
        j3d = forward_kinematics(rot)
        azim, elev = rng.uniform(-np.pi, np.pi), rng.uniform(-0.2, 0.4)
        dist = rng.uniform(3.0, 4.0)
        target = np.array([0.0, 0.9, 0.0])
        eye = target + dist * np.array([np.cos(elev) * np.sin(azim), np.sin(elev), np.cos(elev) * np.cos(azim)])
        R, T = look_at(eye, target)
        pp = np.array([image_size / 2.0, image_size / 2.0])
        uv = project(j3d, R, T, np.array([focal, focal]), pp) + rng.normal(0.0, noise_px, (len(SKELETON), 2))
        joints.append(j3d), kps.append(uv), poses.append(rot)
        cams.append({"R": R.tolist(), "T": T.tolist(), "focal": [focal, focal], "principal_point": pp.tolist()})
    np.save(out / "joints3d.npy", np.asarray(joints, dtype=np.float32))
    np.save(out / "keypoints2d.npy", np.asarray(kps, dtype=np.float32))
    np.save(out / "poses.npy", np.asarray(poses, dtype=np.float32))
    (out / "cameras.json").write_text(json.dumps({"image_size": [image_size, image_size], "cameras": cams},
                                                 indent=1) + "\n")
    skel = {"names": list(NAMES), "parents": PARENTS.tolist(), "offsets": OFFSETS.tolist(), "limits": LIMITS.tolist()}
    (out / "skeleton.json").write_text(json.dumps(skel, indent=1) + "\n")


def load_body(root: Path) -> dict[str, Any]:
    """Tensors: joints3d (N, J, 3), keypoints2d (N, J, 2), poses (N, J, 3) axis-angle, R (N, 3, 3), T (N, 3),
    focal (N, 2), principal_point (N, 2) in pixels; plus ``names``, ``parents`` and ``image_size`` (H, W)."""
    root = Path(root)
    cams = read_json(root / "cameras.json")
    skel = read_json(root / "skeleton.json")
    c = cams["cameras"]

    def stack(key: str) -> torch.Tensor:
        return torch.tensor(np.array([x[key] for x in c]), dtype=torch.float32)

    return {"joints3d": torch.from_numpy(load_npy(root / "joints3d.npy")),
            "keypoints2d": torch.from_numpy(load_npy(root / "keypoints2d.npy")),
            "poses": torch.from_numpy(load_npy(root / "poses.npy")),
            "R": stack("R"), "T": stack("T"), "focal": stack("focal"), "principal_point": stack("principal_point"),
            "names": skel["names"], "parents": skel["parents"], "image_size": tuple(cams["image_size"])}


def check_body(root: Path):
    """Arrays agree in sample and joint counts with the skeleton and the cameras."""
    problems = Problems(root)
    try:
        data = load_body(root)
    except Exception as exc:  # any unreadable file is reported by name
        problems.add(root, f"cannot load ({exc})")
        return problems.report("body-keypoints")
    n, j = len(data["R"]), len(data["names"])
    for key, shape in (("joints3d", (n, j, 3)), ("keypoints2d", (n, j, 2)), ("poses", (n, j, 3))):
        if tuple(data[key].shape) != shape:
            problems.add(root / f"{key}.npy", f"shape {tuple(data[key].shape)}, expected {shape}")
    return problems.report("body-keypoints", {"samples": n, "joints": j, "image_size": list(data["image_size"])})
