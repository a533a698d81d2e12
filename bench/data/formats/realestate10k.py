"""RealEstate10K: ``cameras/<split>/<seq>.txt`` trajectories + extracted ``frames/<split>/<seq>/<timestamp>.*``.

A camera file starts with the video URL; then one line per frame: timestamp (microseconds),
fx fy cx cy (normalised by image width/height), two zeros, and a 3x4 row-major world-to-camera
matrix in OpenCV's camera convention (x right, y down, z forward).
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

FRAME_EXTS = (".png", ".jpg", ".jpeg")


def read_camera_file(path: Path) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(url, timestamps (N,) int64, intrinsics (N, 4) normalised fx fy cx cy, w2c (N, 3, 4))."""
    numbered = [(k, ln) for k, ln in enumerate(read_text(path, "camera file").splitlines(), start=1) if ln.strip()]
    if not numbered:
        raise DataError(f"{path}: empty camera file")
    rows = []
    for k, ln in numbered[1:]:
        parts = ln.split()
        if len(parts) != 19:
            raise DataError(f"{path}: line {k} has {len(parts)} values, expected 19 "
                            "(timestamp, fx fy cx cy, 0 0, 3x4 pose)")
        vals = parse_floats(parts, path, f"line {k}")  # NaN/inf poses or intrinsics refused
        if not vals[0].is_integer() or vals[0] < 0:
            raise DataError(f"{path}: line {k} timestamp {parts[0]!r} is not a non-negative integer")
        rows.append(vals)
    arr = np.array(rows, dtype=np.float64).reshape(-1, 19)
    return numbered[0][1].strip(), arr[:, 0].astype(np.int64), arr[:, 1:5], arr[:, 7:19].reshape(-1, 3, 4)


def frame_file(folder: Path, timestamp: int) -> Path | None:
    for ext in FRAME_EXTS:
        p = folder / f"{timestamp}{ext}"
        if p.is_file():
            return p
    return None


@dataclass
class RealEstate10K(Sequence):
    """Lazy list of sequences with frames: ``ds[i]`` -> dict(name, url, timestamps, images (N, H, W, 3), R, T,
    focal (N, 2), principal_point (N, 2) in pixels, image_size (H, W))."""

    root: Path
    split: str = "test"

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        folder = self.root / "cameras" / self.split
        if not folder.is_dir():
            raise DataError(f"{folder}: split folder is missing")
        self.files = sorted(folder.glob("*.txt"))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, Any]:  # type: ignore[override]
        path = self.files[i]
        url, ts, intr, w2c = read_camera_file(path)
        fdir = self.root / "frames" / self.split / path.stem
        files = [frame_file(fdir, int(t)) for t in ts]
        if any(f is None for f in files):
            raise DataError(f"{fdir}: frame {ts[files.index(None)]} is missing")
        imgs = np.stack([read_image(f) for f in files])  # type: ignore[arg-type]
        h, w = imgs.shape[1:3]
        R, T = opencv_w2c_to_p3d(w2c)
        t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
        return {"name": path.stem, "url": url, "timestamps": torch.from_numpy(ts), "images": torch.from_numpy(imgs),
                "R": t(R), "T": t(T), "focal": t(intr[:, :2] * [w, h]), "principal_point": t(intr[:, 2:] * [w, h]),
                "image_size": (h, w)}


def load(root: Path, split: str = "test") -> RealEstate10K:
    return RealEstate10K(root, split)


def check(root: Path) -> CheckReport:
    """Camera files parse (19 values per frame); each timestamp has a frame; frames of a sequence share a size."""
    root = Path(root)
    problems = Problems(root)
    if not (root / "cameras").is_dir():
        problems.add(root / "cameras", "folder is missing")
        return problems.report("realestate10k")
    found: dict[str, Any] = {}
    for split_dir in sorted(p for p in (root / "cameras").iterdir() if p.is_dir()):
        seqs = frames = 0
        for path in sorted(split_dir.glob("*.txt")):
            seqs += 1
            try:
                _, ts, _, w2c = read_camera_file(path)
            except DataError as exc:
                problems.add(path, str(exc).split(": ", 1)[-1])
                continue
            if np.any(np.abs(np.linalg.det(w2c[:, :, :3]) - 1.0) > 1e-3):
                problems.add(path, "a pose's 3x3 part is not a rotation")
            fdir = root / "frames" / split_dir.name / path.stem
            paths = []
            for t in ts:
                f = frame_file(fdir, int(t))
                if f is None:
                    problems.add(fdir / f"{t}.png", "frame is missing")
                else:
                    paths.append(f)
            frames += len(paths)
            check_images(paths, problems)
        found[split_dir.name] = {"sequences": seqs, "frames": frames}
    return problems.report("realestate10k", found)

