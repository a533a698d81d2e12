"""Scoring and reporting of pose runs: errors by ``bench.metrics``, success rate with a Wilson interval, artifacts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from bench.context import Context
from suites.pose.optimize import OptConfig, OptResult
from suites.pose.render import Renderers, render_targets
from suites.pose.scenes import Scene

# The book's printed losses (ch. 4, 256x256), drawn beside the run's curve at that resolution.
BOOK_LOSSES = {"teapot": {0: 8414.53, 87: 372.46}, "cow": {0: 7313.08, 72: 738.10}}


def pose_errors(scene: Scene, R: torch.Tensor, T: torch.Tensor) -> tuple[Any, Any]:
    """Rotation error (deg) and camera-centre error of camera 0 for B poses R (B, V, 3, 3), T (B, V, 3)."""
    from bench.metrics import camera_center_error, rotation_error_deg

    b = R.shape[0]
    R_gt, T_gt = scene.R[0][None].expand(b, 3, 3), scene.T[0][None].expand(b, 3)
    R0, T0 = R[:, 0].detach().cpu().double(), T[:, 0].detach().cpu().double()
    return (rotation_error_deg(R0, R_gt.double()),
            camera_center_error(R0, T0, R_gt.double(), T_gt.double()))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (scipy), as fractions in [0, 1]."""
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def report_reference(ctx: Context, t3d: Any, scene: Scene, renderers: Renderers, mesh: Any, masks: torch.Tensor,
                     images: torch.Tensor, res: OptResult, book_iters: tuple[int, ...], cfg: OptConfig) -> None:
    """Metrics, timings, loss curve and image strip of the reference start (start 0 of ``res``)."""
    from bench.metrics import iou

    rot, cen = pose_errors(scene, res.R[:1], res.T[:1])
    ctx.metric("rotation_error_deg", rot)
    ctx.metric("camera_center_error", cen)
    final_img, final_mask = render_targets(renderers, mesh, res.R[0], res.T[0])
    sil = iou(final_mask.cpu(), masks.cpu())
    ctx.metric("silhouette_iou", sil, item_ids=[f"view{j}" for j in range(scene.views)])
    stop = res.stop_iter[0]
    ctx.metric("final_loss", res.final_loss(0))
    reached = res.reached[0]
    ctx.metric("iterations_to_threshold", stop if reached else None, fingerprint=cfg.threshold_fingerprint())
    ctx.metric("seconds_to_threshold", res.seconds[0] if reached else None, fingerprint=cfg.threshold_fingerprint())
    if not reached:
        ctx.log(f"reference start did not get below the loss threshold {cfg.loss_threshold:g} in "
                f"{len(res.losses)} iterations (final loss {res.final_loss(0):.2f})")
    record_book_losses(ctx, res, book_iters, cfg, int(masks.shape[-1]), scene.textured)
    _curve(ctx, scene, res, int(masks.shape[-1]), cfg)
    target = images[0] if scene.textured else masks[0][..., None].expand(-1, -1, 3)
    final = final_img[0] if scene.textured else final_mask[0][..., None].expand(-1, -1, 3)
    _strip(ctx, [target.cpu().numpy(), *res.frames, final.cpu().numpy()])


def record_book_losses(ctx: Context, res: OptResult, book_iters: tuple[int, ...], cfg: OptConfig, size: int,
                       textured: bool) -> None:
    """``loss_iter{it}`` of the reference start at each book iteration it reached; else the reason, recorded
    with ``ctx.unavailable`` so the report and compare show it."""
    stop, reached = res.stop_iter[0], res.reached[0]
    for it in book_iters:
        if it <= stop:
            ctx.metric(f"loss_iter{it}", float(res.losses[it, 0]),
                       fingerprint={"image_size": size, "loss": "sum squared silhouette"
                                    + (" + w * sum squared rgb" if textured else "")})
        else:
            ctx.unavailable(f"loss_iter{it}", book_loss_unavailable(it, stop, reached, cfg))


def book_loss_unavailable(it: int, stop: int, reached: bool, cfg: OptConfig) -> str:
    """Why the reference start has no loss at book iteration ``it`` (> ``stop``, its last iteration): it got below
    the threshold earlier, the run has fewer iterations, or the loss became non-finite."""
    if reached:
        return (f"the loss got below the threshold {cfg.loss_threshold:g} at iteration {stop}, so the optimisation "
                f"stopped before iteration {it}")
    if stop >= cfg.iterations - 1:
        return f"the run has {cfg.iterations} iterations (iterations 0 to {cfg.iterations - 1}); set iterations > {it}"
    return f"the loss became non-finite at iteration {stop}, so the optimisation stopped before iteration {it}"


def _curve(ctx: Context, scene: Scene, res: OptResult, size: int, cfg: OptConfig) -> None:
    stop = res.stop_iter[0]
    iters = list(range(stop + 1))
    series = {"loss": [float(v) for v in res.losses[: stop + 1, 0]],
              "threshold": [cfg.loss_threshold] * len(iters)}
    book = BOOK_LOSSES.get(scene.name)
    if book and size == 256:
        series["book (256x256)"] = [book.get(i, math.nan) for i in iters]
    ctx.curve("loss_curve", iters, series, x_label="iteration", y_label="loss")


def _strip(ctx: Context, frames: list[np.ndarray]) -> None:
    """Target, optimisation frames and final render side by side (PNG), and the frames as a GIF."""
    import imageio.v2 as imageio

    tiles = [np.clip(f, 0.0, 1.0) for f in frames]
    gap = np.ones((tiles[0].shape[0], 2, 3))
    row = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
    labels = ["target", *(f"step {i + 1}" for i in range(len(tiles) - 2)), "final"]
    ctx.image("optimisation_strip", row, columns=labels, gap=2)
    path = ctx.artifact_path("optimisation.gif")
    imageio.mimsave(path, [(t * 255 + 0.5).astype(np.uint8) for t in tiles[1:]], duration=0.3)
    ctx.artifact_file("optimisation_gif", path, "gif")


def report_starts(ctx: Context, scene: Scene, res: OptResult, success_deg: float, angle_deg: float) -> None:
    """Success rate over the random starts (rotation error < success_deg), its Wilson interval, per-start errors."""
    rot, _ = pose_errors(scene, res.R, res.T)
    errs = list(rot.items)
    ok = [e < success_deg for e in errs]
    ids = [f"start{i:02d}" for i in range(len(errs))]
    fp = {"success_deg": success_deg, "start_angle_deg": angle_deg, "n": len(errs)}
    ctx.metric("success_rate", 100.0 * sum(ok) / len(ok), items=[100.0 * o for o in ok], item_ids=ids,
               fingerprint=fp)
    low, high = wilson_interval(sum(ok), len(ok))
    ctx.metric("success_rate_low", 100.0 * low, fingerprint={**fp, "interval": "wilson 95%"})
    ctx.metric("success_rate_high", 100.0 * high, fingerprint={**fp, "interval": "wilson 95%"})
    ctx.metric("start_rotation_error_deg", float(np.median(errs)), items=errs, item_ids=ids,
               fingerprint={**rot.fingerprint, "aggregate": "median"})
    ctx.log(f"random starts at {angle_deg:g} deg: {sum(ok)}/{len(ok)} below {success_deg:g} deg "
            f"(errors {', '.join(f'{e:.1f}' for e in errs)})")
