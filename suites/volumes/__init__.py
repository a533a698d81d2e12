"""Volumetric rendering (book ch. 5): a density + colour voxel grid fitted to multi-view renders.

Expected cost of `standard` (the book's settings: 40 views of the cow at 128x128, 150 points per ray,
a 128^3 grid, 10 views per iteration, 300 iterations): about 25M ray samples per iteration, ~4 GB of GPU
memory (~180 bytes per sample measured on CPU at smoke scale) and well under a minute on one current GPU
(estimated: ~30-100 ms per iteration; not measured here, no GPU). `smoke` (the cow, 20 views at 32x32,
32^3, 48 points, 4 views per iteration, 80 iterations) runs in ~5-10 s on one CPU core. The held-out views
(every 5th) are not trained on; the book trains on all 40.
"""

from __future__ import annotations

from typing import Any

import torch

from bench.context import Context
from bench.methods import heldout as evaluate
from bench.methods.budget import check_fits
from bench.methods.views import builtin_views
from bench.suite import Case, MetricSpec, Suite
from suites.volumes.fit import VolumeConfig, fit_volume, make_model, render_views

BYTES_PER_SAMPLE = 400  # training memory per ray sample (measured ~180 B on CPU; doubled for headroom)

_DATA = {"mesh": "cow", "num_views": 20, "image_size": 32, "test_every": 5}
_BOOK = {"mesh": "cow", "num_views": 40, "image_size": 128, "test_every": 5, "grid_size": 128,
         "n_pts_per_ray": 150, "iterations": 300, "batch_size": 10, "lr": 0.1}


class VolumesSuite(Suite):
    name = "volumes"
    description = ("Fit a density + colour voxel grid to multi-view renders with the emission-absorption "
                   "raymarcher (book ch. 5, PyTorch3D's fit_simple_volume); quality on held-out views.")
    grid = {"scene": ["builtin"]}
    profiles = {
        "smoke": {**_DATA, "grid_size": 32, "n_pts_per_ray": 48, "iterations": 80, "batch_size": 4, "lr": 0.1},
        "standard": dict(_BOOK),
        "full": {**_BOOK, "num_views": 100, "image_size": 256, "n_pts_per_ray": 300, "iterations": 1000},
    }
    datasets = ("multiview",)
    test_params = {"iterations": 2, "num_views": 10, "image_size": 16, "grid_size": 8, "n_pts_per_ray": 8,
                   "batch_size": 2, "mesh": "teapot"}
    metrics = (
        MetricSpec("psnr", "dB", True, "PSNR of the fitted grid's renders on held-out views (data_range 1)"),
        MetricSpec("psnr_init", "dB", True, "the same for the initial grid (grey fog)"),
        MetricSpec("psnr_gain", "dB", True, "psnr - psnr_init"),
        MetricSpec("ssim", "", True, "SSIM on held-out views (Gaussian 11/1.5)"),
        MetricSpec("lpips", "", False, "LPIPS (alex) on held-out views, where its weights are available"),
        MetricSpec("silhouette_iou", "", True, "IoU of rendered opacity > 0.5 vs the held-out silhouettes"),
        MetricSpec("final_loss", "", False, "colour + silhouette pseudo-Huber loss at the last iteration"),
        MetricSpec("peak_memory_mb", "MiB", False, "peak memory of the optimisation loop"),
    )

    def run(self, case: Case, ctx: Context) -> None:
        p: dict[str, Any] = dict(case.params)
        if p["scene"] != "builtin":
            raise ValueError(f"scene: the volumes suite fits the built-in multi-view renders only ('builtin'), "
                             f"got {p['scene']!r}")
        t3d = ctx.backend
        cfg = VolumeConfig(iterations=p["iterations"], grid_size=p["grid_size"], n_pts_per_ray=p["n_pts_per_ray"],
                           batch_size=p["batch_size"], lr=p["lr"])
        check_fits("batch_size x image_size^2 x n_pts_per_ray",
                   min(cfg.batch_size, p["num_views"]) * p["image_size"] ** 2 * cfg.n_pts_per_ray, BYTES_PER_SAMPLE,
                   ctx.device)
        train, test = builtin_views(ctx.data_root, ctx.seed, mesh=p["mesh"], num_views=p["num_views"],
                                    image_size=p["image_size"], test_every=p["test_every"])
        ctx.log(f"volumes: {p['mesh']}, {len(train)} training / {len(test)} held-out views at {p['image_size']}px, "
                f"{cfg.grid_size}^3 grid, {cfg.n_pts_per_ray} points per ray, {cfg.iterations} iterations "
                f"on {ctx.device}")
        model = make_model(t3d, train, cfg, ctx.device)
        rgb0, alpha0 = render_views(t3d, model, test, ctx.device)
        init = evaluate.score(rgb0, alpha0, test, with_lpips=False)

        fit = fit_volume(t3d, model, train, cfg, ctx.device)
        ctx.record_timing("iteration", fit.timer.result(peak_memory_bytes=fit.peak.peak_bytes,
                          memory_kind=fit.peak.kind))

        rgb, alpha = render_views(t3d, model, test, ctx.device)
        final = evaluate.score(rgb, alpha, test)
        evaluate.record(ctx, final, test.ids)
        init["psnr"].record(ctx, "psnr_init", item_ids=test.ids)
        ctx.metric("psnr_gain", final["psnr"].value - init["psnr"].value)
        ctx.metric("final_loss", fit.losses[-1])
        if fit.peak.peak_bytes is not None:
            ctx.metric("peak_memory_mb", fit.peak.peak_bytes / 2**20, fingerprint={"kind": fit.peak.kind})
        ctx.curve("loss_curve", list(range(1, cfg.iterations + 1)),
                  {"total": fit.losses, "colour": fit.color_losses, "silhouette": fit.silhouette_losses},
                  x_label="iteration", y_label="pseudo-Huber loss")
        ctx.image("heldout_vs_truth", evaluate.strip(test.images, rgb))
        ctx.image("heldout_initial", evaluate.strip(test.images, rgb0))
        with torch.no_grad():
            occupied = float((torch.sigmoid(model.log_densities) > 0.5).float().mean())
        ctx.log(f"held-out PSNR {init['psnr'].value:.2f} -> {final['psnr'].value:.2f} dB; "
                f"{100 * occupied:.1f}% of voxels opaque")
