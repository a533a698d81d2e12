"""LSP with SMPLify's detections: ``est_joints.npz`` (the DeepCut keypoints SMPLify's code ships) beside LSP.

SMPLify's ``fit_3d.py`` reads ``results/lsp/est_joints.npz`` (``est_joints`` (3, 14, N): x, y, confidence per
LSP joint) and the images ``images/lsp/im<i>.jpg``, and fits each image scaled by 2 (``scale_factor=2``) with
the principal point at the scaled image's centre. LSP has no 3D truth: the metrics are the 2D ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.errors import DataError, NotAvailable

EST_FILE = "est_joints.npz"
SCALE = 2.0  # fit_3d.py main: run_single_fit(..., scale_factor=2)


def load_lsp_targets(root: Path, limit: int) -> dict[str, Any]:
    """keypoints2d (N, 14, 2) and confidence (N, 14) at SMPLify's 2x scale, centres (N, 2), files (N)."""
    from PIL import Image

    from bench.data.formats.keypoints import lsp_images

    root = Path(root)
    est = root / EST_FILE
    if not est.is_file():
        raise NotAvailable(f"lsp: {est} is missing: put SMPLify's detections (results/lsp/{EST_FILE} from "
                           "the SMPLify code, https://smplify.is.tue.mpg.de) in the LSP folder")
    a = read_est_joints(est)
    conf = a[2].T
    files = lsp_images(root)
    if len(files) < a.shape[2]:
        raise DataError(f"{root / 'images'}: {len(files)} images for {a.shape[2]} detections in {EST_FILE}")
    n = min(limit, a.shape[2])
    sizes = []
    for f in files[:n]:
        with Image.open(f) as im:
            sizes.append(im.size)  # (W, H)
    centres = torch.tensor([[SCALE * w / 2.0, SCALE * h / 2.0] for w, h in sizes], dtype=torch.float64)
    kp = torch.from_numpy(a[:2, :, :n].transpose(2, 1, 0) * SCALE)
    return {"keypoints2d": kp, "confidence": torch.from_numpy(conf[:n]), "centres": centres,
            "sizes": [(int(SCALE * h), int(SCALE * w)) for w, h in sizes], "files": files[:n]}


def read_est_joints(est: Path) -> np.ndarray:
    """SMPLify's ``est_joints`` (3, 14, N) float64: x, y, confidence in [0, 1]; DataError naming the file."""
    try:
        with np.load(est, allow_pickle=False) as z:
            if "est_joints" not in z.files:
                raise DataError(f"{est}: no 'est_joints' array (found {', '.join(z.files) or 'none'})")
            a = np.asarray(z["est_joints"])
    except DataError:
        raise
    except Exception as exc:  # not an npz, pickled objects, damaged archive
        raise DataError(f"{est}: not a readable .npz of arrays ({type(exc).__name__}: {exc})") from None
    if a.dtype.kind not in "iuf" or a.ndim != 3 or a.shape[:2] != (3, 14):
        raise DataError(f"{est}: est_joints has shape {a.shape} and dtype {a.dtype}; expected numbers (3, 14, N)")
    if not np.all(np.isfinite(a)):
        raise DataError(f"{est}: est_joints has NaN or infinite values")
    if a[2].min() < 0 or a[2].max() > 1:
        raise DataError(f"{est}: confidences (row 2) outside [0, 1] ({a[2].min():g}..{a[2].max():g})")
    return a.astype(np.float64)
