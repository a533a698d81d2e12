"""The evaluator shared by `meshrcnn` and `single_view`: predicted meshes against the view-frame ground
truth under Mesh R-CNN's scale-normalised protocol (:func:`bench.metrics.compare_meshes`), per-instance
values kept, per-category rows, and the category mean beside the instance mean (the layout of the
Mesh R-CNN ShapeNet table); voxel IoU where voxels are predicted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from bench.methods.single_view import ShapeSet
from bench.suite import BackendTolerance, MetricSpec

MESH_KEYS = {"chamfer_l2": "Chamfer-L2", "normal_consistency": "AbsNormalConsistency", "f1@0.1": "F1@0.1",
             "f1@0.3": "F1@0.3", "f1@0.5": "F1@0.5"}
_IMPL = {"chamfer_l2": "chamfer_l2", "normal_consistency": "abs_normal_consistency", "f1@0.1": "f1",
         "f1@0.3": "f1", "f1@0.5": "f1"}


def mesh_metric_specs(prefix: str = "", what: str = "prediction") -> tuple[MetricSpec, ...]:
    """Instance means (per-item values kept) and category means of the five Mesh R-CNN table columns."""
    out = []
    for name, impl in _IMPL.items():
        out.append(MetricSpec.of(impl, f"{prefix}{name}", f"{what}: {name} under the Mesh R-CNN protocol, "
                                                          "mean over test items"))
        spec = MetricSpec.of(impl)
        out.append(MetricSpec(f"{prefix}{name}_category_mean", spec.unit, spec.higher_is_better,
                              f"{what}: {name}, mean of the per-category means"))
    return tuple(out)


# The mean-shape baselines (issue 16: "the mean training shape of the category (or of all)"), by metric prefix.
# The first two never see the test item: they are the constant (or per-category constant) prediction in the
# view frame the models predict in. The oracle also gets the item's true camera rotation, which a model must
# infer from the image: it is kept so nothing is hidden, never as the bar for "learned something".
BASELINES = {
    "baseline_all_": "mean shape (all)",
    "baseline_category_": "mean shape (category)",
    "baseline_oracle_": "mean shape, category + true pose (oracle)",
}
_BASELINE_WHAT = {
    "baseline_all_": "mean view-frame occupancy of all training images (input-blind), at its training-IoU-best "
                     "threshold",
    "baseline_category_": "mean view-frame occupancy of the category's training images (given the category), at "
                          "the category's training-IoU-best threshold",
    "baseline_oracle_": "ORACLE: the category's mean object-frame occupancy rotated by the item's true camera, at 0.5",
}
BASELINE_THRESHOLD = 0.5  # the oracle's (unchanged from its first version); input-blind grids are {0, 1} by then
# Candidate thresholds of the input-blind means, chosen on TRAINING items only (:func:`best_threshold`).
THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))


def baseline_metric_specs() -> tuple[MetricSpec, ...]:
    """The metrics :func:`record_baselines` records: per baseline, the mesh columns and voxel IoU."""
    out: list[MetricSpec] = []
    for prefix, what in _BASELINE_WHAT.items():
        out += [*mesh_metric_specs(prefix, what), MetricSpec.of("iou", f"{prefix}voxel_iou", f"voxel IoU: {what}")]
    return tuple(out)


def shape_backend_tolerances(path_why: str) -> dict[str, BackendTolerance]:
    """Backend tolerances of the trained model's Mesh R-CNN columns, voxel IoU and final loss, and of the
    mean-shape baseline, for suites scored by this module (single_view, meshrcnn).

    The baseline is not trained (the same mean occupancy cubified and sampled with the same seed on both
    backends): rounding only, rel 1e-4 (measured equal). The model's metrics follow a training path on
    which float32 rounding of the backend ops is amplified; the bounds are about 3-5x the largest
    differences measured at smoke (docs/backends.md: single_view run 20261205-180725-4f52, Chamfer-L2
    0.9%, F1 0.6 points, normal consistency 0.006, final loss 6%); ``path_why`` says so per suite.
    """
    model = {"chamfer_l2": BackendTolerance(rel=0.05, why=path_why),
             "normal_consistency": BackendTolerance(abs=0.03, why=path_why),
             **{n: BackendTolerance(abs=2.0, why=path_why) for n in _IMPL if n.startswith("f1@")}}
    out = {}
    for name, tol in model.items():
        out[name] = out[f"{name}_category_mean"] = tol
        base = BackendTolerance(rel=1e-4, abs=1e-6, why="untrained mean shape, same samples: rounding only")
        for prefix in BASELINES:
            out[f"{prefix}{name}"] = out[f"{prefix}{name}_category_mean"] = base
    out["voxel_iou"] = BackendTolerance(abs=0.01, why=path_why)
    for prefix in BASELINES:
        out[f"{prefix}voxel_iou"] = BackendTolerance(abs=1e-6, why="untrained mean shape: rounding only")
    out["final_loss"] = BackendTolerance(rel=0.2, why=path_why)
    return out


def spread_case_tolerances(why: str, bounds: dict[str, float]) -> dict[str, BackendTolerance]:
    """A case's backend bounds from a spread study (``scripts/backend_spread.py``): metric -> absolute bound (the
    built-in backend's range under rounding-level input changes, rounded up), for the metric and its
    ``_category_mean`` twin; ``why`` names the study and its runs."""
    out = {}
    for name, bound in bounds.items():
        tol = BackendTolerance(abs=bound, why=why)
        out[name] = tol
        if name in _IMPL:  # the model's mesh metrics have a per-category-mean twin
            out[f"{name}_category_mean"] = tol
    return out


def view_mean_shapes(train: ShapeSet) -> dict[str, torch.Tensor]:
    """Mean view-frame occupancy (G, G, G) of each category's training items (instance x view), and of all
    training items ("*"): what a model ignoring its image (but told the category) would predict."""
    by_cat: dict[str, list[int]] = {}
    for i, c in enumerate(train.categories):
        by_cat.setdefault(c, []).append(i)
    out = {c: train.voxels[idx].float().mean(0) for c, idx in sorted(by_cat.items())}
    out["*"] = train.voxels.float().mean(0)
    return out


def best_threshold(mean: torch.Tensor, voxels: torch.Tensor) -> float:
    """The threshold of :data:`THRESHOLDS` whose ``mean > t`` (G, G, G) has the highest mean voxel IoU against the
    training grids ``voxels`` (N, G, G, G) (ties: the lowest): the baseline is not handicapped by a fixed 0.5
    (the mean over all views is faint), and the choice never sees a test item."""
    gt = voxels > 0.5
    best, best_iou = THRESHOLDS[0], -1.0
    for t in THRESHOLDS:
        p = (mean > t)[None]
        iou = float(((p & gt).flatten(1).sum(1) / (p | gt).flatten(1).sum(1).clamp(min=1)).mean())
        if iou > best_iou + 1e-12:
            best, best_iou = t, iou
    return best


def input_blind_thresholds(train: ShapeSet, view: dict[str, torch.Tensor]) -> dict[str, float]:
    """:func:`best_threshold` of each category's view-frame mean on its training items, and of the mean of all
    ("*") on all training items."""
    out = {"*": best_threshold(view["*"], train.voxels)}
    for c in view:
        if c != "*":
            out[c] = best_threshold(view[c], train.voxels[[i for i, k in enumerate(train.categories) if k == c]])
    return out


def baseline_predictions(train: ShapeSet, means: dict[str, torch.Tensor], test: ShapeSet
                         ) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Grids (N, G, G, G) of each baseline (by :data:`BASELINES` prefix) for the test items, to cubify at
    :data:`BASELINE_THRESHOLD`, and the input-blind thresholds: the input-blind means from ``train`` only,
    binarised at their training-chosen thresholds ({0, 1}); the oracle's probabilities from the object-frame
    ``means`` (:func:`bench.methods.single_view.mean_shapes`) rotated by each test item's true camera."""
    from bench.methods.single_view import mean_shape_prediction

    view = view_mean_shapes(train)
    missing = sorted(set(test.categories) - set(view))
    if missing:
        raise ValueError(f"mean-shape baseline: test categories {missing} have no training items")
    th = input_blind_thresholds(train, view)
    every = (view["*"] > th["*"]).float()
    return {"baseline_all_": every.expand(len(test), *every.shape),
            "baseline_category_": torch.stack([(view[c] > th[c]).float() for c in test.categories]),
            "baseline_oracle_": mean_shape_prediction(means, test)}, th


