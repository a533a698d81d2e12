"""LLFF forward-facing scenes: ``poses_bounds.npy`` (N, 17) + ``images[_<factor>]/``.

Each row is a 3x5 matrix [R | t | (H, W, focal)] flattened row-major, then near and far
depth bounds. The rotation's columns are the camera's [down, right, back] axes; reordering
them to [right, up, back] gives an OpenGL camera-to-world. Every 8th image is held out for test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.cameras import opengl_c2w_to_p3d
from bench.data.files import check_images, read_image
from bench.data.report import CheckReport, Problems
from bench.data.safe_io import load_npy
from bench.errors import DataError

IMAGE_EXTS = (".png", ".jpg", ".jpeg")
HOLDOUT = 8


def image_folder(root: Path, factor: int) -> Path:
    return Path(root) / ("images" if factor == 1 else f"images_{factor}")


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS) if folder.is_dir() else []


def read_poses_bounds(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c2w (N, 3, 4) OpenGL [right, up, back], hwf (N, 3), bounds (N, 2)); DataError naming the file otherwise."""
    # no pickles; complex, unicode, object or structured dtypes refused; NaN/inf refused
    arr = load_npy(path, "poses_bounds", kinds="iuf", shape=(None, 17)).astype(np.float64)
    if len(arr) == 0:
        raise DataError(f"{path}: poses_bounds has no rows; expected (N, 17) with N >= 1")
    if np.any(arr[:, [4, 9, 14]] <= 0):
        raise DataError(f"{path}: poses_bounds H, W and focal (columns 4, 9, 14) must be positive")
    mats = arr[:, :15].reshape(-1, 3, 5).astype(np.float64)
    down, right, back, t = mats[:, :, 0], mats[:, :, 1], mats[:, :, 2], mats[:, :, 3]
    c2w = np.stack([right, -down, back, t], axis=2)
    return c2w, mats[:, :, 4], arr[:, 15:17].astype(np.float64)


def split_indices(n: int, holdout: int = HOLDOUT) -> dict[str, list[int]]:
    """NeRF's LLFF protocol: images 0, 8, 16, ... are test, the rest train."""
    test = list(range(0, n, holdout))
    return {"train": [i for i in range(n) if i % holdout], "test": test}


def load(root: Path, factor: int = 1, split: str | None = None) -> dict[str, Any]:
    """All images (or one split) with cameras.

    Returns:
        images (N, H, W, 3), R (N, 3, 3), T (N, 3), focal (N, 2) and principal_point (N, 2) in pixels of
        the loaded resolution, bounds (N, 2), c2w (N, 3, 4) OpenGL, image_size (H, W), splits, names.
    """
    root = Path(root)
    c2w, hwf, bounds = read_poses_bounds(root / "poses_bounds.npy")
    files = image_files(image_folder(root, factor))
    if len(files) != len(c2w):
        raise DataError(f"{image_folder(root, factor)}: {len(files)} images for {len(c2w)} poses in poses_bounds.npy")
    splits = split_indices(len(files))
    idx = list(range(len(files))) if split is None else splits[split]
    imgs = np.stack([read_image(files[i]) for i in idx])
    h, w = imgs.shape[1:3]
    focal = hwf[idx, 2] * (w / hwf[idx, 1])  # stored for full resolution
    R, T = opengl_c2w_to_p3d(c2w[idx])
    return {"images": torch.from_numpy(imgs), "R": torch.tensor(R, dtype=torch.float32),
            "T": torch.tensor(T, dtype=torch.float32),
            "focal": torch.tensor(np.stack([focal, focal], 1), dtype=torch.float32),
            "principal_point": torch.tensor([[w / 2.0, h / 2.0]] * len(idx), dtype=torch.float32),
            "bounds": torch.tensor(bounds[idx], dtype=torch.float32),
            "c2w": torch.tensor(c2w[idx], dtype=torch.float32), "image_size": (h, w),
            "splits": splits, "names": [files[i].name for i in idx]}


def check(root: Path) -> CheckReport:
    """poses_bounds.npy is (N, 17); each image folder holds N images of one size matching H/W/factor."""
    root = Path(root)
    problems = Problems(root)
    try:
        c2w, hwf, bounds = read_poses_bounds(root / "poses_bounds.npy")
    except DataError as exc:
        problems.add(root / "poses_bounds.npy", str(exc).split(": ", 1)[-1])
        return problems.report("llff")
    n = len(c2w)
    found: dict[str, Any] = {"poses": n, "splits": {k: len(v) for k, v in split_indices(n).items()}}
    if np.any(bounds[:, 0] >= bounds[:, 1]) or np.any(bounds <= 0):
        problems.add(root / "poses_bounds.npy", "near/far bounds must satisfy 0 < near < far")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and (p.name == "images" or p.name.startswith("images_")))
    if not folders:
        problems.add(root / "images", "image folder is missing")
    for folder in folders:
        files = image_files(folder)
        if len(files) != n:
            problems.add(folder, f"{len(files)} images for {n} poses (missing or extra frames)")
        sizes = check_images(files, problems)
        found[f"{folder.name}_sizes"] = sizes
        if files and len(sizes) == 1:
            h, w = (int(x) for x in next(iter(sizes)).split("x"))
            if not np.isclose(w / h, hwf[0, 1] / hwf[0, 0], rtol=0.02):
                problems.add(folder, f"image size {h}x{w} does not match the poses' H, W "
                             f"({hwf[0, 0]:g}x{hwf[0, 1]:g}) aspect")
    return problems.report("llff", found)
