"""2D human keypoints: Leeds Sports Pose (``joints.mat``) and COCO person keypoint JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import torch

from bench.data.files import check_images, read_json
from bench.data.report import CheckReport, Problems
from bench.data.safe_io import ListOf, Matrix, Number, Obj, String, check_array
from bench.errors import DataError

_ID = Number(integer=True)
COCO_DOC = Obj({
    "images": ListOf(Obj({"id": _ID, "file_name": String()})),
    "annotations": ListOf(Obj({"id": _ID, "image_id": _ID, "category_id": _ID, "keypoints": ListOf(Number())},
                              {"bbox": Matrix(4)})),
    "categories": ListOf(Obj({"id": _ID, "name": String()},
                             {"keypoints": ListOf(String()), "skeleton": ListOf(ListOf(_ID, 2))})),
})

LSP_JOINTS = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
              "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top")
IMAGE_EXTS = (".jpg", ".jpeg", ".png")


def read_lsp_joints(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(xy (N, 14, 2), visible (N, 14) bool) from LSP's 3x14xN (flag 0 = visible) or LSP-extended's
    14x3xN (flag 1 = visible) ``joints`` array."""
    try:
        mat = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several types for damaged files
        raise DataError(f"{path}: not a readable .mat file ({exc})") from exc
    if "joints" not in mat:
        raise DataError(f"{path}: no 'joints' array")
    # strings, cells or structs (object arrays) are refused by dtype, NaN/inf coordinates too
    j = check_array(np.asarray(mat["joints"]), path, "'joints'", kinds="biuf").astype(np.float64)
    if j.ndim == 3 and j.shape[:2] == (3, 14):
        return j[:2].transpose(2, 1, 0), j[2].T == 0
    if j.ndim == 3 and j.shape[:2] == (14, 3):
        return j[:, :2].transpose(2, 0, 1), j[:, 2].T == 1
    raise DataError(f"{path}: 'joints' has shape {j.shape}, expected (3, 14, N) or (14, 3, N)")


def lsp_images(root: Path) -> list[Path]:
    folder = Path(root) / "images"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS) if folder.is_dir() else []


def load_lsp(root: Path) -> dict[str, Any]:
    """keypoints (N, 14, 2) pixels, visible (N, 14) bool, image files (N), joint names."""
    xy, vis = read_lsp_joints(Path(root) / "joints.mat")
    files = lsp_images(root)
    if len(files) != len(xy):
        raise DataError(f"{Path(root) / 'images'}: {len(files)} images for {len(xy)} joint sets")
    return {"keypoints": torch.tensor(xy, dtype=torch.float32), "visible": torch.from_numpy(vis),
            "files": files, "names": LSP_JOINTS}


def check_lsp(root: Path) -> CheckReport:
    root = Path(root)
    problems = Problems(root)
    try:
        xy, vis = read_lsp_joints(root / "joints.mat")
    except DataError as exc:
        problems.add(root / "joints.mat", str(exc).split(": ", 1)[-1])
        return problems.report("lsp")
    files = lsp_images(root)
    if len(files) != len(xy):
        problems.add(root / "images", f"{len(files)} images for {len(xy)} joint sets (missing frames)")
    sizes = check_images(files, problems, same_size=False)
    return problems.report("lsp", {"images": len(files), "joint_sets": len(xy), "visible_fraction":
                                   round(float(vis.mean()), 4) if vis.size else 0.0, "image_sizes": len(sizes)})


def _coco_doc(root: Path, split: str) -> tuple[Path, dict[str, Any]]:
    path = Path(root) / "annotations" / f"person_keypoints_{split}.json"
    return path, read_json(path, COCO_DOC)  # every field's type, one line naming the first bad one


def load_coco(root: Path, split: str = "val2017") -> dict[str, Any]:
    """Per person annotation: keypoints (A, K, 2), visibility (A, K) COCO flags 0/1/2, bbox (A, 4) xywh,
    image file of each, joint names and skeleton (1-based pairs, as stored)."""
    path, doc = _coco_doc(root, split)
    images = {im["id"]: im for im in doc["images"]}
    person = next((c for c in doc["categories"] if c["name"] == "person" and "keypoints" in c), None)
    if person is None:
        raise DataError(f"{path}: categories: no 'person' category with keypoint names")
    anns = [a for a in doc["annotations"] if a["category_id"] == person["id"]]
    k = len(person["keypoints"])
    for a in anns:
        if len(a["keypoints"]) != 3 * k:
            raise DataError(f"{path}: annotation {a['id']} has {len(a['keypoints'])} keypoint values, expected {3 * k}")
        if a["image_id"] not in images:
            raise DataError(f"{path}: annotation {a['id']} refers to unknown image_id {a['image_id']}")
        if "bbox" not in a:
            raise DataError(f"{path}: annotation {a['id']} has no bbox")
    kp = np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(len(anns), k, 3)
    return {"keypoints": torch.tensor(kp[..., :2], dtype=torch.float32),
            "visibility": torch.tensor(kp[..., 2], dtype=torch.int64),
            "bbox": torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4),
            "files": [Path(root) / split / images[a["image_id"]]["file_name"] for a in anns],
            "names": tuple(person["keypoints"]), "skeleton": person.get("skeleton", [])}


def check_coco(root: Path) -> CheckReport:
    """Every keypoint annotation file parses; keypoint lists have 3 K values; image ids and files exist."""
    root = Path(root)
    problems = Problems(root)
    files = sorted((root / "annotations").glob("person_keypoints_*.json"))
    if not files:
        problems.add(root / "annotations", "no person_keypoints_<split>.json files")
    found: dict[str, Any] = {}
    for path in files:
        split = path.stem.removeprefix("person_keypoints_")
        try:
            _, doc = _coco_doc(root, split)
        except DataError as exc:
            problems.add(path, str(exc).split(": ", 1)[-1])
            continue
        person = [c for c in doc["categories"] if c["name"] == "person" and "keypoints" in c]
        if not person:
            problems.add(path, "no 'person' category with keypoint names")
            continue
        k = len(person[0]["keypoints"])
        images = {im["id"]: im for im in doc["images"]}
        for a in doc["annotations"]:
            if len(a.get("keypoints", [])) != 3 * k:
                problems.add(path, f"annotation {a.get('id')} has {len(a.get('keypoints', []))} keypoint values, "
                             f"expected {3 * k}")
            if a.get("image_id") not in images:
                problems.add(path, f"annotation {a.get('id')} refers to unknown image_id {a.get('image_id')}")
        if (root / split).is_dir():
            for im in doc["images"]:
                if not (root / split / im["file_name"]).is_file():
                    problems.add(root / split / im["file_name"], "image is missing")
        found[split] = {"images": len(doc["images"]), "annotations": len(doc["annotations"]), "keypoints": k}
    return problems.report("coco-keypoints", found)
