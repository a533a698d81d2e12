"""KITTI odometry as SynSin uses it: ``sequences/<seq>/image_2/*.png`` (left colour camera),
``sequences/<seq>/calib.txt`` (P0..P3 3x4 projections) and ``poses/<seq>.txt`` (one 3x4 row-major
camera-0-to-world matrix per frame, OpenCV axes: x right, y down, z forward).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.cameras import opencv_w2c_to_p3d
from bench.data.files import check_images, read_image
from bench.data.report import CheckReport, Problems
from bench.data.safe_io import parse_floats, read_text
from bench.errors import DataError


def read_calib(path: Path) -> dict[str, np.ndarray]:
    """``{"P0": (3, 4), ...}`` from a calib.txt; DataError naming the file for a malformed line."""
    out = {}
    for k, line in enumerate(read_text(path, "calibration file").splitlines(), start=1):
        if not line.strip():
            continue
        key, _, vals = line.partition(":")
        nums = np.array(parse_floats(vals.split(), path, f"line {k} ({key.strip()[:20]})"))
        if nums.size != 12:
            raise DataError(f"{path}: {key.strip()} has {nums.size} values, expected 12 (3x4)")
        out[key.strip()] = nums.reshape(3, 4)
    if "P2" not in out:
        raise DataError(f"{path}: no P2 (left colour camera) projection")
    if abs(np.linalg.det(out["P2"][:, :3])) < 1e-12:
        raise DataError(f"{path}: P2's 3x3 part (K) is singular; expected a camera projection")
    return out


def read_poses(path: Path) -> np.ndarray:
    """(N, 3, 4) camera-0-to-world matrices."""
    rows = []
    for k, line in enumerate(read_text(path, "poses file").splitlines(), start=1):
        if line.strip():
            vals = parse_floats(line.split(), path, f"line {k}")
            if len(vals) != 12:
                raise DataError(f"{path}: line {k} has {len(vals)} values, expected 12 (3x4)")
            rows.append(vals)
    return np.array(rows, dtype=np.float64).reshape(-1, 3, 4)


def camera2_w2c(c2w0: np.ndarray, P2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera-2 (N, 3, 4) and K (3, 3): ``P2 = K [I | b]`` offsets camera 2 from camera 0 by ``b``."""
    K = P2[:, :3]
    b = np.linalg.solve(K, P2[:, 3])
    full = np.tile(np.eye(4), (len(c2w0), 1, 1))
    full[:, :3, :4] = c2w0
    w2c0 = np.linalg.inv(full)[:, :3, :4]
    w2c2 = w2c0.copy()
    w2c2[:, :, 3] += b
    return w2c2, K


@dataclass
class KITTIOdometry(Sequence):
    """Lazy list of frames of one sequence: ``ds[i]`` -> dict(image (H, W, 3), R, T (PyTorch3D), focal,
    principal_point (pixels), index)."""

    root: Path
    sequence: str = "00"

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        seq = self.root / "sequences" / self.sequence
        calib = read_calib(seq / "calib.txt")
        self.w2c, self.K = camera2_w2c(read_poses(self.root / "poses" / f"{self.sequence}.txt"), calib["P2"])
        self.files = sorted((seq / "image_2").glob("*.png"))
        if len(self.files) != len(self.w2c):
            raise DataError(f"{seq / 'image_2'}: {len(self.files)} images for {len(self.w2c)} poses")
        self.R, self.T = opencv_w2c_to_p3d(self.w2c)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, Any]:  # type: ignore[override]
        t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
        return {"image": torch.from_numpy(read_image(self.files[i])), "R": t(self.R[i]), "T": t(self.T[i]),
                "focal": t([self.K[0, 0], self.K[1, 1]]), "principal_point": t([self.K[0, 2], self.K[1, 2]]),
                "index": i}


def load(root: Path, sequence: str = "00") -> KITTIOdometry:
    return KITTIOdometry(root, sequence)


def check_synsin_layout(root: Path, problems: Problems) -> dict[str, Any]:
    """SynSin's KITTI (continuous_view_synthesis' ``dataset_kitti``): ``images/<seq>_<frame>.png`` of one size;
    ``poses.txt`` (``<id>`` + 6 numbers a line) and ``id_train.txt`` when present (read by suites/synsin)."""
    files = sorted((root / "images").glob("*.png"))
    if not files:
        problems.add(root / "images", "no .png images")
    poses = root / "poses.txt"
    if poses.is_file():
        for k, line in enumerate(read_text(poses, "poses file").splitlines(), start=1):
            parts = line.split()
            if parts and (len(parts) != 7 or not all(_number(t) for t in parts[1:])):
                problems.add(poses, f"line {k} is not '<id> rx ry rz tx ty tz'")
                break
    return {"layout": "synsin (dataset_kitti)", "images": len(files), "image_sizes": check_images(files, problems)}


def _number(token: str) -> bool:
    try:
        return np.isfinite(float(token))
    except ValueError:
        return False


def check(root: Path) -> CheckReport:
    """Each sequence has calib.txt with P2, a poses file with one 3x4 per image, and images of one size; or, with
    no ``sequences/`` but an ``images/`` folder, SynSin's own layout (:func:`check_synsin_layout`)."""
    root = Path(root)
    problems = Problems(root)
    if not (root / "sequences").is_dir() and (root / "images").is_dir():
        return problems.report("kitti-synsin", check_synsin_layout(root, problems))
    seqs = sorted(p for p in (root / "sequences").glob("*") if p.is_dir())
    if not seqs:
        problems.add(root / "sequences", "no sequence folders")
    found: dict[str, Any] = {}
    for seq in seqs:
        files = sorted((seq / "image_2").glob("*.png"))
        try:
            read_calib(seq / "calib.txt")
        except DataError as exc:
            problems.add(seq / "calib.txt", str(exc).split(": ", 1)[-1])
        pose_file = root / "poses" / f"{seq.name}.txt"
        try:
            n = len(read_poses(pose_file))
            if n != len(files):
                problems.add(seq / "image_2", f"{len(files)} images for {n} poses (missing frames)")
        except DataError as exc:
            problems.add(pose_file, str(exc).split(": ", 1)[-1])
        found[seq.name] = {"frames": len(files), "image_sizes": check_images(files, problems)}
    return problems.report("kitti-synsin", {"sequences": found})
