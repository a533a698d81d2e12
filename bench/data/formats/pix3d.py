"""Pix3D: ``pix3d.json`` entries (image, mask, model, rot_mat, trans_mat, focal length, bbox, category).

A model vertex maps to camera space as ``rot_mat @ X + trans_mat``, in a camera with +X left,
+Y up, +Z forward (as Mesh R-CNN reads it, i.e. PyTorch3D's), so ``R = rot_mat^T``, ``T = trans_mat``.
``focal_length`` is in mm on a 32 mm-wide sensor: ``f_px = focal_length * W / 32``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.files import read_image, read_json
from bench.data.generated.meshes import load_mesh_file
from bench.data.report import CheckReport, Problems
from bench.data.safe_io import Any_, ListOf, Matrix, Number, Obj, String, problem, verify_image
from bench.data.safe_io import check as check_type
from bench.errors import DataError

SENSOR_WIDTH_MM = 32.0
REQUIRED = ("img", "mask", "model", "category", "img_size", "rot_mat", "trans_mat", "focal_length", "bbox")
ENTRY = Obj({"img": String(), "mask": String(), "model": String(), "category": String(),
             "img_size": ListOf(Number(1, integer=True), 2), "rot_mat": Matrix(3, 3), "trans_mat": Matrix(3),
             "focal_length": Number(0, open_lo=True), "bbox": Matrix(4)})


def camera(entry: dict[str, Any]) -> dict[str, np.ndarray]:
    """PyTorch3D R (3, 3), T (3,), focal (2,) and principal_point (2,) in pixels of one entry."""
    w, h = entry["img_size"]
    f = float(entry["focal_length"]) * w / SENSOR_WIDTH_MM
    return {"R": np.asarray(entry["rot_mat"], dtype=np.float64).T,
            "T": np.asarray(entry["trans_mat"], dtype=np.float64),
            "focal": np.array([f, f]), "principal_point": np.array([w / 2.0, h / 2.0])}


@dataclass
class Pix3D(Sequence):
    """Lazy list: ``ds[i]`` -> dict(image (H, W, 3), mask (H, W), verts, faces, R, T, focal, principal_point,
    bbox (4,) x0 y0 x1 y1, category, image_size (H, W))."""

    root: Path
    categories: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        doc = read_json(self.root / "pix3d.json", ListOf(Any_()))
        for i, e in enumerate(doc):
            check_type(e, ENTRY, self.root / "pix3d.json", f"[{i}]")
        self.entries = [e for e in doc if self.categories is None or e.get("category") in self.categories]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> dict[str, Any]:  # type: ignore[override]
        e = self.entries[i]
        img = read_image(self.root / e["img"])
        mask = read_image(self.root / e["mask"], "L")
        v, f = load_mesh_file(self.root / e["model"])
        cam = camera(e)
        out = {k: torch.tensor(val, dtype=torch.float32) for k, val in cam.items()}
        out.update(image=torch.from_numpy(img), mask=torch.from_numpy(mask), verts=torch.tensor(v, dtype=torch.float32),
                   faces=torch.tensor(f, dtype=torch.int64), bbox=torch.tensor(e["bbox"], dtype=torch.float32),
                   category=e["category"], image_size=img.shape[:2])
        return out


def load(root: Path, categories: tuple[str, ...] | None = None) -> Pix3D:
    return Pix3D(root, categories)


def check(root: Path) -> CheckReport:
    """Every entry has its fields, 3x3/3-vector pose, and files on disk; image headers match ``img_size``."""
    root = Path(root)
    problems = Problems(root)
    jf = root / "pix3d.json"
    try:
        doc = read_json(jf)
    except DataError as exc:
        problems.add(jf, str(exc).split(": ", 1)[-1])
        return problems.report("pix3d")
    if not isinstance(doc, list):
        problems.add(jf, "(top level): expected a JSON list of annotations")
        return problems.report("pix3d")
    cats: dict[str, int] = {}
    models = set()
    for i, e in enumerate(doc):
        msg = problem(e, ENTRY, f"[{i}]")
        if msg:
            problems.add(jf, msg)
        if not isinstance(e, dict):
            continue
        if not msg:
            cats[e["category"]] = cats.get(e["category"], 0) + 1
        for key in ("img", "mask", "model"):
            if isinstance(e.get(key), str) and e[key] and not (root / e[key]).is_file():
                problems.add(root / e[key], f"{key} file is missing")
        if msg:
            continue
        models.add(e["model"])
        if (root / e["img"]).is_file():
            try:
                h, w = verify_image(root / e["img"])
                if [w, h] != list(e["img_size"]):
                    problems.add(root / e["img"], f"image is {w}x{h} (W x H) but img_size says {e['img_size']}")
            except DataError as exc:
                problems.add(root / e["img"], str(exc).split(": ", 1)[-1])
    return problems.report("pix3d", {"images": len(doc), "models": len(models), "categories": cats})
