"""Body / keypoint metrics: MPJPE, PA-MPJPE, 2D reprojection error and PCK, one value per sample.

Distances are in the input units (Human3.6M tables use millimetres). PA-MPJPE aligns each predicted
skeleton to the truth with the similarity transform (scale, rotation, translation) that minimises the
squared error, with the reflection fix (det R = +1), as in the HMR / SMPLify evaluation code.
"""

from __future__ import annotations

from typing import Any

import torch

from bench.metrics import validate as V
from bench.metrics.accumulate import from_items
from bench.metrics.fingerprint import MetricResult, make_fingerprint


def _joints(pred: Any, gt: Any, dims: tuple[int, ...], visibility: Any = None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validated (N, J, D) pair and (N, J) float visibility weights (ones when not given)."""
    shape = f"(N, J, {'|'.join(map(str, dims))})"
    p = V.as_tensor(pred, "pred")
    V.check_ndim(p, "pred", 3, shape)
    if p.shape[-1] not in dims:
        raise ValueError(f"pred: expected shape {shape}, got {tuple(p.shape)}")
    g = V.as_tensor(gt, "gt", device=p.device)
    V.check_same_shape(p, g, "pred", "gt")
    V.check_nonempty(p, "pred")
    if visibility is None:
        vis = torch.ones(p.shape[:2], dtype=p.dtype, device=p.device)
    else:
        vis = V.as_tensor(visibility, "visibility", allow_bool=True, device=p.device).to(p.dtype)
        if tuple(vis.shape) != tuple(p.shape[:2]):
            raise ValueError(f"visibility: expected shape {tuple(p.shape[:2])}, got {tuple(vis.shape)}")
        V.check_in_range(vis, "visibility", 0.0, 1.0, rel_tol=0.0)
        empty = torch.nonzero(vis.sum(1) == 0).flatten()
        if len(empty):
            raise ValueError(f"visibility: sample(s) {empty.tolist()} have no visible joint")
    return p, g, vis


def _weighted_mean(err: torch.Tensor, vis: torch.Tensor) -> list[float]:
    return [float(v) for v in ((err * vis).sum(1) / vis.sum(1)).cpu()]


def _unit(unit: str) -> dict[str, str]:
    """The fingerprint entry of a named input unit ("mm"); none when the unit is left unnamed, so that the
    fingerprints of unit-less results stay what they were."""
    if not isinstance(unit, str):
        raise ValueError(f"unit: expected a string such as 'mm', got {unit!r}")
    return {"unit": unit} if unit else {}


def mpjpe(pred: Any, gt: Any, visibility: Any = None, *, root: int | None = None, unit: str = "") -> MetricResult:
    """Mean per-joint position error per sample: mean over joints of ||pred - gt||.

    Args:
        pred, gt: (N, J, 3) joints. root: if given, both skeletons are first centred on that joint
            (Human3.6M protocol 1). visibility: optional (N, J) weights in [0, 1].
        unit: the unit of the inputs (and so of the result), e.g. "mm"; recorded and fingerprinted when given.
    """
    p, g, vis = _joints(pred, gt, (3,), visibility)
    if root is not None:
        if not 0 <= root < p.shape[1]:
            raise ValueError(f"root: joint index {root} outside [0, {p.shape[1] - 1}]")
        p, g = p - p[:, root: root + 1], g - g[:, root: root + 1]
    fp = make_fingerprint("mpjpe", "bench3d.metrics.mpjpe", root=root, alignment="none" if root is None else "root",
                          visibility=visibility is not None, **_unit(unit))
    return from_items("MPJPE", _weighted_mean((p - g).norm(dim=-1), vis), fp, unit=unit, higher_is_better=False)


def similarity_align(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Align each (J, 3) skeleton of ``pred`` (N, J, 3) to ``gt`` by scale, rotation (det +1) and translation."""
    mu_p, mu_g = pred.mean(1, keepdim=True), gt.mean(1, keepdim=True)
    x, y = pred - mu_p, gt - mu_g
    var = x.square().sum((1, 2))
    if bool((var == 0).any()):
        raise ValueError(f"pred: sample(s) {torch.nonzero(var == 0).flatten().tolist()} have all joints at one point")
    u, s, vh = torch.linalg.svd(x.transpose(1, 2) @ y)  # H = X^T Y = U S V^T
    d = torch.ones_like(s)
    d[:, -1] = torch.sign(torch.linalg.det(u @ vh))  # reflection fix
    d[d == 0] = 1.0
    rot = u @ torch.diag_embed(d) @ vh  # X @ rot best matches Y
    scale = (s * d).sum(1) / var
    return scale[:, None, None] * (x @ rot) + mu_g


def pa_mpjpe(pred: Any, gt: Any, visibility: Any = None, *, unit: str = "") -> MetricResult:
    """Procrustes-aligned MPJPE per sample (Human3.6M protocol 2, "reconstruction error").

    Args:
        pred, gt: (N, J, 3) joints; the alignment uses all joints, the error the visible ones.
        unit: the unit of the inputs (and so of the result), e.g. "mm"; recorded and fingerprinted when given.
    """
    p, g, vis = _joints(pred, gt, (3,), visibility)
    aligned = similarity_align(p, g)
    fp = make_fingerprint("pa_mpjpe", "bench3d.metrics.pa_mpjpe", alignment="similarity (scale, rotation det+1, "
                          "translation), per sample", visibility=visibility is not None, **_unit(unit))
    return from_items("PA-MPJPE", _weighted_mean((aligned - g).norm(dim=-1), vis), fp, unit=unit,
                      higher_is_better=False)


def reprojection_error_px(pred_2d: Any, gt_2d: Any, visibility: Any = None) -> MetricResult:
    """Mean 2D distance in pixels between projected and observed keypoints, per sample.

    Args:
        pred_2d, gt_2d: (N, J, 2) pixel coordinates. visibility: optional (N, J) weights (e.g. detector confidence > 0).
    """
    p, g, vis = _joints(pred_2d, gt_2d, (2,), visibility)
    fp = make_fingerprint("reprojection_error", "bench3d.metrics.reprojection_error_px", unit="px",
                          visibility=visibility is not None)
    return from_items("ReprojectionError", _weighted_mean((p - g).norm(dim=-1), vis), fp, unit="px",
                      higher_is_better=False)


def pck(pred: Any, gt: Any, threshold: float, *, normalizer: Any = None, visibility: Any = None) -> MetricResult:
    """Percentage of correct keypoints per sample: share of visible joints within the threshold, in percent.

    Args:
        pred, gt: (N, J, 2) or (N, J, 3). threshold: distance in input units, or a fraction of
            ``normalizer`` (N,) per sample (e.g. head size for PCKh, bbox size) when that is given.
    """
    if not float(threshold) > 0:
        raise ValueError(f"threshold: expected a positive value, got {threshold!r}")
    p, g, vis = _joints(pred, gt, (2, 3), visibility)
    limit = torch.full((p.shape[0],), float(threshold), dtype=p.dtype, device=p.device)
    if normalizer is not None:
        norm = V.as_tensor(normalizer, "normalizer", device=p.device)
        if tuple(norm.shape) != (p.shape[0],) or bool((norm <= 0).any()):
            raise ValueError(f"normalizer: expected ({p.shape[0]},) positive values, got shape {tuple(norm.shape)}")
        limit = limit * norm
    ok = ((p - g).norm(dim=-1) < limit[:, None]).to(p.dtype)
    fp = make_fingerprint("pck", "bench3d.metrics.pck", threshold=float(threshold), comparison="<",
                          normalized=normalizer is not None, unit="percent", visibility=visibility is not None)
    return from_items(f"PCK@{float(threshold):g}", [100.0 * v for v in _weighted_mean(ok, vis)], fp, unit="%",
                      higher_is_better=True)
