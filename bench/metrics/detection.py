"""AP^mesh (Mesh R-CNN, Gkioxari et al. 2019, sec. 4.2): detection average precision where a predicted mesh
is a true positive when its F1@0.3 (Mesh R-CNN protocol, :func:`bench.metrics.compare_meshes`) with a not yet
matched ground-truth mesh of the same image and category exceeds 50%.

Per category, detections are taken in decreasing score; each is matched to the unmatched ground truth of its
image with the highest F1@0.3 (ties: the first); precision is made monotone and averaged at COCO's 101 recall
points 0, 0.01, ..., 1. AP^mesh is the mean over categories with ground truth, in percent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.metrics.fingerprint import MetricResult, make_fingerprint

RECALL_POINTS = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class Detection:
    """A user's prediction: image id, category, confidence score and mesh (anything compare_meshes takes)."""

    image_id: str
    category: str
    score: float
    mesh: Any


def average_precision(tp: Sequence[bool], num_gt: int) -> float:
    """COCO 101-point interpolated AP of detections already sorted by decreasing score."""
    if num_gt <= 0:
        raise ValueError("num_gt: expected at least one ground-truth object")
    hits = np.asarray(tp, dtype=np.float64)
    if hits.size == 0:
        return 0.0
    ctp, cfp = np.cumsum(hits), np.cumsum(1.0 - hits)
    recall, precision = ctp / num_gt, ctp / (ctp + cfp)
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone envelope
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    return float(np.mean([precision[i] if i < len(precision) else 0.0 for i in idx]))


def ap_mesh(detections: Sequence[Detection], gt: Mapping[str, Sequence[tuple[str, Any]]], *,
            f1_threshold: float = 50.0, num_samples: int = 10000, seed: int = 0) -> MetricResult:
    """AP^mesh in percent; items are the per-category APs (``extra["categories"]`` names them).

    Args:
        detections: the predictions of all images.
        gt: image id -> [(category, mesh)] ground-truth objects.
        f1_threshold: F1@0.3 (percent) a match must exceed (Mesh R-CNN: 50).
    """
    from bench.metrics.meshes import compare_meshes

    cats = sorted({c for objs in gt.values() for c, _ in objs})
    for d in detections:
        if d.image_id not in gt:
            raise ValueError(f"detection of image {d.image_id!r}: no such image in the ground truth")
    aps = []
    for cat in cats:
        dets = sorted((d for d in detections if d.category == cat), key=lambda d: -float(d.score))
        matched: set[tuple[str, int]] = set()
        tp = []
        for d in dets:
            objs = [(k, m) for k, (c, m) in enumerate(gt[d.image_id]) if c == cat and (d.image_id, k) not in matched]
            best, best_k = -1.0, None
            for k, m in objs:
                f1 = compare_meshes(d.mesh, m, num_samples=num_samples, seed=seed, thresholds=(0.3,))["F1@0.3"].value
                if f1 > best:
                    best, best_k = f1, k
            hit = best_k is not None and best > f1_threshold
            if hit:
                matched.add((d.image_id, best_k))
            tp.append(hit)
        aps.append(100.0 * average_precision(tp, sum(c == cat for objs in gt.values() for c, _ in objs)))
    fp = make_fingerprint("ap_mesh", "bench3d.metrics.ap_mesh", match="F1@0.3 > threshold", f1_threshold=f1_threshold,
                          recall_points=101, protocol="meshrcnn", num_samples=num_samples)
    return MetricResult("AP-mesh", float(np.mean(aps)) if aps else float("nan"), aps, fp, unit="%",
                        higher_is_better=True, extra={"categories": cats})
