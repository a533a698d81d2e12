"""SynSin's own test pair lists and its KITTI training pairs, read as SynSin's evaluation reads them.

Sources (facebookresearch/synsin): ``data/files/realestate.txt`` read by ``evaluation/eval_realestate.py``,
``data/files/kitti.txt`` read by ``evaluation/eval_kitti.py``, and the KITTI training sampler of
``data/kitti.py`` (after xuchen-ethz/continuous_view_synthesis). The lists are not shipped here: copy them into
the dataset root (``<root>/realestate.txt``, ``<root>/kitti.txt``) or pass ``--set synsin_list=PATH``.

``realestate.txt``: 31 columns a line: sequence, source timestamp, target timestamp, ``fx fy cx cy`` in pixels
of a 256x256 image (the eval divides them by W = 256), the source's 3x4 world-to-camera matrix (row-major,
OpenCV axes, as RealEstate10K's camera files) and the target's. Images: ``<root>/frames/test/<sequence>/
<timestamp>.png`` (SynSin's ``$REALESTATE`` is ``${REAL_ESTATE_10K}/frames/test/``). Each target appears on two
consecutive lines with two sources (on about 10% of lines the source is the target frame itself): what
``evaluate_perceptualsim.py --take_every_other`` pairs up.

``kitti.txt``: 18 columns: target id, source id (``<seq>_<frame>``), a 4x4 row-major ``RT``. Images:
``<root>/images/<id>.png`` (``$KITTI`` is continuous_view_synthesis' ``dataset_kitti/images/``); K: focal 718.9
px and principal point 128 at 256x256 (``eval_kitti.py``). ``RT`` is the target camera's pose in the source
camera's frame, ``[R_s^T R_t | R_s^T (C_t - C_s) / 50]`` with OpenCV axes and translation in SynSin's unit of
50 m, as ``data/kitti.py`` builds it from ``poses.txt``; the list agrees: in all its 464 lines the translation's
z is positive exactly when the target frame is the later one (the car drives forward).

Pair ids are SynSin's output folder names (``%04d`` of the line for RealEstate10K, ``%d`` for KITTI), so a run
of the model and a bring-your-own run of SynSin's outputs pair up item by item.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data.cameras import opencv_w2c_to_p3d
from bench.data.files import read_image
from bench.data.generated.view_pairs import relative_pose
from bench.data.safe_io import parse_floats, read_text
from bench.errors import DataError

LIST_NAMES = {"realestate10k": "realestate.txt", "kitti": "kitti.txt"}
COLUMNS = {"realestate10k": 31, "kitti": 18}
SYNSIN_W = 256.0  # the image side SynSin's list intrinsics and KITTI K refer to
KITTI_FOCAL = 718.9  # eval_kitti.py / data/kitti.py: K = [718.9/256, 0, 128/256; 0, 718.9/256, 128/256]
KITTI_UNIT = 50.0  # data/kitti.py divides translations by 50
KITTI_BOUND = 5  # data/kitti.py: opt.bound, the largest frame offset of a training pair


def resize(img: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """(H, W, 3) -> (size, size, 3) in [0, 1], antialiased bilinear (SynSin resizes every image to W x W)."""
    x = torch.as_tensor(img).permute(2, 0, 1)[None].float()
    out = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out[0].permute(1, 2, 0).clamp(0, 1)


class Columns:
    """Pairs collected one by one and stacked into the view-pairs layout."""

    KEYS = ("src_images", "tgt_images", "R_rel", "T_rel", "focal", "principal_point", "splits", "ids", "scenes")

    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {k: [] for k in self.KEYS}

    def add(self, src: torch.Tensor, tgt: torch.Tensor, cams: tuple[np.ndarray, ...], focal: torch.Tensor,
            pp: torch.Tensor, split: str, pid: str, scene: str) -> None:
        """One pair: images (S, S, 3), PyTorch3D cameras ``(R_src, T_src, R_tgt, T_tgt)`` ((3, 3), (3,)),
        focal / principal point (2,) in pixels."""
        Rr, Tr = relative_pose(*cams)
        for k, v in zip(self.KEYS, (src, tgt, torch.from_numpy(np.asarray(Rr, np.float32)),
                                    torch.from_numpy(np.asarray(Tr, np.float32)), focal.float(), pp.float(),
                                    split, pid, scene), strict=True):
            self.cols[k].append(v)

    def __len__(self) -> int:
        return len(self.cols["ids"])

    def stack(self, image_size: int) -> dict[str, Any]:
        out: dict[str, Any] = {k: torch.stack(v) if v and isinstance(v[0], torch.Tensor) else v
                               for k, v in self.cols.items()}
        out["image_size"] = (image_size, image_size)
        return out


def read_list(path: Path, dataset: str) -> list[list[str]]:
    """The list's lines as tokens, each checked for SynSin's column count and numbers; DataError naming the file
    and line otherwise."""
    n = COLUMNS[dataset]
    rows = []
    for k, line in enumerate(read_text(path, "SynSin pair list").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != n:
            raise DataError(f"{path}: line {k} has {len(parts)} columns; expected SynSin's {LIST_NAMES[dataset]} "
                            f"format with {n} (see suites/synsin/lists.py)")
        numeric = parts[1:] if dataset == "realestate10k" else parts[2:]
        parse_floats(numeric, path, f"line {k}")
        if dataset == "realestate10k" and not (parts[1].isdigit() and parts[2].isdigit()):
            raise DataError(f"{path}: line {k}: timestamps {parts[1]!r} {parts[2]!r} are not non-negative integers")
        rows.append(parts)
    if not rows:
        raise DataError(f"{path}: no pairs; expected SynSin's {LIST_NAMES[dataset]} format")
    return rows


def opencv_cams(w2c_src: np.ndarray, w2c_tgt: np.ndarray) -> tuple[np.ndarray, ...]:
    """PyTorch3D ``(R_src, T_src, R_tgt, T_tgt)`` of two OpenCV world-to-camera (3, 4) matrices."""
    (R1, R2), (T1, T2) = opencv_w2c_to_p3d(np.stack([w2c_src, w2c_tgt]))
    return R1, T1, R2, T2


def _image(path: Path, size: int) -> torch.Tensor:
    if not path.is_file():
        raise DataError(f"{path}: image of the SynSin pair list is missing")
    return resize(read_image(path), size)


def realestate_test_pairs(root: Path, path: Path, image_size: int, cols: Columns) -> None:
    """Append the pairs of SynSin's realestate.txt (poses and intrinsics from the list, as its eval)."""
    scale = image_size / SYNSIN_W
    for i, p in enumerate(read_list(path, "realestate10k")):
        seq, src_ts, tgt_ts = p[0], p[1], p[2]
        v = np.array(p[3:], dtype=np.float64)
        folder = Path(root) / "frames" / "test" / seq
        cols.add(_image(folder / f"{src_ts}.png", image_size), _image(folder / f"{tgt_ts}.png", image_size),
                 opencv_cams(v[4:16].reshape(3, 4), v[16:28].reshape(3, 4)), torch.from_numpy(v[0:2] * scale),
                 torch.from_numpy(v[2:4] * scale), "test", f"{i:04d}", seq)


