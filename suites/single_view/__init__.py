"""Single-view 3D reconstruction ("Learning 3D Vision with Inverse Graphics" write-up): one image encoder, three
decoders (voxels, points, ico-sphere mesh) on the ShapeNet-like data shared with `meshrcnn`, scored by the
same evaluator, beside the mean-shape baseline."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from bench.config import param
from bench.context import Context
from bench.methods import shape_eval as E
from bench.methods import single_view as SV
from bench.metrics.units import ARBITRARY
from bench.suite import Case, MetricSpec, Profile, Suite


@dataclass(frozen=True)
class SingleViewConfig:
    """One decoder case (defaults: the write-up's sizes where it gives them)."""

    decoder: Literal["voxel", "point", "mesh"] = param("voxel", "what the latent vector is decoded into")
    data: Literal["generated", "r2n2"] = param("generated", SV.DATA_DOC)
    splits: str = param("", SV.SPLITS_DOC)
    categories: int = param(8, "number of procedural categories (r2n2: the first synsets, sorted)")
    instances: int = param(16, "instances per category (the last test_instances are held out; r2n2: at most)")
    test_instances: int = param(4, "held-out instances per category")
    views: int = param(3, "rendered views per instance (r2n2: the first of the split's views)")
    image_size: int = param(64, "input image size in pixels")
    voxel_size: int = param(32, "voxel grid G (write-up: 32^3)")
    points: int = param(5000, "points of the point decoder (write-up: n points, 5000 here)")
    sphere_level: int = param(4, "ico-sphere level of the mesh decoder (write-up: 4)")
    smooth_weight: float = param(0.1, "Laplacian smoothing weight of the mesh decoder")
    iterations: int = param(10000, "training iterations (Adam)")
    batch: int = param(32, "images per batch")
    lr: float = param(4e-4, "Adam learning rate (write-up: 4e-4)")
    width: int = param(64, "channel width of the CNN encoder's second block")
    latent: int = param(512, "latent vector size")
    samples: int = param(5000, "points sampled per mesh for the mesh decoder's Chamfer loss")
    eval_samples: int = param(10000, "points per mesh (or GT samples for points) in the evaluation (paper: 10k)")
    mesh_resolution: int = param(48, "marching-cubes grid of the generated ground-truth meshes")
    pos_weight: float = param(0.0, "BCE positive-class weight of the voxel decoder; 0: the training set's "
                                   "empty/occupied ratio (the write-up's weighting)")
    voxel_prior: Literal["none", "scalar", "grid"] = param(
        "none", "voxel decoder's learned bias initialised to the log-odds of the mean training occupancy (plus "
                "log pos_weight, the weighted loss's optimum): none, scalar (Lin et al. 2017) or grid (per voxel)")
    schedule: Literal["constant", "cosine"] = param(
        "constant", "learning-rate schedule: constant (write-up) or cosine with a 0.1 warm-up")
    point_init: Literal["none", "mean"] = param(
        "none", "point decoder's start: none (free tanh output) or mean (offsets around points drawn from the "
                "mean training occupancy, the mean shape (all) as a point cloud)")
    voxel_groups: int = param(0, "GroupNorm groups after each transposed convolution of the voxel decoder (Wu & He "
                                 "2018); 0: none (the write-up's decoder)")
    ema: float = param(0.0, "decay of an exponential moving average of the weights evaluated instead of the last "
                            "ones (Polyak & Juditsky 1992; BatchNorm statistics recomputed for it); 0: off")


def _pos_weight(voxels: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    """BCE's positive-class weight: ``value``, or (0) the empty / occupied voxel ratio of the training set."""
    if value > 0:
        return torch.tensor(float(value))
    occ = float(voxels.mean())
    return torch.tensor((1.0 - occ) / max(occ, 1e-6))


class SingleViewSuite(Suite):
    name = "single_view"
    description = ("Image -> voxels (BCE with pos_weight), points (Chamfer) or ico-sphere mesh (Chamfer + "
                   "smoothing) on a shared CNN encoder; Mesh R-CNN-protocol scores per category and the "
                   "mean-shape baseline.")
    Config = SingleViewConfig
    grid = {"decoder": ["voxel", "point", "mesh"]}
    profiles = {
        # voxel_prior / pos_weight / point_init chosen on a validation split of the training instances (the last 3
        # of each category's 12), never on the test split: notes in README "Measured" (single_view row). The voxel
        # decoder's 1350 iterations at lr 1e-3 too (issue 16, fifth session: 450 -> 900 -> 1350 iterations raised its
        # validation F1@0.3 from 44 to 55-57; the weights' moving average and GroupNorm gained
        # nothing beyond the lr x (1 +- 1e-6) spread).
        "smoke": Profile({"iterations": 300, "batch": 24, "lr": 2e-3, "points": 1000, "sphere_level": 2,
                          "width": 24, "latent": 128, "samples": 1000, "eval_samples": 3000,
                          "voxel_prior": "grid", "pos_weight": 3.0, "point_init": "mean"},
                         per_case={"decoder": {"voxel": {"iterations": 1350, "batch": 12, "lr": 1e-3}}},
                         description="CPU: small CNN, 300 iterations (voxel: 1350 of 12 images at lr 1e-3); voxel "
                                     "logits start at the mean training grid, the point decoder at the mean "
                                     "occupancy"),
        "standard": Profile({"image_size": 137, "instances": 64, "test_instances": 16, "views": 8},
                            grid={"data": ["r2n2"]}, per_case={"data": {"r2n2": {"categories": 13}}},
                            description="one GPU: the write-up's sizes on R2N2's 137 px renders of 13 ShapeNet "
                                        "categories (r2n2/ + shapenetcore-v1/ under --data-root; --set "
                                        "data=generated for the generated ones; estimate in README)"),
        "full": Profile({"iterations": 50000, "image_size": 137, "instances": 256, "test_instances": 64,
                         "views": 24}, grid={"data": ["r2n2"]}, per_case={"data": {"r2n2": {"categories": 13}}}),
    }
    tiny = {"categories": 2, "instances": 3, "test_instances": 1, "views": 1, "image_size": 32, "voxel_size": 16,
            "points": 50, "sphere_level": 1, "iterations": 2, "batch": 2, "width": 8, "latent": 16, "samples": 50,
            "eval_samples": 300, "mesh_resolution": 20}
    datasets = SV.dataset_uses()
    metrics = (
        *E.mesh_metric_specs("", "decoder output"),
        *E.baseline_metric_specs(),
        MetricSpec.of("iou", "voxel_iou", "voxel IoU at 0.5 (voxel decoder)"),
        MetricSpec("final_loss", ARBITRARY, False, "training loss at the last iteration"),
        MetricSpec("inference_images_per_s", "images/s", True, "test images through the model per second"),
    )
    # Both backends train from the same initialisation and seed; their ops agree to float32 rounding, which
    # the training path amplifies. Measured at smoke, --threads 1 (run 20261205-180725-4f52, docs/backends.md):
    # voxel decoder all 23 metrics equal; point decoder Chamfer-L2 0.9%, F1 0.15 points, final loss 1.8%;
    # mesh decoder Chamfer-L2 0.4%, normal consistency 0.006, F1 0.6 points, final loss 6%. Bounds 3-5x that.
    # A shorter run (20 iterations, 20261205-173035-37f8) stops on a steeper part of the mesh decoder's
    # path and lands further apart (Chamfer 11.6%, F1@0.3 2.6 points): the bounds are for the smoke profile.
    backend_tolerances = E.shape_backend_tolerances(
        "float32 rounding amplified along training (smoke: Chamfer 0.9%, F1 0.6 points, normals 0.006, "
        "final loss 6%)")
    # decoder=point: at full smoke its metrics are not stable under rounding-level input changes on ONE backend.
    # Spread study (issue 22, scripts/backend_spread.py, built-in backend, --threads 1, lr 0.002 x (1 + d), d =
    # +1e-6, -1e-6, +1e-5: runs 20261206-024205-6977, -024851-9efe, -025045-6759, with the unperturbed
    # 20261205-235153-b65e; docs/backends.md): Chamfer-L2 0.556-0.647, F1@0.3 34.4-38.9, F1@0.5 63.9-69.1,
    # F1@0.1 3.69-4.36. PyTorch3D's values (0.617, 37.0, 66.5, 4.21; run 20261205-235153-b65e) lie inside, and
    # its own run at lr x (1 + 1e-6) (20261206-034800-f47f: 0.654, 34.4, 63.9, 3.66) at the built-in's edge, so
    # the cross-backend gap (Chamfer 0.061, F1@0.5 2.6) is this spread; the bounds are the ranges rounded up
    # where they exceed the suite-wide ones (F1@0.1's range 0.67 is inside its suite bound 2; final loss
    # 0.0113-0.0116, PyTorch3D 0.0117, inside rel 0.2).
    # (The point bounds were measured on the 150-iteration profile; on today's (300 iterations, point_init=mean)
    # the point decoder is far steadier: Chamfer 0.4225-0.4436 built-in, 0.422-0.434 PyTorch3D, below.)
    # decoder=mesh on today's profile (300 iterations; study of 2026-12-06 on code 07e940f, --threads 1,
    # lr x (1 +- 1e-6, +- 1e-5), built-in runs 20261206-040940-9655, -041020-c4e1, -041101-f7d6, -041142-134b +
    # the both-backends run 20261206-035640-fff4; PyTorch3D lr x (1 +- 1e-6): 20261206-041654-077c,
    # -041832-0028): built-in Chamfer-L2 0.512-0.525, PyTorch3D 0.518-0.578 (0.558 unperturbed); F1@0.5
    # built-in 74.9-76.6, PyTorch3D 74.1-76.4. The two spreads overlap and the cross-backend gap (Chamfer
    # 0.046, F1@0.5 2.5) is no wider than their union (0.066, 2.5): bounds = the union's ranges rounded up.
    backend_case_tolerances = {
        "decoder=mesh": E.spread_case_tolerances(
            "both backends' spread under lr x (1 +- 1e-6, 1e-5) at smoke (study in docs/backends.md)",
            {"chamfer_l2": 0.07, "f1@0.5": 3.0}),
        "decoder=point": E.spread_case_tolerances(
            "one backend's spread under lr x (1 +- 1e-6, 1e-5) at smoke (study in docs/backends.md)",
            {"chamfer_l2": 0.1, "f1@0.3": 5.0, "f1@0.5": 5.5}),
    }

    def run(self, case: Case, ctx: Context) -> None:
        from suites.single_view.model import SingleView

        c: SingleViewConfig = case.config
        B = ctx.backend
        with ctx.phase("setup", kind="setup"):
            data = SV.load_view_data(ctx, c.voxel_size, c)
            pos_weight = _pos_weight(data.train.voxels, c.pos_weight)
            model = SingleView(B, c.decoder, width=c.width, latent=c.latent, grid=c.voxel_size, points=c.points,
                               level=c.sphere_level, radius=SV.sphere_radius_for(data.train.voxels),
                               voxel_prior=c.voxel_prior, train_voxels=data.train.voxels,
                               prior_offset=math.log(float(pos_weight)), voxel_groups=c.voxel_groups,
                               point_base=SV.mean_occupancy_points(data.train.voxels, c.points, ctx.seed)
                               if c.point_init == "mean" else None).to(ctx.device)
        losses, model = self._train(ctx, c, model, data.train, pos_weight)
        model.eval()
        with ctx.phase("inference", kind="evaluate"), torch.no_grad():
            t0 = time.perf_counter()
            outs = [model(data.test.images[s:s + c.batch].to(ctx.device)) for s in range(0, len(data.test), c.batch)]
            ctx.metric("inference_images_per_s", len(data.test) / max(time.perf_counter() - t0, 1e-9))
        with ctx.phase("evaluate", kind="evaluate"):
            rows = {f"single_view ({c.decoder})": self._score(ctx, c, outs, data.test),
                    **E.record_baselines(ctx, data.train, data.means, data.test, num_samples=c.eval_samples,
                                            seed=ctx.seed)}
        ctx.metric("final_loss", losses[-1])
        if c.decoder != "point":
            ctx.text("table", E.table(rows, E.counts_of(data.test.categories)), kind="table", suffix=".md")
        ctx.curve("loss_curve", list(range(len(losses))), losses, y_label="training loss")

    def _train(self, ctx: Context, c: SingleViewConfig, model: torch.nn.Module, train_set: SV.ShapeSet,
               pos_weight: torch.Tensor) -> tuple[list[float], torch.nn.Module]:
        """Adam on random batches (``pos_weight``: the voxel BCE's); each iteration is one timed ``train_step``.
        Returns the loss per iteration and the model to evaluate (the weights' average with ``ema``)."""
        B = ctx.backend
        with torch.random.fork_rng():
            torch.manual_seed(ctx.seed)
            pts, _ = B.ops.sample_points_from_meshes(B.structures.Meshes(train_set.verts, train_set.faces),
                                                     c.samples if c.decoder == "mesh" else c.points,
                                                     return_normals=True)
        opt = torch.optim.Adam(model.parameters(), lr=c.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, SV.lr_factor(c.schedule, c.iterations))
        ema = SV.WeightEMA(model, c.ema)
        gen = torch.Generator().manual_seed(ctx.seed)
        pos_weight = pos_weight.to(ctx.device)
        losses = []
        with ctx.phase("train_step", items_per_step=min(c.batch, len(train_set)), item_unit="images") as loop:
            for _ in range(c.iterations):
                idx = torch.randint(len(train_set), (min(c.batch, len(train_set)),), generator=gen)
                with loop.step():
                    out = model(train_set.images[idx].to(ctx.device))
                    if c.decoder == "voxel":
                        loss = F.binary_cross_entropy_with_logits(out, train_set.voxels[idx].to(ctx.device),
                                                                  pos_weight=pos_weight)
                    elif c.decoder == "point":
                        loss = B.loss.chamfer_distance(out, pts[idx].to(ctx.device))[0]
                    else:
                        sample = B.ops.sample_points_from_meshes(out, c.samples)
                        loss = B.loss.chamfer_distance(sample, pts[idx].to(ctx.device))[0] + \
                            c.smooth_weight * B.loss.mesh_laplacian_smoothing(out, method="uniform")
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                    ema.update()
                losses.append(float(loss.detach()))
        return losses, ema.final(train_set.images, c.batch, ctx.device)

    def _score(self, ctx: Context, c: SingleViewConfig, outs: list, test_set: SV.ShapeSet) -> dict:
        """Score the decoder outputs: meshes (voxels via cubify) by compare_meshes; points by Chamfer and F1
        against points sampled from the ground truth, both scaled as the Mesh R-CNN protocol scales meshes."""
        B = ctx.backend
        if c.decoder == "voxel":
            probs = torch.sigmoid(torch.cat(outs)).cpu()
            ctx.metric("voxel_iou", E.voxel_iou(probs, test_set, 0.5), item_ids=test_set.ids)
            meshes = SV.voxel_meshes(B, probs, 0.5)
        elif c.decoder == "mesh":
            meshes = [(v.cpu(), f.cpu()) for m in outs for v, f in zip(m.verts_list(), m.faces_list(), strict=True)]
        else:
            return E.record_points(ctx, torch.cat(outs).cpu(), test_set, c.eval_samples, ctx.seed)
        return E.record_meshes(ctx, E.score_meshes(meshes, test_set, num_samples=c.eval_samples, seed=ctx.seed),
                               test_set)
