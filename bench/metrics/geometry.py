"""Point-set metrics: Chamfer-L2, normal consistency and F1@t, one value per cloud pair.

Conventions (Mesh R-CNN's ``compare_meshes``): Chamfer-L2 is the mean squared nearest-neighbour
distance in each direction, summed over the two directions; normal consistency is the mean cosine
between a point's normal and its nearest neighbour's, averaged over both directions (absolute value
by default); F1@t is the harmonic mean of precision and recall in percent, with unsquared distances
and strict ``< t``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bench.metrics import validate as V
from bench.metrics.accumulate import from_items
from bench.metrics.fingerprint import MetricResult, make_fingerprint
from bench.metrics.nearest import nearest
from bench.metrics.units import LENGTH, SQUARED_LENGTH

F1_EPS = 1e-8  # in the denominator of F1, as Mesh R-CNN


def as_clouds(x: Any, name: str, lengths: Any = None) -> list[torch.Tensor]:
    """Point clouds as a list of (P_i, 3) float64 tensors.

    Accepts (P, 3), padded (N, P, 3) with optional ``lengths`` (N,), a list of (P_i, 3), or a
    Pointclouds-like object with ``points_list()``.
    """
    if hasattr(x, "points_list"):
        x = x.points_list()
    if isinstance(x, (list, tuple)):
        clouds = [V.as_tensor(c, f"{name}[{i}]") for i, c in enumerate(x)]
        if lengths is not None:
            raise ValueError(f"{name}_lengths: only valid with a padded (N, P, 3) tensor")
    else:
        t = V.as_tensor(x, name)
        V.check_ndim(t, name, (2, 3), "(P, 3) or (N, P, 3)")
        if t.ndim == 2:
            t = t[None]
        if lengths is None:
            clouds = list(t)
        else:
            ln = V.as_tensor(lengths, f"{name}_lengths", dtype=torch.int64)
            if tuple(ln.shape) != (t.shape[0],) or bool((ln < 0).any()) or bool((ln > t.shape[1]).any()):
                raise ValueError(f"{name}_lengths: expected ({t.shape[0]},) ints in [0, {t.shape[1]}], "
                                 f"got {ln.tolist()}")
            clouds = [t[i, : int(n)] for i, n in enumerate(ln)]
    if not clouds:
        raise ValueError(f"{name}: no point clouds given")
    for i, c in enumerate(clouds):
        V.check_ndim(c, f"{name}[{i}]", 2, "(P, 3)")
        V.check_last_dim(c, f"{name}[{i}]", 3, "(P, 3)")
        if c.shape[0] == 0:
            raise ValueError(f"{name}[{i}]: empty point set")
    return clouds


@dataclass
class PairNN:
    """Nearest neighbours of one cloud pair, both directions (squared distances in float64)."""

    d2_xy: torch.Tensor
    idx_xy: torch.Tensor
    d2_yx: torch.Tensor
    idx_yx: torch.Tensor


def pair_nn(xs: list[torch.Tensor], ys: list[torch.Tensor], knn: str, names: tuple[str, str] = ("x", "y")
            ) -> list[PairNN]:
    if len(xs) != len(ys):
        raise ValueError(f"{names[1]}: {len(ys)} point sets but {names[0]} has {len(xs)}")
    out = []
    for x, y in zip(xs, ys, strict=True):
        d_xy, i_xy = nearest(x, y, knn)
        d_yx, i_yx = nearest(y, x, knn)
        out.append(PairNN(d_xy, i_xy, d_yx, i_yx))
    return out


def chamfer_items(nn: PairNN, squared: bool = True) -> float:
    if squared:
        return float(nn.d2_xy.mean() + nn.d2_yx.mean())
    return float(nn.d2_xy.sqrt().mean() + nn.d2_yx.sqrt().mean())


def normal_items(nn: PairNN, xn: torch.Tensor, yn: torch.Tensor, absolute: bool) -> float:
    cos_xy = torch.nn.functional.cosine_similarity(xn, yn[nn.idx_xy], dim=-1, eps=1e-8)
    cos_yx = torch.nn.functional.cosine_similarity(yn, xn[nn.idx_yx], dim=-1, eps=1e-8)
    if absolute:
        cos_xy, cos_yx = cos_xy.abs(), cos_yx.abs()
    return float(0.5 * (cos_xy.mean() + cos_yx.mean()))


def f1_items(nn: PairNN, threshold: float) -> tuple[float, float, float]:
    """(precision, recall, F1) in percent; precision is over x (predictions), recall over y (truth)."""
    t2 = threshold * threshold
    # d < t  <=>  d^2 < t^2 for non-negative d; comparing squares avoids a sqrt per point.
    precision = 100.0 * float((nn.d2_xy < t2).to(torch.float64).mean())
    recall = 100.0 * float((nn.d2_yx < t2).to(torch.float64).mean())
    return precision, recall, 2.0 * precision * recall / (precision + recall + F1_EPS)


def _normals(n: Any, clouds: list[torch.Tensor], name: str) -> list[torch.Tensor]:
    """Normals in the same forms as the points; a padded tensor is cut to each cloud's length."""
    if hasattr(n, "normals_list"):
        n = n.normals_list()
    if isinstance(n, (list, tuple)):
        ns = as_clouds(n, name)
    else:
        t = V.as_tensor(n, name)
        t = t[None] if t.ndim == 2 else t
        V.check_ndim(t, name, 3, "(P, 3) or (N, P, 3)")
        if len(t) != len(clouds):
            raise ValueError(f"{name}: {len(t)} normal sets for {len(clouds)} point sets")
        ns = [t[i, : c.shape[0]] for i, c in enumerate(clouds)]
    if len(ns) != len(clouds):
        raise ValueError(f"{name}: {len(ns)} normal sets for {len(clouds)} point sets")
    for i, (c, m) in enumerate(zip(clouds, ns, strict=True)):
        if m.shape != c.shape:
            raise ValueError(f"{name}[{i}]: shape {tuple(m.shape)} does not match its points {tuple(c.shape)}")
    return ns


