"""Mesh R-CNN (book ch. 10), ShapeNet setting: one object per image, no detection. Voxel branch, cubify,
refinement stages; the paper's ablation (voxels only vs voxels + refinement) and its sphere-init baseline;
the mean training shape of the category scored beside every case."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import torch

from bench.config import param
from bench.context import Context
from bench.methods import shape_eval as E
from bench.methods import single_view as SV
from bench.methods.predictions import read_predicted_meshes
from bench.metrics.units import ARBITRARY
from bench.suite import Case, MetricSpec, Profile, Suite


@dataclass(frozen=True)
class MeshRCNNConfig:
    """One Mesh R-CNN case (defaults: smoke-sized model, the paper's structure)."""

    mode: Literal["voxels", "voxmesh", "sphere"] = param(
        "voxmesh", "voxels: cubify only; voxmesh: cubify + refinement stages; sphere: refine an ico-sphere")
    data: Literal["generated", "r2n2"] = param("generated", SV.DATA_DOC)
    splits: str = param("", SV.SPLITS_DOC)
    categories: int = param(8, "number of procedural categories (chair, table, lamp, mug, bottle, airplane, car, "
                               "sofa); r2n2: the first synsets (sorted)")
    instances: int = param(16, "instances per category (the last test_instances are held out; r2n2: at most)")
    test_instances: int = param(4, "held-out instances per category")
    views: int = param(3, "rendered views per instance (one item each; r2n2: the first of the split's views)")
    image_size: int = param(64, "input image size in pixels (R2N2: 137)")
    voxel_size: int = param(32, "voxel grid G of the voxel branch (G^3, view frame)")
    iterations: int = param(20000, "training iterations (Adam)")
    batch: int = param(32, "images per training batch")
    lr: float = param(1e-3, "Adam learning rate")
    samples: int = param(5000, "points sampled per mesh for the training losses (Mesh R-CNN: 5000)")
    stages: int = param(3, "refinement stages (Mesh R-CNN: 3)")
    hidden: int = param(128, "vertex feature width of the refinement stages (Mesh R-CNN: 128)")
    graph_convs: int = param(3, "GraphConv layers per stage (Mesh R-CNN: 3)")
    width: int = param(64, "channel width of the CNN encoder's second block")
    cubify_thresh: float = param(0.2, "voxel probability threshold of cubify (Mesh R-CNN: 0.2)")
    sphere_level: int = param(4, "ico-sphere level of the sphere-init mode (Mesh R-CNN's Pixel2Mesh+: 4)")
    warmup: float = param(0.3, "share of iterations training the voxel branch alone before refinement joins")
    teacher: bool = param(False, "train the refinement on cubified ground-truth voxels (cheaper; test time always "
                                 "refines the cubified prediction)")
    eval_samples: int = param(10000, "points per mesh for the Mesh R-CNN-protocol evaluation (paper: 10k)")
    mesh_resolution: int = param(48, "marching-cubes grid of the generated ground-truth meshes")
    voxel_prior: Literal["none", "scalar", "grid"] = param(
        "none", "voxel logits' learned bias initialised to the log-odds of the mean training occupancy: none (the "
                "paper), scalar (Lin et al. 2017's prior init) or grid (per voxel: training starts at the mean shape)")
    schedule: Literal["constant", "cosine"] = param(
        "constant", "learning-rate schedule (Mesh R-CNN ShapeNet solver: constant; cosine with a 0.1 warm-up)")
    ema: float = param(0.0, "decay of an exponential moving average of the weights evaluated instead of the last "
                            "ones (Polyak & Juditsky 1992; BatchNorm statistics recomputed for it); 0: off")
    predictions: str | None = param(None, "a folder of predicted meshes <id>.obj/.ply (view frame) to score "
                                          "instead of training the built-in model")


class MeshRCNNSuite(Suite):
    name = "meshrcnn"
    description = ("Mesh R-CNN ShapeNet setting (book ch. 10): voxel branch + cubify + vert_align/GraphConv "
                   "refinement, voxels-only and sphere-init ablations, mean-shape baseline; Mesh R-CNN-protocol "
                   "Chamfer / normal / F1 per category on held-out instances.")
    Config = MeshRCNNConfig
    grid = {"mode": ["voxels", "voxmesh", "sphere"]}
    profiles = {
        # voxel_prior and schedule (and sphere's iterations / ema) chosen on a validation split of the training
        # instances (the last 3 of each category's 12), never on the test split: README "Measured" (meshrcnn row).
        "smoke": Profile({"iterations": 600, "batch": 12, "lr": 2e-3, "samples": 500, "stages": 2, "hidden": 32,
                          "graph_convs": 1, "width": 24, "sphere_level": 2, "eval_samples": 3000, "teacher": True,
                          "warmup": 0.5, "voxel_prior": "grid"},
                         per_case={"mode": {"voxels": {"schedule": "cosine"}, "voxmesh": {"schedule": "cosine"},
                                            "sphere": {"iterations": 900, "ema": 0.99}}},
                         description="CPU: small CNN, 2 refinement stages, 600 iterations (teacher-forced refinement); "
                                     "voxel logits start at the mean training grid; sphere: 900 iterations, "
                                     "evaluated on the weights' moving average"),
        "standard": Profile({"iterations": 20000, "image_size": 137, "instances": 64, "test_instances": 16,
                             "views": 8}, grid={"data": ["r2n2"]}, per_case={"data": {"r2n2": {"categories": 13}}},
                            description="one GPU: the paper's head sizes on R2N2's 137 px renders of 13 ShapeNet "
                                        "categories (r2n2/ + shapenetcore-v1/ under --data-root; --set "
                                        "data=generated for the generated ones; estimate in README)"),
        "full": Profile({"iterations": 100000, "image_size": 137, "instances": 256, "test_instances": 64,
                         "views": 24}, grid={"data": ["r2n2"]}, per_case={"data": {"r2n2": {"categories": 13}}},
                        description="longer training on more R2N2 models (the paper trains on all of them)"),
    }
    tiny = {"categories": 2, "instances": 3, "test_instances": 1, "views": 1, "image_size": 32, "voxel_size": 16,
            "iterations": 2, "batch": 2, "samples": 100, "stages": 1, "hidden": 8, "graph_convs": 1, "width": 8,
            "sphere_level": 1, "eval_samples": 300, "mesh_resolution": 20}
    datasets = SV.dataset_uses()
    metrics = (
        *E.mesh_metric_specs("", "model"),
        *E.baseline_metric_specs(),
        MetricSpec.of("iou", "voxel_iou", "voxel IoU of the voxel branch at cubify_thresh (view frame)"),
        MetricSpec("final_loss", ARBITRARY, False, "total training loss at the last iteration"),
        MetricSpec("inference_images_per_s", "images/s", True, "test images through the model per second"),
    )
    # Same evaluator, data and kind of training as single_view (same backend ops: cubify, GraphConv,
    # vert_align, sampling, Chamfer), so the same bounds. Measured only at reduced settings (run
    # 20261205-173205-63a8, 10 iterations, docs/backends.md): voxels all 23 metrics equal; voxmesh
    # Chamfer-L2 0.012%, normals 0.01%; sphere F1 0.015%, final loss 0.024%. The full smoke (600 iterations)
    # lands further apart on voxmesh and sphere: their case bounds below.
    backend_tolerances = E.shape_backend_tolerances(
        "float32 rounding amplified along training (bounds of single_view's smoke path; meshrcnn measured "
        "0.02% at 10 iterations)")
    # mode=voxmesh and mode=sphere: at full smoke (600 iterations) their metrics are not stable under rounding-level
    # input changes on ONE backend. Spread study (issue 22, scripts/backend_spread.py, smoke, --threads 1, lr 0.002
    # x (1 + d), d = +-1e-6, +-1e-5; docs/backends.md). voxmesh, built-in runs 20261206-024143-4d44, -031122-0c74,
    # -031923-833b, -032915-163d and the unperturbed 20261205-230711-c0d1: Chamfer-L2 0.946-1.456, F1@0.3 35.5-42.1,
    # F1@0.5 55.9-63.5, voxel IoU 0.320-0.377 (lr - 1e-6 lands in another basin); PyTorch3D 1.047, 41.9, 64.1, 0.377
    # (c0d1) and, at lr + 1e-6, 1.415, 38.6, 59.5, 0.343 (20261206-033551-2a99). sphere, built-in
    # 20261206-030543-8712, -031400-926c, -032433-4ba3, -032913-ba44 and c0d1: Chamfer-L2 0.737-0.812, F1@0.3
    # 42.4-46.8, F1@0.5 65.0-68.4; PyTorch3D 0.676, 48.5, 70.9 in c0d1 but 0.767, 43.2, 65.1 at lr + 1e-6
    # (20261206-033232-cfd9) and 0.797, 43.2, 65.6 at lr - 1e-6 (-033757-5a1a): PyTorch3D's own spread reaches into
    # the built-in's, so the c0d1 gap is one extreme draw of the same spread. Bounds: the range over both backends'
    # runs, rounded up, where it exceeds the suite-wide bound (normal consistency, F1@0.1 and the final loss stay
    # inside theirs).
    _SPREAD = "both backends' spread under lr x (1 +- 1e-6, 1e-5) at smoke (study in docs/backends.md)"
    backend_case_tolerances = {
        "mode=voxmesh": E.spread_case_tolerances(_SPREAD, {"chamfer_l2": 0.55, "f1@0.3": 7.0, "f1@0.5": 8.5,
                                                          "voxel_iou": 0.06}),
        "mode=sphere": E.spread_case_tolerances(_SPREAD, {"chamfer_l2": 0.15, "f1@0.3": 6.5, "f1@0.5": 6.5}),
    }

    def run(self, case: Case, ctx: Context) -> None:
        from suites.meshrcnn.model import MeshRCNN
        from suites.meshrcnn.train import LossWeights, predict, train

        c: MeshRCNNConfig = case.config
        B = ctx.backend
        with ctx.phase("setup", kind="setup"):
            data = SV.load_view_data(ctx, c.voxel_size, c)
            train_set, test_set = data.train, data.test
            model = MeshRCNN(B, c.mode, c.voxel_size, c.stages, c.hidden, c.graph_convs, c.width, c.cubify_thresh,
                             c.sphere_level, SV.sphere_radius_for(train_set.voxels), c.voxel_prior,
                             train_set.voxels).to(ctx.device)
        if c.predictions is not None:
            ctx.log(f"meshrcnn: scoring the predictions in {c.predictions} ({len(test_set)} test items)")
            probs, meshes, tr = None, read_predicted_meshes(c.predictions, test_set.ids), None
        else:
            ctx.log(f"meshrcnn {c.mode}: {len(train_set)} training / {len(test_set)} test images, "
                    f"{c.iterations} iterations on {ctx.device}")
            with ctx.phase("train_step", items_per_step=min(c.batch, len(train_set)), item_unit="images") as loop:
                tr = train(model, train_set, iterations=c.iterations, batch=c.batch, lr=c.lr, samples=c.samples,
                           warmup=c.warmup, weights=LossWeights(), seed=ctx.seed, device=ctx.device,
                           teacher=c.teacher, loop=loop, schedule=c.schedule, ema=c.ema)
            with ctx.phase("inference", kind="evaluate"):
                t0 = time.perf_counter()
                probs, meshes = predict(tr.model, test_set, c.batch, ctx.device)
                ctx.metric("inference_images_per_s", len(test_set) / max(time.perf_counter() - t0, 1e-9))
        with ctx.phase("evaluate", kind="evaluate"):
            res = E.score_meshes(meshes, test_set, num_samples=c.eval_samples, seed=ctx.seed)
            rows = {c.predictions and "predictions" or f"meshrcnn ({c.mode})": E.record_meshes(ctx, res, test_set),
                    **E.record_baselines(ctx, data.train, data.means, test_set, num_samples=c.eval_samples,
                                            seed=ctx.seed)}
        if probs is not None:
            ctx.metric("voxel_iou", E.voxel_iou(probs, test_set, c.cubify_thresh), item_ids=test_set.ids)
        ctx.text("table", E.table(rows, E.counts_of(test_set.categories)), kind="table", suffix=".md")
        if tr is not None:
            ctx.metric("final_loss", tr.losses[-1])
            ctx.curve("loss_curve", list(range(len(tr.losses))), {k: v for k, v in tr.curve.items()
                                                                   if any(x == x for x in v)}, y_label="loss")
        k = min(4, len(test_set))
        truth = E.render_items(B, list(zip(test_set.verts[:k], test_set.faces[:k], strict=True)), test_set,
                               test_set.images.shape[-1])
        pred = E.render_items(B, meshes[:k], test_set, test_set.images.shape[-1])
        ctx.image("input_truth_prediction", E.comparison_strip(test_set, pred, truth, k))
        torch.save({"ids": test_set.ids[:k], "meshes": meshes[:k]}, ctx.artifact_path("predicted_meshes.pt"))
        ctx.artifact_file("predicted_meshes", ctx.artifact_path("predicted_meshes.pt"), "mesh")
