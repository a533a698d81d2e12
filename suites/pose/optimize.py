"""The book's ch. 4 optimisation: Adam on the pose, summed squared silhouette (+ weighted texture) error.

Each start stops at its first iteration whose loss is below the threshold (its pose then is kept),
or at the iteration cap, as the book's loop does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from bench.context import Phase
from suites.pose.render import Renderers


@dataclass(frozen=True)
class OptConfig:
    """Adam lr 0.05 (book); ``loss_threshold`` on the per-start loss; texture weight 0.1 (book's cow).

    ``threshold_rule``: the convention the threshold was set by, as the threshold metrics' fingerprint; None: the
    absolute ``loss_threshold`` itself. A threshold derived from the rendered targets (per area) names its rule,
    not its value, which moves with the renderer's float rounding (the two backends: 28.835393 vs 28.835391).
    """

    iterations: int = 200
    lr: float = 0.05
    loss_threshold: float = 500.0
    texture_weight: float = 0.1
    frame_every: int = 10
    threshold_rule: dict | None = None

    def threshold_fingerprint(self) -> dict:
        return dict(self.threshold_rule) if self.threshold_rule else {"threshold": self.loss_threshold}


@dataclass
class OptResult:
    """Per start b: the loss history (iterations x B), stop iteration (first below threshold, else last),
    seconds to it, and the pose (R (B, V, 3, 3), T (B, V, 3)) that produced the loss at the stop."""

    losses: np.ndarray
    stop_iter: list[int]
    reached: list[bool]
    seconds: list[float]
    R: torch.Tensor
    T: torch.Tensor
    frames: list[np.ndarray] = field(default_factory=list)
    frame_iters: list[int] = field(default_factory=list)

    def final_loss(self, b: int = 0) -> float:
        return float(self.losses[self.stop_iter[b], b])


def pose_loss(renderers: Renderers, meshes: Any, R: torch.Tensor, T: torch.Tensor, masks: torch.Tensor,
              images: torch.Tensor | None, texture_weight: float) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """Per-start loss (B,) of cameras R (B, V, 3, 3), T (B, V, 3) against target masks (V, S, S) and,
    when given, target images (V, S, S, 3); also the soft silhouettes (B, V, S, S) and textured renders."""
    b, v = R.shape[:2]
    sil = renderers.silhouette(meshes, R=R.reshape(b * v, 3, 3), T=T.reshape(b * v, 3))[..., 3]
    sil = sil.reshape(b, v, *sil.shape[1:])
    loss = ((sil - masks[None]) ** 2).flatten(1).sum(1)
    rgb = None
    if images is not None and texture_weight:
        rgb = renderers.textured(meshes, R=R.reshape(b * v, 3, 3), T=T.reshape(b * v, 3))[..., :3]
        rgb = rgb.reshape(b, v, *rgb.shape[1:])
        loss = loss + texture_weight * ((rgb - images[None]) ** 2).flatten(1).sum(1)
    return loss, sil, rgb


def optimise(model: torch.nn.Module, renderers: Renderers, mesh: Any, masks: torch.Tensor,
             images: torch.Tensor | None, cfg: OptConfig, device: str, loop: Phase | None = None) -> OptResult:
    """Run Adam on ``model`` (returns R (B, V, 3, 3), T (B, V, 3)) until every start is below the threshold;
    each iteration is one step of ``loop`` (the case's timed phase)."""
    with torch.no_grad():
        R0, _ = model()
    b, v = R0.shape[:2]
    meshes = mesh.extend(b * v)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loop = loop or Phase.standalone("iteration", device)
    history: list[np.ndarray] = []
    stop = [-1] * b
    seconds = [math.nan] * b
    best_R, best_T = R0.clone(), torch.zeros(b, v, 3, device=R0.device)
    frames, frame_iters = [], []
    elapsed = 0.0
    loop.expect(cfg.iterations)
    for it in range(cfg.iterations):
        t0 = time.perf_counter()
        with loop.step():
            opt.zero_grad()
            R, T = model()
            loss, sil, rgb = pose_loss(renderers, meshes, R, T, masks, images, cfg.texture_weight)
            loss.sum().backward()
            opt.step()
        elapsed += time.perf_counter() - t0
        values = loss.detach().cpu().numpy().astype(np.float64)
        history.append(values)
        loop.report(loss=float(values.min()))
        if not np.isfinite(values).all():
            break
        if it % cfg.frame_every == 0:
            frames.append(_frame(sil, rgb))
            frame_iters.append(it)
        for i in range(b):
            if stop[i] < 0 and (values[i] < cfg.loss_threshold or it == cfg.iterations - 1):
                stop[i], seconds[i] = it, elapsed
                best_R[i], best_T[i] = R[i].detach(), T[i].detach()
        if min(stop) >= 0:
            if frame_iters[-1] != it:
                frames.append(_frame(sil, rgb))
                frame_iters.append(it)
            break
    losses = np.stack(history)
    last = len(history) - 1
    reached = [0 <= s and losses[s, i] < cfg.loss_threshold for i, s in enumerate(stop)]
    for i in range(b):
        if stop[i] < 0:  # stopped on a non-finite loss
            stop[i], seconds[i] = last, elapsed
            best_R[i], best_T[i] = R[i].detach(), T[i].detach()
    return OptResult(losses, stop, reached, seconds, best_R, best_T, frames, frame_iters)


def _frame(sil: torch.Tensor, rgb: torch.Tensor | None) -> np.ndarray:
    """Start 0, view 0 as an (S, S, 3) float image: the textured render if any, else the soft silhouette."""
    if rgb is not None:
        return rgb[0, 0].detach().clamp(0, 1).cpu().numpy()
    return np.repeat(sil[0, 0].detach().cpu().numpy()[..., None], 3, axis=-1)