def chamfer_distance(x: Any, y: Any, *, x_lengths: Any = None, y_lengths: Any = None, squared: bool = True,
                     knn: str = "auto") -> MetricResult:
    """Chamfer distance per cloud pair: mean NN distance x->y plus mean y->x; squared by default (Chamfer-L2).

    Args:
        x, y: (P, 3), padded (N, P, 3) with ``*_lengths`` (N,), or lists of (P_i, 3) clouds.
        squared: True for squared distances (Chamfer-L2); False for unsquared ("L1"-style) distances.
        knn: "auto" (KD-tree on CPU, brute force on CUDA), "kdtree" or "torch"; same values either way.
    """
    xs, ys = as_clouds(x, "x", x_lengths), as_clouds(y, "y", y_lengths)
    nns = pair_nn(xs, ys, knn)
    fp = make_fingerprint("chamfer", "bench3d.metrics.chamfer_distance", squared=squared,
                          reduction="mean per direction, summed", points="as given")
    return from_items("Chamfer-L2" if squared else "Chamfer", [chamfer_items(n, squared) for n in nns], fp,
                      unit=SQUARED_LENGTH if squared else LENGTH, higher_is_better=False)


def normal_consistency(x: Any, y: Any, x_normals: Any, y_normals: Any, *, absolute: bool = True,
                       knn: str = "auto") -> MetricResult:
    """Normal consistency per cloud pair: mean (absolute) cosine between each normal and its NN's normal.

    Args:
        x, y: point clouds as in :func:`chamfer_distance`; x_normals, y_normals: matching (P_i, 3) normals.
        absolute: |cos| (Mesh R-CNN's "AbsNormalConsistency", reported as "normal") or signed cos.
    """
    xs, ys = as_clouds(x, "x"), as_clouds(y, "y")
    xn, yn = _normals(x_normals, xs, "x_normals"), _normals(y_normals, ys, "y_normals")
    nns = pair_nn(xs, ys, knn)
    fp = make_fingerprint("normal_consistency", "bench3d.metrics.normal_consistency", absolute=absolute,
                          reduction="mean per direction, averaged")
    items = [normal_items(n, a, b, absolute) for n, a, b in zip(nns, xn, yn, strict=True)]
    return from_items("AbsNormalConsistency" if absolute else "NormalConsistency", items, fp, higher_is_better=True)


def f1_score(x: Any, y: Any, threshold: float, *, knn: str = "auto") -> MetricResult:
    """F1@threshold in percent per cloud pair, x the prediction and y the ground truth.

    Precision: share of x within ``threshold`` (unsquared, strict) of y; recall: share of y within
    ``threshold`` of x. ``extra`` holds ``precision``/``recall`` means and per-item lists.
    """
    if not float(threshold) > 0:
        raise ValueError(f"threshold: expected a positive distance, got {threshold!r}")
    xs, ys = as_clouds(x, "x"), as_clouds(y, "y")
    prf = [f1_items(n, float(threshold)) for n in pair_nn(xs, ys, knn)]
    return f1_result(prf, float(threshold), make_fingerprint(
        "f1", "bench3d.metrics.f1_score", threshold=float(threshold), distance="unsquared", comparison="<",
        unit="percent"))


def f1_result(prf: Sequence[tuple[float, float, float]], threshold: float, fp: dict[str, Any]) -> MetricResult:
    return from_items(f"F1@{threshold:g}", [f for _, _, f in prf], fp, unit="%", higher_is_better=True,
                      extra={"precision_items": [p for p, _, _ in prf], "recall_items": [r for _, r, _ in prf],
                             "precision": sum(p for p, _, _ in prf) / len(prf),
                             "recall": sum(r for _, r, _ in prf) / len(prf)})
