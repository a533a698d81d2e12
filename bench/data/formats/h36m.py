"""Human3.6M protocol 2 in the layout of SPIN's preprocessed evaluation files (all user-provided).

``h36m_valid_protocol2.npz`` (SPIN ``datasets/preprocess/h36m.py``, shipped by SPIN's ``fetch_data.sh`` in
``data/dataset_extras``): ``imgname`` (N,) ``images/S9_<Action>.60457274_<frame>.jpg``, ``center`` (N, 2),
``scale`` (N,), ``S`` (N, 24, 4) ground-truth 3D joints in metres, camera frame, centred on the pelvis, in
SPIN's 24-joint order with a validity column; optionally ``part`` (N, 24, 3) 2D keypoints (x, y, visibility).
Protocol 2 (HMR, Kanazawa et al. CVPR 2018, sec. 4; SPIN's ``h36m_extract(protocol=2)``): the test subjects
S9 and S11, every 5th frame (``frame_i % 5 == 0``, stored 1-based), and only the frontal camera 60457274.
``J_regressor_h36m.npy`` (17, 6890): the regressor from SMPL's vertices to Human3.6M's 17 joints (HMR/SPIN).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.report import CheckReport, Problems
from bench.data.safe_io import check_array
from bench.errors import DataError

NPZ = "h36m_valid_protocol2.npz"
REGRESSOR = "J_regressor_h36m.npy"
DETECTIONS = "est_joints.npz"  # optional 2D detections in SMPLify's format (3, 14, N), frame order of NPZ
SUBJECTS = ("S9", "S11")  # HMR / SPIN: user_list = [9, 11]
CAMERA = "60457274"  # the frontal camera of protocol 2 (SPIN h36m.py: camera == '60457274')
FRAME_STEP = 5  # SPIN h36m.py: frame_i % 5 == 0, imgname carries frame_i + 1
SMPL_VERTICES = 6890
SOURCES = {
    NPZ: "SPIN's data/dataset_extras/h36m_valid_protocol2.npz (fetch_data.sh, https://github.com/nkolot/SPIN), "
         "or datasets/preprocess/h36m.py with protocol=2 on the Human3.6M release (http://vision.imar.ro/human3.6m)",
    REGRESSOR: "SPIN's data/J_regressor_h36m.npy (fetch_data.sh; HMR ships the same regressor)",
    "images": "the protocol-2 frames extracted from the Human3.6M videos (SPIN h36m.py extract_img=True), named "
              "as in imgname",
}
_NAME = re.compile(r"(?:.*/)?(S\d+)_(.+)\.(\d+)_(\d+)\.(?:jpg|png)$")


def where(name: str) -> str:
    """Where a missing piece of the layout comes from (for skip messages)."""
    return f"{name} ({SOURCES.get(name, SOURCES['images'])})"


def frame_problem(imgname: str) -> str | None:
    """Why an image name is not a protocol-2 frame (subject, camera, frame step), or None when it is one."""
    m = _NAME.fullmatch(str(imgname))
    if m is None:
        return f"image name {imgname!r} is not S<subject>_<action>.<camera>_<frame>.jpg"
    subject, _, camera, frame = m.groups()
    if subject not in SUBJECTS:
        return f"{imgname}: subject {subject} is not a protocol-2 test subject ({', '.join(SUBJECTS)})"
    if camera != CAMERA:
        return f"{imgname}: camera {camera} is not protocol 2's frontal camera {CAMERA}"
    if (int(frame) - 1) % FRAME_STEP:
        return f"{imgname}: frame {int(frame)} is not every {FRAME_STEP}th frame (1, 6, 11, ...)"
    return None


def read_protocol2(path: Path) -> dict[str, np.ndarray]:
    """imgname (N,) str, S (N, 24, 4), optional part (N, 24, 3) from SPIN's npz; DataError naming the field."""
    try:
        with np.load(path, allow_pickle=False) as z:
            doc = {k: np.asarray(z[k]) for k in z.files}
    except Exception as exc:  # not an npz, pickled objects, damaged archive
        raise DataError(f"{path}: not a readable .npz of arrays ({type(exc).__name__}: {exc})") from None
    for key in ("imgname", "S"):
        if key not in doc:
            raise DataError(f"{path}: no {key!r} array (found {', '.join(sorted(doc)) or 'none'}); expected "
                            "SPIN's h36m_valid_protocol2.npz")
    names = doc["imgname"]
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise DataError(f"{path}: imgname has shape {names.shape} and dtype {names.dtype}; expected (N,) strings")
    n = len(names)
    s = check_array(doc["S"], path, "'S'", kinds="iuf").astype(np.float64)
    if s.shape != (n, 24, 4):
        raise DataError(f"{path}: S has shape {s.shape}, expected ({n}, 24, 4) (SPIN's 24 joints, xyz + valid)")
    out = {"imgname": names.astype(str), "S": s}
    if "part" in doc:
        part = check_array(doc["part"], path, "'part'", kinds="iuf").astype(np.float64)
        if part.shape != (n, 24, 3):
            raise DataError(f"{path}: part has shape {part.shape}, expected ({n}, 24, 3) (x, y, visibility)")
        if part[..., 2].min() < 0 or part[..., 2].max() > 1:
            raise DataError(f"{path}: part visibilities (column 2) outside [0, 1]")
        out["part"] = part
    return out


def read_regressor(path: Path) -> np.ndarray:
    """(17, 6890) float64 Human3.6M joint regressor; DataError naming the file otherwise."""
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npy array ({type(exc).__name__}: {exc})") from None
    a = check_array(np.asarray(a), path, "the regressor", kinds="iuf").astype(np.float64)
    if a.shape != (17, SMPL_VERTICES):
        raise DataError(f"{path}: shape {a.shape}, expected (17, {SMPL_VERTICES}) (Human3.6M joints x SMPL vertices)")
    return a


def check_h36m_p2(root: Path) -> CheckReport:
    """Problems of the files present (npz fields, protocol-2 frames, regressor); absent files are reported by
    the suite as a skip naming each one."""
    root = Path(root)
    problems = Problems(root)
    found: dict[str, Any] = {}
    if (root / NPZ).is_file():
        try:
            doc = read_protocol2(root / NPZ)
            found["frames"] = len(doc["imgname"])
            bad = [p for p in map(frame_problem, doc["imgname"]) if p]
            if bad:
                problems.add(root / NPZ, f"{len(bad)} frame(s) outside protocol 2, first: {bad[0]}")
        except DataError as exc:
            problems.add(root / NPZ, str(exc).split(": ", 1)[-1])
    if (root / REGRESSOR).is_file():
        try:
            read_regressor(root / REGRESSOR)
        except DataError as exc:
            problems.add(root / REGRESSOR, str(exc).split(": ", 1)[-1])
    found["missing"] = [name for name in (NPZ, REGRESSOR) if not (root / name).is_file()]
    return problems.report("h36m-p2", found)


def load_h36m_p2(root: Path) -> dict[str, Any]:
    """The npz's arrays, the regressor (17, 6890) and the root (files must be present: the suite checks)."""
    root = Path(root)
    return {**read_protocol2(root / NPZ), "regressor": read_regressor(root / REGRESSOR), "root": root}
