"""NeRF Blender synthetic scenes: ``transforms_{train,val,test}.json`` + RGBA PNG frames.

Each frame's ``transform_matrix`` is an OpenGL camera-to-world matrix (x right, y up,
camera looking down -z); the focal length in pixels is ``0.5 W / tan(0.5 camera_angle_x)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.cameras import opengl_c2w_to_p3d
from bench.data.files import check_images, json_or_problem, read_image, read_json
from bench.data.report import CheckReport, Problems
from bench.data.safe_io import ListOf, Matrix, Number, Obj, String, items_problems, problem

FRAME = Obj({"file_path": String(), "transform_matrix": Matrix(4, 4)})
# camera_angle_x is the horizontal field of view in radians: strictly between 0 and pi
ANGLE = Number(0.0, float(np.pi), open_lo=True, open_hi=True)
TRANSFORMS = Obj({"camera_angle_x": ANGLE, "frames": ListOf(FRAME, min_length=1)})

SPLITS = ("train", "val", "test")
BACKGROUNDS = {"white": 1.0, "black": 0.0}


def frame_path(root: Path, file_path: str) -> Path:
    """The PNG of a frame: ``file_path`` is relative to the scene folder, usually without extension."""
    p = (Path(root) / file_path).resolve()
    return p if p.suffix.lower() == ".png" else p.with_name(p.name + ".png")


def load(root: Path, split: str = "train", background: str = "white") -> dict[str, Any]:
    """One split as tensors.

    Returns:
        images (N, H, W, 3) RGB composited on ``background`` ("white" or "black"), alpha (N, H, W),
        R (N, 3, 3), T (N, 3) (PyTorch3D), focal (N, 2) and principal_point (N, 2) in pixels,
        c2w (N, 4, 4) as stored, image_size (H, W), fov_x in degrees, names.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {tuple(BACKGROUNDS)}, got {background!r}")
    root = Path(root)
    doc = read_json(root / f"transforms_{split}.json", TRANSFORMS)
    rgba = np.stack([read_image(frame_path(root, f["file_path"]), "RGBA") for f in doc["frames"]])
    alpha = rgba[..., 3]
    rgb = rgba[..., :3] * alpha[..., None] + BACKGROUNDS[background] * (1.0 - alpha[..., None])
    c2w = np.array([f["transform_matrix"] for f in doc["frames"]], dtype=np.float64)
    R, T = opengl_c2w_to_p3d(c2w)
    n, h, w = alpha.shape
    focal = 0.5 * w / np.tan(0.5 * float(doc["camera_angle_x"]))
    return {"images": torch.from_numpy(rgb.astype(np.float32)), "alpha": torch.from_numpy(alpha),
            "R": torch.tensor(R, dtype=torch.float32), "T": torch.tensor(T, dtype=torch.float32),
            "focal": torch.full((n, 2), focal, dtype=torch.float32),
            "principal_point": torch.tensor([[w / 2.0, h / 2.0]] * n, dtype=torch.float32),
            "c2w": torch.tensor(c2w, dtype=torch.float32), "image_size": (h, w),
            "fov_x": float(np.degrees(doc["camera_angle_x"])),
            "names": [Path(f["file_path"]).name for f in doc["frames"]]}


def check(root: Path) -> CheckReport:
    """Each transforms file parses, has camera_angle_x and 4x4 matrices; every frame is an RGBA PNG of one size."""
    root = Path(root)
    problems = Problems(root)
    found: dict[str, Any] = {}
    paths = []
    for split in SPLITS:
        jf = root / f"transforms_{split}.json"
        doc = json_or_problem(jf, problems)
        if doc is None:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list):
            problems.add(jf, "frames: expected a list of frames")
            continue
        msg = problem(doc.get("camera_angle_x"), ANGLE, "camera_angle_x")
        if msg:
            problems.add(jf, msg if "camera_angle_x" in doc else "camera_angle_x: is missing")
        for i in items_problems(doc["frames"], FRAME, "frames", lambda m, jf=jf: problems.add(jf, m)):
            paths.append(frame_path(root, doc["frames"][i]["file_path"]))
        found[f"{split}_frames"] = len(doc["frames"])
    found["image_sizes"] = check_images(paths, problems)
    return problems.report("nerf-synthetic", found)
