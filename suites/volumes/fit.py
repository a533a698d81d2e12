"""A density + colour voxel grid fitted to posed images by emission-absorption raymarching (book ch. 5).

As PyTorch3D's fit_simple_volume tutorial: densities and colours are stored as logits (sigmoid at
render time, densities starting near 0 and colours at grey), a grid of ``grid_size``^3 voxels spans a
cube of side ``extent``, Adam with a 10x lower learning rate for the last quarter, pseudo-Huber losses
on colour and silhouette over a random batch of whole training views per iteration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from bench.context import Phase
from bench.methods.views import Views
from bench.methods.volumetric import composite, huber


@dataclass(frozen=True)
class VolumeConfig:
    """Settings of one fit (the book's at `standard`)."""

    iterations: int = 300
    grid_size: int = 128
    n_pts_per_ray: int = 150
    batch_size: int = 10
    lr: float = 0.1
    lr_drop_at: float = 0.75  # fraction of the iterations after which lr is divided by 10
    init_density_logit: float = -4.0

    def __post_init__(self) -> None:
        for name in ("iterations", "grid_size", "n_pts_per_ray", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)!r}")
        if not 0.0 < self.lr_drop_at <= 1.0:
            raise ValueError(f"lr_drop_at: expected a fraction in (0, 1], got {self.lr_drop_at!r}")


class VolumeModel(torch.nn.Module):
    """Logits of a (1 + 3)-channel voxel grid rendered by a backend VolumeRenderer.

    forward(cameras) -> (N, H, W, 4): RGB over black and opacity, the raymarcher's layout.
    """

    def __init__(self, t3d: Any, renderer: Any, grid_size: int, extent: float, init_density_logit: float = -4.0):
        super().__init__()
        g = int(grid_size)
        self.log_densities = torch.nn.Parameter(torch.full((1, g, g, g), float(init_density_logit)))
        self.log_colors = torch.nn.Parameter(torch.zeros(3, g, g, g))
        self.voxel_size = float(extent) / g
        self._t3d = t3d
        self.renderer = renderer

    def volumes(self, n: int) -> Any:
        """The grid as a backend ``Volumes`` batch of ``n`` shared copies."""
        dens = torch.sigmoid(self.log_densities)
        cols = torch.sigmoid(self.log_colors)
        return self._t3d.structures.Volumes(densities=dens[None].expand(n, *dens.shape),
                                            features=cols[None].expand(n, *cols.shape), voxel_size=self.voxel_size)

    def forward(self, cameras: Any) -> torch.Tensor:
        n = cameras.R.shape[0]
        return self.renderer(cameras=cameras, volumes=self.volumes(n))[0]


def make_model(t3d: Any, views: Views, cfg: VolumeConfig, device: str) -> VolumeModel:
    """A fresh model whose renderer casts one ray per pixel of ``views``' images."""
    r = t3d.renderer
    h, w = views.image_size
    sampler = r.NDCMultinomialRaysampler(image_width=w, image_height=h, n_pts_per_ray=cfg.n_pts_per_ray,
                                         min_depth=views.min_depth, max_depth=views.max_depth)
    renderer = r.VolumeRenderer(raysampler=sampler, raymarcher=r.EmissionAbsorptionRaymarcher())
    return VolumeModel(t3d, renderer, cfg.grid_size, views.extent, cfg.init_density_logit).to(device)


@torch.no_grad()
def render_views(t3d: Any, model: VolumeModel, views: Views, device: str,
                 batch: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB (N, H, W, 3) on the views' background and opacity (N, H, W), ``batch`` views at a time, on CPU."""
    rgbs, alphas = [], []
    for a in range(0, len(views), batch):
        idx = list(range(a, min(a + batch, len(views))))
        rgb, alpha = composite(model(views.cameras(t3d, idx, device)), views.background)
        rgbs.append(rgb.cpu())
        alphas.append(alpha.cpu())
    return torch.cat(rgbs), torch.cat(alphas)


@dataclass
class FitResult:
    model: VolumeModel
    losses: list[float] = field(default_factory=list)
    color_losses: list[float] = field(default_factory=list)
    silhouette_losses: list[float] = field(default_factory=list)


def fit_volume(t3d: Any, model: VolumeModel, train: Views, cfg: VolumeConfig, device: str,
               generator: torch.Generator | None = None, loop: Phase | None = None) -> FitResult:
    """Optimise ``model`` on ``train``; per-iteration losses; each iteration is one step of ``loop``."""
    images, masks = train.images.to(device), train.masks.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    drop = round(cfg.iterations * cfg.lr_drop_at)
    res = FitResult(model=model)
    loop = loop or Phase.standalone("iteration", device)
    bs = min(cfg.batch_size, len(train))
    loop.expect(cfg.iterations)
    for it in range(cfg.iterations):
        with loop.step():
            if it == drop:
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * 0.1
            idx = torch.randperm(len(train), generator=generator)[:bs]
            rgb, alpha = composite(model(train.cameras(t3d, idx, device)), train.background)
            color_err = huber(rgb, images[idx]).mean()
            sil_err = huber(alpha, masks[idx]).mean()
            loss = color_err + sil_err
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        res.losses.append(float(loss.detach()))
        loop.report(loss=res.losses[-1])
        res.color_losses.append(float(color_err.detach()))
        res.silhouette_losses.append(float(sil_err.detach()))
    return res