def record_baselines(ctx: Any, train: ShapeSet, means: dict[str, torch.Tensor], gt: ShapeSet, *,
                     num_samples: int, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """Score and record every mean-shape baseline (:data:`BASELINES`; :func:`baseline_predictions` cubified at
    :data:`BASELINE_THRESHOLD`, per-item values kept); return {table name: its table rows}."""
    from bench.methods.single_view import voxel_meshes

    rows = {}
    grids, th = baseline_predictions(train, means, gt)
    ctx.log("mean-shape baselines: training-IoU-best thresholds " + ", ".join(f"{c} {t:g}" for c, t in th.items()))
    for prefix, probs in grids.items():
        res = score_meshes(voxel_meshes(ctx.backend, probs, BASELINE_THRESHOLD), gt, num_samples=num_samples,
                           seed=seed)
        ctx.metric(f"{prefix}voxel_iou", voxel_iou(probs, gt, BASELINE_THRESHOLD), item_ids=gt.ids)
        rows[BASELINES[prefix]] = record_meshes(ctx, res, gt, prefix)
    return rows


def score_meshes(pred: Sequence[tuple[torch.Tensor, torch.Tensor]], gt: ShapeSet, *, num_samples: int,
                 seed: int) -> dict[str, Any]:
    """compare_meshes (protocol "meshrcnn") of N predicted (verts, faces) against the N ground-truth meshes."""
    from bench.metrics import compare_meshes

    if len(pred) != len(gt):
        raise ValueError(f"{len(pred)} predicted meshes for {len(gt)} ground-truth items")
    return compare_meshes(([p[0].detach().cpu().float() for p in pred], [p[1].cpu() for p in pred]),
                          (gt.verts, gt.faces), protocol="meshrcnn", num_samples=num_samples, seed=seed)


def category_means(items: Sequence[float], categories: Sequence[str]) -> dict[str, float]:
    """Mean of the items of each category (sorted by name)."""
    acc: dict[str, list[float]] = {}
    for v, c in zip(items, categories, strict=True):
        acc.setdefault(c, []).append(float(v))
    return {c: sum(v) / len(v) for c, v in sorted(acc.items())}


def record_meshes(ctx: Any, results: dict[str, Any], gt: ShapeSet, prefix: str = "") -> dict[str, dict[str, float]]:
    """Record the instance means (with per-item ids) and category means; return {column: {category: mean}}."""
    rows = {}
    for name, key in MESH_KEYS.items():
        res = results[key]
        ctx.metric(f"{prefix}{name}", res, item_ids=gt.ids)
        per_cat = category_means(res.items, gt.categories)
        rows[name] = per_cat
        ctx.metric(f"{prefix}{name}_category_mean", sum(per_cat.values()) / len(per_cat),
                   fingerprint={**res.fingerprint, "aggregation": "mean of per-category means"})
    return rows


def table(rows: dict[str, dict[str, dict[str, float]]], counts: dict[str, int]) -> str:
    """Markdown: per method, one row per category plus the category mean and the instance mean (Mesh R-CNN
    ShapeNet table layout: Chamfer, Normal, F1@0.1, F1@0.3, F1@0.5)."""
    cols = list(MESH_KEYS)
    lines = ["| method | category | n | " + " | ".join(cols) + " |", "|---|---|---|" + "---|" * len(cols)]
    total = sum(counts.values())
    for method, r in rows.items():
        cats = sorted(r[cols[0]])
        for c in cats:
            vals = " | ".join(f"{r[k][c]:.4g}" for k in cols)
            lines.append(f"| {method} | {c} | {counts.get(c, 0)} | {vals} |")
        cm = [sum(r[k].values()) / len(r[k]) for k in cols]
        im = [sum(r[k][c] * counts.get(c, 0) for c in cats) / max(total, 1) for k in cols]
        lines.append(f"| {method} | category mean | {len(cats)} | " + " | ".join(f"{v:.4g}" for v in cm) + " |")
        lines.append(f"| {method} | instance mean | {total} | " + " | ".join(f"{v:.4g}" for v in im) + " |")
    return "\n".join(lines) + "\n"


def counts_of(categories: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in categories:
        out[c] = out.get(c, 0) + 1
    return out


def voxel_iou(probs: torch.Tensor, gt: ShapeSet, threshold: float) -> Any:
    """bench.metrics.iou of (N, G, G, G) probabilities against the view-frame voxels at ``threshold``."""
    from bench.metrics import iou

    return iou(probs.detach().cpu().float().clamp(0.0, 1.0), gt.voxels > 0.5, threshold=threshold)


def comparison_strip(gt: ShapeSet, renders: torch.Tensor, truth: torch.Tensor, k: int = 4) -> torch.Tensor:
    """(k*H, 3*W, 3) rows of [input image | ground-truth render | prediction render] for the first k items."""
    rows = []
    for i in range(min(k, len(gt))):
        rows.append(torch.cat([gt.images[i].permute(1, 2, 0), truth[i], renders[i]], 1))
    return torch.cat(rows, 0).clamp(0, 1)


def render_items(backend: Any, meshes: Sequence[tuple[torch.Tensor, torch.Tensor]], gt: ShapeSet, size: int
                 ) -> torch.Tensor:
    """(N, S, S, 3) Phong renders of view-frame meshes seen by each item's camera (R = I, T), on white."""
    from bench.data.generated.render import render, vertex_colours

    out = []
    for i, (v, f) in enumerate(meshes):
        v = v.detach().cpu().float()
        m = backend.structures.Meshes([v], [f.cpu()], textures=backend.renderer.TexturesVertex(
            verts_features=[vertex_colours(v)]))
        out.append(render(backend, m, torch.eye(3)[None], gt.T[i:i + 1], float(gt.fov[i]), size)["images"][0])
    return torch.stack(out)


def record_points(ctx: Any, points: torch.Tensor, gt: ShapeSet, num_samples: int, seed: int
                  ) -> dict[str, dict[str, float]]:
    """Score predicted clouds (N, P, 3) with bench.metrics.chamfer_distance / f1_score against ``num_samples``
    points of each ground-truth mesh, both scaled so the ground truth's longest bounding-box edge is 10 (the
    Mesh R-CNN scale); normal consistency is not defined for points. Records instance and category means."""
    from bench import backends
    from bench.metrics import chamfer_distance, f1_score
    from bench.metrics.meshes import GT_LONG_EDGE, GT_SEED_OFFSET, _sample

    ns = backends.load("auto")
    pred, truth = [], []
    for i, (v, f) in enumerate(zip(gt.verts, gt.faces, strict=True)):
        s = GT_LONG_EDGE / float((v.amax(0) - v.amin(0)).max())
        truth.append(_sample(v * s, f, num_samples, seed + i + GT_SEED_OFFSET, ns)[0])
        pred.append(points[i].double() * s)
    results = {"chamfer_l2": chamfer_distance(pred, truth)}
    results.update({f"f1@{t}": f1_score(pred, truth, t) for t in (0.1, 0.3, 0.5)})
    rows = {}
    for name, res in results.items():
        ctx.metric(name, res, item_ids=gt.ids)
        rows[name] = category_means(res.items, gt.categories)
        ctx.metric(f"{name}_category_mean", sum(rows[name].values()) / len(rows[name]),
                   fingerprint={**res.fingerprint, "aggregation": "mean of per-category means", "scale": "gt-10"})
    return rows
