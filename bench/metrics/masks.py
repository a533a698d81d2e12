"""Intersection over union for masks (N, H, W) and voxel grids (N, D, H, W), per item.

Binary IoU thresholds the prediction (``pred > threshold``); soft IoU uses probabilities directly
(sum(p t) / sum(p + t - p t)). An item whose prediction and target are both empty scores 1.0.
"""

from __future__ import annotations

from typing import Any

import torch

from bench.metrics import validate as V
from bench.metrics.accumulate import from_items
from bench.metrics.fingerprint import MetricResult, make_fingerprint

EMPTY_UNION = 1.0


def iou(pred: Any, target: Any, *, threshold: float = 0.5, soft: bool = False) -> MetricResult:
    """IoU per item of (N, ...) predictions against binary (N, ...) targets (masks or voxels).

    Args:
        pred: probabilities in [0, 1] or booleans; thresholded with ``> threshold`` unless ``soft``.
        target: booleans or {0, 1}.
        threshold: binarisation threshold for ``pred`` (Mesh R-CNN's voxel branch uses 0.2; masks 0.5).
        soft: use probabilities without thresholding.
    """
    p = V.as_tensor(pred, "pred", allow_bool=True)
    t = V.as_tensor(target, "target", allow_bool=True, device=p.device)
    V.check_ndim(p, "pred", (3, 4), "(N, H, W) or (N, D, H, W)")
    V.check_same_shape(p, t, "pred", "target")
    V.check_nonempty(p, "pred")
    p, t = p.to(torch.float64), t.to(torch.float64)
    V.check_in_range(p, "pred", 0.0, 1.0, rel_tol=0.0)
    if not bool(((t == 0) | (t == 1)).all()):
        raise ValueError("target: expected a binary mask (bool or values in {0, 1})")
    if not soft:
        p = (p > threshold).to(torch.float64)
    inter = (p * t).flatten(1).sum(1)
    union = (p + t - p * t).flatten(1).sum(1)
    vals = torch.where(union > 0, inter / union.clamp(min=1e-300), torch.full_like(union, EMPTY_UNION))
    kind = "voxels" if p.ndim == 4 else "masks"
    fp = make_fingerprint("iou", "bench3d.metrics.iou", kind=kind, soft=soft,
                          threshold=None if soft else float(threshold), comparison=">", empty_union=EMPTY_UNION)
    return from_items("IoU", [float(v) for v in vals.cpu()], fp, higher_is_better=True)
