"""Fitting the book's NeRF: Monte Carlo rays per training view, pseudo-Huber colour + silhouette losses,
Adam with a 10x lower learning rate for the last quarter; chunked full-resolution rendering of test views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from bench.context import Phase
from bench.methods.views import Views
from bench.methods.volumetric import composite, huber, march_chunked, sample_at_ndc


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and sampling settings (the book's at `standard`)."""

    iterations: int = 20000
    batch_size: int = 6
    n_rays_per_image: int = 750
    n_pts_per_ray: int = 128
    lr: float = 1e-3
    lr_drop_at: float = 0.75
    stratified: bool = True
    eval_every: int = 1000
    chunk: int = 8192  # rays per chunk when rendering whole images

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "n_rays_per_image", "n_pts_per_ray", "eval_every", "chunk"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)!r}")
        if not 0.0 < self.lr_drop_at <= 1.0:
            raise ValueError(f"lr_drop_at: expected a fraction in (0, 1], got {self.lr_drop_at!r}")


def ndc_half_extents(views: Views) -> tuple[float, float]:
    """Half-widths of the image in NDC along x and y (the shorter side spans [-1, 1])."""
    h, w = views.image_size
    s = min(h, w)
    return w / s, h / s


def mc_renderer(t3d: Any, views: Views, cfg: TrainConfig) -> Any:
    """An ImplicitRenderer casting ``n_rays_per_image`` random rays through each training image."""
    r = t3d.renderer
    ux, uy = ndc_half_extents(views)
    sampler = r.MonteCarloRaysampler(min_x=-ux, max_x=ux, min_y=-uy, max_y=uy, n_rays_per_image=cfg.n_rays_per_image,
                                     n_pts_per_ray=cfg.n_pts_per_ray, min_depth=views.min_depth,
                                     max_depth=views.max_depth, stratified_sampling=cfg.stratified)
    return r.ImplicitRenderer(raysampler=sampler, raymarcher=r.EmissionAbsorptionRaymarcher())


@torch.no_grad()
def render_full(t3d: Any, nerf: Any, views: Views, cfg: TrainConfig, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every pixel of every view, ``cfg.chunk`` rays at a time.

    Returns RGB (N, H, W, 3) composited on the background and opacity (N, H, W), on CPU.
    """
    r = t3d.renderer
    h, w = views.image_size
    sampler = r.NDCMultinomialRaysampler(image_width=w, image_height=h, n_pts_per_ray=cfg.n_pts_per_ray,
                                         min_depth=views.min_depth, max_depth=views.max_depth)
    marcher = r.EmissionAbsorptionRaymarcher()
    rgbs, alphas = [], []
    for i in range(len(views)):
        bundle = sampler(views.cameras(t3d, [i], device))
        rgb, alpha = composite(march_chunked(nerf, marcher, bundle, r.RayBundle, cfg.chunk), views.background)
        rgbs.append(rgb.cpu())
        alphas.append(alpha.cpu())
    return torch.cat(rgbs), torch.cat(alphas)


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    curve_iters: list[int] = field(default_factory=list)
    curve_seconds: list[float] = field(default_factory=list)
    curve_psnr: list[float] = field(default_factory=list)


def train_nerf(t3d: Any, nerf: Any, train: Views, cfg: TrainConfig, device: str,
               evaluate: Callable[[], float] | None = None, generator: torch.Generator | None = None,
               loop: Phase | None = None) -> TrainResult:
    """Optimise ``nerf`` on ``train``. ``evaluate()`` (a held-out PSNR) is called before training, every
    ``cfg.eval_every`` iterations and at the end; its time is not counted as training time (each iteration is
    one step of ``loop``, the evaluations fall between steps)."""
    renderer = mc_renderer(t3d, train, cfg)
    images, masks = train.images.to(device), train.masks.to(device)[..., None]
    opt = torch.optim.Adam(nerf.parameters(), lr=cfg.lr)
    drop = round(cfg.iterations * cfg.lr_drop_at)
    res = TrainResult()
    loop = loop or Phase.standalone("iteration", device)
    bs = min(cfg.batch_size, len(train))

    def checkpoint(it: int) -> None:
        if evaluate is not None:
            nerf.eval()
            res.curve_iters.append(it)
            res.curve_seconds.append(loop.elapsed)
            res.curve_psnr.append(float(evaluate()))
            nerf.train()

    checkpoint(0)
    loop.expect(cfg.iterations)
    for it in range(cfg.iterations):
        with loop.step():
            if it == drop:
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * 0.1
            idx = torch.randperm(len(train), generator=generator)[:bs]
            out, bundle = renderer(cameras=train.cameras(t3d, idx, device), volumetric_function=nerf)
            rgb, alpha = composite(out, train.background)
            xy = bundle.xys.reshape(bs, -1, 2)
            color_err = huber(rgb, sample_at_ndc(images[idx], xy).reshape(rgb.shape)).mean()
            sil_err = huber(alpha, sample_at_ndc(masks[idx], xy).reshape(alpha.shape)).mean()
            loss = color_err + sil_err
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        res.losses.append(float(loss.detach()))
        loop.report(loss=res.losses[-1])
        if (it + 1) % cfg.eval_every == 0 and it + 1 < cfg.iterations:
            checkpoint(it + 1)
    checkpoint(cfg.iterations)
    return res