def _kitti_pair(root: Path, src: str, tgt: str, RT: np.ndarray, image_size: int, split: str, pid: str,
                cols: Columns) -> None:
    """One KITTI pair from ``RT`` (the target's pose in the source frame): the source at the origin."""
    scale = image_size / SYNSIN_W
    w2c_tgt = np.linalg.inv(RT)[:3]
    images = Path(root) / "images"
    cols.add(_image(images / f"{src}.png", image_size), _image(images / f"{tgt}.png", image_size),
             opencv_cams(np.eye(4)[:3], w2c_tgt), torch.tensor([KITTI_FOCAL, KITTI_FOCAL]) * scale,
             torch.tensor([SYNSIN_W / 2, SYNSIN_W / 2]) * scale, split, pid, src.split("_")[0])


def kitti_test_pairs(root: Path, path: Path, image_size: int, cols: Columns) -> None:
    """Append the pairs of SynSin's kitti.txt (target id, source id, RT)."""
    for i, p in enumerate(read_list(path, "kitti")):
        RT = np.array(p[2:], dtype=np.float64).reshape(4, 4)
        if np.abs(RT[3] - [0, 0, 0, 1]).max() > 1e-6 or abs(np.linalg.det(RT[:3, :3]) - 1) > 1e-3:
            raise DataError(f"{path}: line {i + 1}: RT is not a rigid 4x4 transform (rotation, translation, "
                            "last row 0 0 0 1)")
        _kitti_pair(root, p[1], p[0], RT, image_size, "test", str(i), cols)


