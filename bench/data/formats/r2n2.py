"""3D-R2N2: ShapeNet renderings (24 RGBA views per model, ``rendering_metadata.txt``) and 32^3 binvox voxels.

Each metadata line is ``azimuth elevation in-plane-rotation distance-ratio fov`` (degrees); the
camera sits ``ratio * 1.75`` from the origin (R2N2's maximum camera distance) looking at it. The cameras
follow Mesh R-CNN (``shapenet/utils/coords.py``: ``compute_extrinsic_matrix``, which folds in Blender's
90-degree x rotation on OBJ import) as PyTorch3D's ``pytorch3d/datasets/r2n2/r2n2.py`` converts them to its
frame (``_compute_camera_calibration``): in ShapeNet v1's mesh frame the camera centre is
``d (cos el cos az, sin el, cos el sin az)``, +y up, aiming at the origin; the in-plane column is unused, as
there. The projection is Blender's (Mesh R-CNN's intrinsic: focal 2.1875 in NDC, a 35 mm lens on a 32 mm
sensor), i.e. a ``FoVPerspectiveCameras`` field of view of 2 atan(1 / 2.1875) = 49.13 degrees; the
metadata's fov column (25) is not that angle and is kept only in ``metadata``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.files import check_images, read_image
from bench.data.formats.binvox import read_binvox
from bench.data.report import CheckReport, Problems
from bench.data.safe_io import parse_floats, read_text
from bench.errors import DataError

VIEWS = 24
MAX_CAMERA_DISTANCE = 1.75
RENDER = "ShapeNetRendering"
VOX = "ShapeNetVox32"
BLENDER_FOCAL = 2.1875  # Mesh R-CNN shapenet/utils/coords.py (and PyTorch3D's BLENDER_INTRINSIC)
FOV_DEG = float(np.degrees(2.0 * np.arctan(1.0 / BLENDER_FOCAL)))


def read_metadata(path: Path) -> np.ndarray:
    """(V, 5) rows of azimuth, elevation, in-plane rotation, distance ratio, fov; DataError naming the file."""
    rows = []
    for k, line in enumerate(read_text(path, "metadata file").splitlines(), start=1):
        if line.strip():
            vals = parse_floats(line.split(), path, f"line {k}")
            if len(vals) != 5:
                raise DataError(f"{path}: line {k} has {len(vals)} values; expected 5 (azimuth elevation "
                                "in-plane distance-ratio fov)")
            rows.append(vals)
    return np.array(rows, dtype=np.float64) if rows else np.zeros((0, 5))


def look_at_p3d(dist: np.ndarray, elev_deg: np.ndarray, azim_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch3D ``look_at_view_transform`` geometry in numpy: R (N, 3, 3), T (N, 3) aiming at the origin, +y up."""
    el, az = np.radians(elev_deg), np.radians(azim_deg)
    eye = np.stack([dist * np.cos(el) * np.sin(az), dist * np.sin(el), dist * np.cos(el) * np.cos(az)], -1)
    z = -eye / np.linalg.norm(eye, axis=-1, keepdims=True)
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=-1)
    return R, -np.einsum("ni,nij->nj", eye, R)


def r2n2_cameras(meta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch3D-convention R (V, 3, 3), T (V, 3) of metadata rows (V, 5) in ShapeNet v1's mesh frame: Mesh
    R-CNN's extrinsics are a look-at from ``d (cos el cos az, sin el, cos el sin az)``, which is
    :func:`look_at_p3d` at azimuth ``90 - az`` (equal to 1e-7 to PyTorch3D's R2N2 cameras, tested)."""
    return look_at_p3d(meta[:, 3] * MAX_CAMERA_DISTANCE, meta[:, 1], 90.0 - meta[:, 0])


@dataclass
class R2N2(Sequence):
    """Lazy list of models present in both renderings and voxels.

    ``ds[i]`` -> dict(synset, model_id, images (V, H, W, 3) on white, alpha (V, H, W), voxels (32, 32, 32) bool,
    metadata (V, 5), R (V, 3, 3), T (V, 3), fov (V,) degrees) with the cameras of :func:`r2n2_cameras`.
    """

    root: Path
    synsets: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.items: list[tuple[str, str]] = []
        for sdir in sorted(p for p in (self.root / RENDER).iterdir() if p.is_dir()):
            if self.synsets is not None and sdir.name not in self.synsets:
                continue
            for mdir in sorted(p for p in sdir.iterdir() if p.is_dir()):
                if (self.root / VOX / sdir.name / mdir.name / "model.binvox").is_file():
                    self.items.append((sdir.name, mdir.name))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:  # type: ignore[override]
        synset, model = self.items[i]
        rdir = self.root / RENDER / synset / model / "rendering"
        meta = read_metadata(rdir / "rendering_metadata.txt")
        rgba = np.stack([read_image(rdir / f"{v:02d}.png", "RGBA") for v in range(len(meta))])
        alpha = rgba[..., 3]
        rgb = rgba[..., :3] * alpha[..., None] + (1.0 - alpha[..., None])
        R, T = r2n2_cameras(meta)
        vox = read_binvox(self.root / VOX / synset / model / "model.binvox").data
        return {"synset": synset, "model_id": model, "images": torch.from_numpy(rgb.astype(np.float32)),
                "alpha": torch.from_numpy(alpha), "voxels": torch.from_numpy(vox),
                "metadata": torch.tensor(meta, dtype=torch.float32), "R": torch.tensor(R, dtype=torch.float32),
                "T": torch.tensor(T, dtype=torch.float32), "fov": torch.full((len(meta),), FOV_DEG)}


def load(root: Path, synsets: tuple[str, ...] | None = None) -> R2N2:
    return R2N2(root, synsets)


def check(root: Path) -> CheckReport:
    """Every rendered model has its 24 views, a 5-column metadata file and a readable 32^3 voxel file."""
    root = Path(root)
    problems = Problems(root)
    for sub in (RENDER, VOX):
        if not (root / sub).is_dir():
            problems.add(root / sub, "folder is missing")
    if problems:
        return problems.report("r2n2")
    models, images = 0, []
    for sdir in sorted(p for p in (root / RENDER).iterdir() if p.is_dir()):
        for mdir in sorted(p for p in sdir.iterdir() if p.is_dir()):
            models += 1
            rdir = mdir / "rendering"
            try:
                meta = read_metadata(rdir / "rendering_metadata.txt")
                if len(meta) != VIEWS:
                    problems.add(rdir / "rendering_metadata.txt", f"{len(meta)} lines, expected {VIEWS}")
            except DataError as exc:
                problems.add(rdir / "rendering_metadata.txt", str(exc).split(": ", 1)[-1])
            images += [rdir / f"{v:02d}.png" for v in range(VIEWS)]
            vox = root / VOX / sdir.name / mdir.name / "model.binvox"
            if not vox.is_file():
                problems.add(vox, "voxel file is missing")
                continue
            try:
                shape = read_binvox(vox).data.shape
                if shape != (32, 32, 32):
                    problems.add(vox, f"voxel grid is {shape}, expected (32, 32, 32)")
            except DataError as exc:
                problems.add(vox, str(exc).split(": ", 1)[-1])
    sizes = check_images(images, problems)
    return problems.report("r2n2", {"models": models, "views": len(images), "image_sizes": sizes})
