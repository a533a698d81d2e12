"""CO3D v2: per category ``frame_annotations.jgz`` and ``sequence_annotations.jgz`` (gzipped JSON lists),
``<category>/<sequence>/{images,masks,depths,depth_masks}/`` and ``set_lists/``; loader and check only.

Viewpoints are stored in PyTorch3D's convention (R, T) with NDC intrinsics: ``ndc_isotropic`` (the
shorter side spans [-1, 1]) or ``ndc_norm_image_bounds`` (each side spans [-1, 1]).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.files import read_json
from bench.data.report import CheckReport, Problems
from bench.data.safe_io import Any_, ListOf, Matrix, Number, Obj, OneOf, String, items_problems, verify_image
from bench.errors import DataError

_PATH = Obj({"path": String()})
VIEWPOINT = Obj({"R": Matrix(3, 3), "T": Matrix(3), "focal_length": Matrix(2), "principal_point": Matrix(2)},
                {"intrinsics_format": OneOf("ndc_isotropic", "ndc_norm_image_bounds")})
FRAME = Obj({"sequence_name": String(), "frame_number": Number(0, integer=True),
             "image": Obj({"path": String(), "size": ListOf(Number(1, integer=True), 2)}), "viewpoint": VIEWPOINT},
            {"mask": _PATH, "depth": _PATH})
SEQUENCES = ListOf(Obj({"sequence_name": String()}))


def pixel_intrinsics(focal_ndc: np.ndarray, pp_ndc: np.ndarray, size_hw: tuple[int, int],
                     fmt: str = "ndc_isotropic") -> tuple[np.ndarray, np.ndarray]:
    """CO3D NDC focal/principal point (2,) -> pixels (u right, v down), for an image of (H, W)."""
    h, w = size_hw
    half = np.array([w / 2.0, h / 2.0])
    if fmt == "ndc_isotropic":
        scale = np.array([min(h, w) / 2.0] * 2)
    elif fmt == "ndc_norm_image_bounds":
        scale = half
    else:
        raise DataError(f"unknown intrinsics_format {fmt!r}; expected ndc_isotropic or ndc_norm_image_bounds")
    return np.asarray(focal_ndc) * scale, half - np.asarray(pp_ndc) * scale


def categories(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and (p / "frame_annotations.jgz").is_file())


def load(root: Path, category: str, sequence: str | None = None) -> dict[str, Any]:
    """Frames of one category (optionally one sequence), sorted by sequence then frame number.

    Returns sequence names (N), frame numbers (N), R (N, 3, 3), T (N, 3), focal (N, 2) and principal_point
    (N, 2) in pixels, image_size (N, 2) as (H, W), and image/mask/depth paths (images are read on demand).
    """
    root = Path(root)
    frames = read_json(root / category / "frame_annotations.jgz", ListOf(FRAME))
    if sequence is not None:
        frames = [f for f in frames if f["sequence_name"] == sequence]
        if not frames:
            raise DataError(f"{root / category / 'frame_annotations.jgz'}: no frames of sequence {sequence!r}")
    frames.sort(key=lambda f: (f["sequence_name"], f["frame_number"]))
    focal, pp = [], []
    for f in frames:
        vp = f["viewpoint"]
        fp, pq = pixel_intrinsics(vp["focal_length"], vp["principal_point"], f["image"]["size"],
                                  vp.get("intrinsics_format", "ndc_norm_image_bounds"))
        focal.append(fp), pp.append(pq)
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    return {"sequence": [f["sequence_name"] for f in frames], "frame_number": [f["frame_number"] for f in frames],
            "R": t([f["viewpoint"]["R"] for f in frames]), "T": t([f["viewpoint"]["T"] for f in frames]),
            "focal": t(focal), "principal_point": t(pp), "image_size": t([f["image"]["size"] for f in frames]),
            "image_paths": [root / f["image"]["path"] for f in frames],
            "mask_paths": [root / f["mask"]["path"] if f.get("mask") else None for f in frames],
            "depth_paths": [root / f["depth"]["path"] if f.get("depth") else None for f in frames]}


def check(root: Path) -> CheckReport:
    """Annotations parse; each frame's R is 3x3 and T 3; referenced images, masks and depths exist; image
    headers match the annotated size; every frame's sequence is listed in sequence_annotations.jgz."""
    root = Path(root)
    problems = Problems(root)
    cats = categories(root)
    if not cats:
        problems.add(root, "no <category>/frame_annotations.jgz")
    found: dict[str, Any] = {}
    for cat in cats:
        jf = cat / "frame_annotations.jgz"
        try:
            frames = read_json(jf, ListOf(Any_()))
        except DataError as exc:
            problems.add(jf, str(exc).split(": ", 1)[-1])
            continue
        try:
            seqs = {s["sequence_name"] for s in read_json(cat / "sequence_annotations.jgz", SEQUENCES)}
        except DataError as exc:
            problems.add(cat / "sequence_annotations.jgz", str(exc).split(": ", 1)[-1])
            seqs = None
        for i in items_problems(frames, FRAME, "", lambda m, jf=jf: problems.add(jf, m)):
            f = frames[i]
            if seqs is not None and f["sequence_name"] not in seqs:
                problems.add(jf, f"[{i}].sequence_name {f['sequence_name']!r} is not in sequence_annotations.jgz")
            p = root / f["image"]["path"]
            if not p.is_file():
                problems.add(p, "image is missing")
            else:
                try:
                    size = list(verify_image(p))
                    if size != list(f["image"]["size"]):
                        problems.add(p, f"image is {'x'.join(map(str, size))} (H x W) but the annotation says "
                                     f"{f['image']['size']}")
                except DataError as exc:
                    problems.add(p, str(exc).split(": ", 1)[-1])
            for key in ("mask", "depth"):
                if f.get(key) and not (root / f[key]["path"]).is_file():
                    problems.add(root / f[key]["path"], f"{key} is missing")
        frames = [f for f in frames if isinstance(f, dict)]
        found[cat.name] = {"frames": len(frames), "sequences": len({f.get("sequence_name") for f in frames})}
    return problems.report("co3d-v2", {"categories": found})