def read_kitti_poses(path: Path) -> dict[str, np.ndarray]:
    """continuous_view_synthesis' ``poses.txt``: ``<id> rx ry rz tx ty tz`` a line (Euler angles, extrinsic xyz
    as scipy's ``from_euler('xyz')``, and the camera centre) -> id -> (4, 4) camera-to-world."""
    from scipy.spatial.transform import Rotation

    out = {}
    for k, line in enumerate(read_text(path, "KITTI poses file").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 7:
            raise DataError(f"{path}: line {k} has {len(parts)} values; expected '<id> rx ry rz tx ty tz'")
        v = parse_floats(parts[1:], path, f"line {k}")
        m = np.eye(4)
        m[:3, :3] = Rotation.from_euler("xyz", v[:3]).as_matrix()
        m[:3, 3] = v[3:]
        out[parts[0]] = m
    return out


def kitti_relative(c2w_src: np.ndarray, c2w_tgt: np.ndarray) -> np.ndarray:
    """data/kitti.py's RT: ``[R_s^T R_t | R_s^T (C_t - C_s) / 50]`` (4, 4)."""
    RT = np.eye(4)
    RT[:3, :3] = c2w_src[:3, :3].T @ c2w_tgt[:3, :3]
    RT[:3, 3] = c2w_src[:3, :3].T @ (c2w_tgt[:3, 3] - c2w_src[:3, 3]) / KITTI_UNIT
    return RT


def kitti_train_pairs(root: Path, image_size: int, max_pairs: int, seed: int, cols: Columns) -> None:
    """SynSin's KITTI training pairs: for each id of ``id_train.txt`` (evenly thinned to ``max_pairs``) the
    target, and a source ``1..5`` frames before or after it (seeded; as data/kitti.py, offsets whose frame has no
    pose are drawn again)."""
    root = Path(root)
    poses = read_kitti_poses(root / "poses.txt")
    ids = [s for s in read_text(root / "id_train.txt", "KITTI training id list").split() if s]
    if not ids:
        raise DataError(f"{root / 'id_train.txt'}: no ids; expected one '<seq>_<frame>' a line")
    keep = ids if len(ids) <= max_pairs else [ids[int(j)] for j in np.linspace(0, len(ids) - 1, max_pairs)]
    rng = np.random.default_rng(seed)
    offsets = [d for d in range(-KITTI_BOUND, KITTI_BOUND + 1) if d]
    for tgt in keep:
        if tgt not in poses:
            raise DataError(f"{root / 'poses.txt'}: training id {tgt!r} of id_train.txt has no pose")
        seq, frame = tgt.rsplit("_", 1)
        near = [f"{seq}_{int(frame) + d:0{len(frame)}d}" for d in rng.permutation(offsets)]
        src = next((s for s in near if s in poses), None)
        if src is None:
            raise DataError(f"{root / 'poses.txt'}: no frame within {KITTI_BOUND} of training id {tgt!r} has a pose")
        _kitti_pair(root, src, tgt, kitti_relative(poses[src], poses[tgt]), image_size, "train", f"{src}->{tgt}",
                    cols)
