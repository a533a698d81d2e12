"""Neural radiance field (book ch. 6): the book's NeRF fitted to posed images, scored on held-out views.

`scene=builtin` trains on generated multi-view renders (the cow at `standard`, as the book); any other
scene is a NeRF Blender scene folder under ``<data root>/nerf-synthetic/<scene>`` (skipped with where to
get it when absent; a folder in the wrong format is an error), trained on its train split and scored on
(a subset of) its test split at full resolution, rendered in chunks of rays.

Expected cost of `standard` (60 harmonics, 256 hidden units, 6 views x 750 rays x 128 points per iteration,
20000 iterations): ~8 GB of GPU memory (the book's figure for these settings) and, scaling the tutorial's
"3000 iterations in ~20 min on a Tesla M40" to a current GPU (~10x), about 15-20 min per scene plus the
test renders (Blender: 25 test views of 800x800, ~1-2 s each); not measured here (no GPU). `smoke` (the cow,
32x32, 8 harmonics, 64 hidden units, 4 x 128 rays x 32 points, lr 3e-3, 200 iterations) takes ~15 s on one
CPU core.
"""

from __future__ import annotations

from typing import Any

from bench.context import Context
from bench.methods import heldout as evaluate
from bench.methods.budget import check_fits
from bench.methods.views import Views, blender_views, builtin_views
from bench.suite import Case, MetricSpec, Suite
from suites.nerf.model import FieldConfig, NeuralRadianceField
from suites.nerf.train import TrainConfig, render_full, train_nerf

BLENDER_SCENES = ("chair", "drums", "ficus", "hotdog", "lego", "materials", "mic", "ship")
_BOOK = {"mesh": "cow", "num_views": 40, "image_size": 128, "test_every": 5, "n_harmonic_functions": 60,
         "n_hidden": 256, "n_rays_per_image": 750, "n_pts_per_ray": 128, "batch_size": 6, "lr": 1e-3,
         "iterations": 20000, "eval_every": 1000, "curve_views": 2, "chunk": 8192, "test_views": 25}


def bytes_per_sample(field: FieldConfig) -> int:
    """Training memory per ray sample: the MLP's float32 activations (~2 x embedding + 8 x hidden) plus half again
    for gradients and allocator slack (~9.6 GB at the book's settings, whose own figure is ~8 GB)."""
    dim = 6 * field.n_harmonic_functions
    return 6 * (2 * dim + 8 * field.n_hidden)


