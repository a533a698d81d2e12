"""Held-out scoring of a rendered scene with the harness's metrics, and the render-vs-truth strip.

Used by `volumes` and `nerf`: both score their renders of the held-out :class:`~bench.methods.views.Views`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.errors import NotAvailable
from bench.methods.views import Views


def score(rgb: torch.Tensor, alpha: torch.Tensor, views: Views, *, with_lpips: bool = True) -> dict[str, Any]:
    """PSNR, SSIM, silhouette IoU (and LPIPS where available) per held-out view.

    Args:
        rgb: (N, H, W, 3) renders composited on the views' background; clamped to [0, 1].
        alpha: (N, H, W) rendered opacities.
    Returns:
        {"psnr", "ssim", "silhouette_iou"[, "lpips"]} -> MetricResult, and "lpips_unavailable" -> reason
        when LPIPS cannot be computed here (nothing is recorded under its name then).
    """
    from bench.metrics import iou, lpips, psnr, ssim

    pred = rgb.detach().float().cpu().clamp(0.0, 1.0)
    target = views.images.float().cpu()
    if pred.shape != target.shape:
        raise ValueError(f"renders {tuple(pred.shape)} and held-out images {tuple(target.shape)} differ in shape")
    out: dict[str, Any] = {
        "psnr": psnr(pred, target, data_range=1.0, layout="NHWC"),
        "ssim": ssim(pred, target, data_range=1.0, layout="NHWC"),
        "silhouette_iou": iou(alpha.detach().float().cpu().clamp(0.0, 1.0), views.masks.cpu() > 0.5, threshold=0.5),
    }
    if with_lpips:
        try:
            out["lpips"] = lpips(pred, target, data_range=1.0, layout="NHWC")
        except NotAvailable as exc:
            out["lpips_unavailable"] = str(exc)
    return out


def record(ctx: Any, results: dict[str, Any], ids: list[str]) -> None:
    """Record each score with its per-view items (LPIPS, where it cannot be computed: why, ``ctx.unavailable``)."""
    for name in ("psnr", "ssim", "lpips", "silhouette_iou"):
        if name in results:
            ctx.metric(name, results[name], item_ids=ids)
    if "lpips_unavailable" in results:
        ctx.unavailable("lpips", results["lpips_unavailable"])


STRIP_COLUMNS = ("ground truth", "prediction", "difference")


def strip(truth: torch.Tensor, renders: torch.Tensor, max_views: int = 4, gap: int = 2,
          difference: bool = False) -> np.ndarray:
    """An image of up to ``max_views`` rows, each [ground truth | render] (and | |truth - render| with
    ``difference``, the labels of :data:`STRIP_COLUMNS`), on a grey background: (H', W', 3)."""
    k = min(max_views, truth.shape[0])
    h, w = truth.shape[1:3]
    cols = 3 if difference else 2
    canvas = np.full((k * h + (k - 1) * gap, cols * w + (cols - 1) * gap, 3), 0.5, dtype=np.float32)
    for i in range(k):
        y = i * (h + gap)
        t = truth[i].detach().float().cpu().clamp(0, 1).numpy()
        r = renders[i].detach().float().cpu().clamp(0, 1).numpy()
        canvas[y:y + h, :w] = t
        canvas[y:y + h, w + gap:2 * w + gap] = r
        if difference:
            canvas[y:y + h, 2 * (w + gap):] = np.abs(t - r)
    return canvas