class NerfSuite(Suite):
    name = "nerf"
    description = ("The book's NeRF (harmonic embedding, Softplus MLP, Monte Carlo rays, emission-absorption "
                   "raymarching; PyTorch3D's fit_simple_neural_radiance_field) on built-in renders or NeRF "
                   "Blender scenes; held-out PSNR/SSIM/LPIPS and PSNR versus time.")
    grid = {"scene": ["builtin"]}
    profiles = {
        "smoke": {"mesh": "cow", "num_views": 20, "image_size": 32, "test_every": 5, "n_harmonic_functions": 8,
                  "n_hidden": 64, "n_rays_per_image": 128, "n_pts_per_ray": 32, "batch_size": 4, "lr": 3e-3,
                  "iterations": 200, "eval_every": 25, "curve_views": 2, "chunk": 4096, "test_views": 4},
        "standard": {**_BOOK, "grid": {"scene": ["builtin", "lego"]}},
        "full": {**_BOOK, "iterations": 50000, "test_views": 200, "grid": {"scene": ["builtin", *BLENDER_SCENES]}},
    }
    datasets = ("multiview", "nerf-synthetic")
    test_params = {"iterations": 2, "num_views": 10, "image_size": 16, "n_harmonic_functions": 2, "n_hidden": 8,
                   "n_rays_per_image": 16, "n_pts_per_ray": 8, "batch_size": 2, "eval_every": 1, "curve_views": 1,
                   "mesh": "teapot", "test_views": 2}
    metrics = (
        MetricSpec("psnr", "dB", True, "PSNR of full renders of held-out views (data_range 1)"),
        MetricSpec("psnr_init", "dB", True, "the same for the initial field"),
        MetricSpec("psnr_gain", "dB", True, "psnr - psnr_init"),
        MetricSpec("ssim", "", True, "SSIM on held-out views (Gaussian 11/1.5)"),
        MetricSpec("lpips", "", False, "LPIPS (alex) on held-out views, where its weights are available"),
        MetricSpec("silhouette_iou", "", True, "IoU of rendered opacity > 0.5 vs held-out silhouettes / alpha"),
        MetricSpec("rays_per_second", "rays/s", True, "training rays per second (median iteration)"),
        MetricSpec("train_seconds", "s", False, "total training time, evaluations excluded"),
        MetricSpec("final_loss", "", False, "colour + silhouette pseudo-Huber loss at the last iteration"),
        MetricSpec("peak_memory_mb", "MiB", False, "peak memory of the training loop"),
    )

    def run(self, case: Case, ctx: Context) -> None:
        p: dict[str, Any] = dict(case.params)
        t3d = ctx.backend
        field_cfg = FieldConfig(n_harmonic_functions=p["n_harmonic_functions"], n_hidden=p["n_hidden"])
        cfg = TrainConfig(iterations=p["iterations"], batch_size=p["batch_size"],
                          n_rays_per_image=p["n_rays_per_image"], n_pts_per_ray=p["n_pts_per_ray"], lr=p["lr"],
                          eval_every=p["eval_every"], chunk=p["chunk"])
        train, test = self.views(p, ctx)
        check_fits("batch_size x n_rays_per_image x n_pts_per_ray",
                   cfg.batch_size * cfg.n_rays_per_image * cfg.n_pts_per_ray, bytes_per_sample(field_cfg), ctx.device)
        ctx.log(f"nerf: scene {p['scene']}, {len(train)} training / {len(test)} held-out views at "
                f"{test.image_size[0]}x{test.image_size[1]}, {cfg.iterations} iterations on {ctx.device}")
        nerf = NeuralRadianceField(t3d, field_cfg).to(ctx.device)
        nerf.eval()
        rgb0, alpha0 = render_full(t3d, nerf, test, cfg, ctx.device)
        init = evaluate.score(rgb0, alpha0, test, with_lpips=False)
        nerf.train()

        curve_set = test.subset(list(range(min(p["curve_views"], len(test)))))

        def heldout_psnr() -> float:
            from bench.metrics import psnr

            rgb, _ = render_full(t3d, nerf, curve_set, cfg, ctx.device)
            return psnr(rgb.clamp(0, 1), curve_set.images, data_range=1.0, layout="NHWC").value

        res = train_nerf(t3d, nerf, train, cfg, ctx.device, evaluate=heldout_psnr)
        ctx.record_timing("iteration", res.timer.result(peak_memory_bytes=res.peak.peak_bytes,
                          memory_kind=res.peak.kind))

        nerf.eval()
        rgb, alpha = render_full(t3d, nerf, test, cfg, ctx.device)
        final = evaluate.score(rgb, alpha, test)
        evaluate.record(ctx, final, test.ids)
        init["psnr"].record(ctx, "psnr_init", item_ids=test.ids)
        ctx.metric("psnr_gain", final["psnr"].value - init["psnr"].value)
        rays = cfg.batch_size * cfg.n_rays_per_image
        ctx.metric("rays_per_second", rays / res.timer.result().median)
        ctx.metric("train_seconds", sum(res.timer.samples))
        ctx.metric("final_loss", res.losses[-1])
        if res.peak.peak_bytes is not None:
            ctx.metric("peak_memory_mb", res.peak.peak_bytes / 2**20, fingerprint={"kind": res.peak.kind})
        label = f"held-out PSNR (dB), first {len(curve_set)} test views"
        ctx.curve("psnr_vs_iteration", res.curve_iters, res.curve_psnr, x_label="iteration", y_label=label)
        ctx.curve("psnr_vs_seconds", res.curve_seconds, res.curve_psnr, x_label="training seconds", y_label=label)
        ctx.curve("loss_curve", list(range(1, cfg.iterations + 1)), res.losses, x_label="iteration",
                  y_label="pseudo-Huber loss")
        ctx.image("heldout_vs_truth", evaluate.strip(test.images, rgb))
        ctx.log(f"held-out PSNR {init['psnr'].value:.2f} -> {final['psnr'].value:.2f} dB in "
                f"{sum(res.timer.samples):.1f} s of training")

    @staticmethod
    def views(p: dict[str, Any], ctx: Context) -> tuple[Views, Views]:
        """(train, test) views of the case's scene."""
        if p["scene"] == "builtin":
            return builtin_views(ctx.data_root, ctx.seed, mesh=p["mesh"], num_views=p["num_views"],
                                 image_size=p["image_size"], test_every=p["test_every"])
        train = blender_views(ctx.data_root, p["scene"], "train")
        test = blender_views(ctx.data_root, p["scene"], "test", max_views=p["test_views"])
        return train, test

