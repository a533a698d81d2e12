"""GIRAFFE's GAN training (im2scene/giraffe/training.py): per iteration one generator step with the
non-saturating loss softplus(-D(G(z))) and one discriminator step with softplus(-D(x)) + softplus(D(G(z))) plus
the R1 penalty reg * E|grad_x D(x)|^2 on real images (reg = 10 there); RMSprop with lr 5e-4 (G) and 1e-4 (D)
(configs/default.yaml learning_rate / learning_rate_d, optimizer RMSprop)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from bench.context import Phase
from suites.giraffe.model import Discriminator, Generator


@dataclass(frozen=True)
class GanConfig:
    iterations: int = 100000
    batch_size: int = 32          # configs/default.yaml training.batch_size
    lr_g: float = 5e-4            # configs/default.yaml learning_rate
    lr_d: float = 1e-4            # configs/default.yaml learning_rate_d
    r1: float = 10.0              # training.py: reg = 10. * compute_grad2(d_real, x_real).mean()
    eval_every: int = 10000

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "eval_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)!r}")


@dataclass
class GanResult:
    loss_g: list[float] = field(default_factory=list)
    loss_d: list[float] = field(default_factory=list)
    r1: list[float] = field(default_factory=list)
    curve_iters: list[int] = field(default_factory=list)
    curve_values: list[float] = field(default_factory=list)


def r1_penalty(d: Discriminator, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits on real (B,), mean over the batch of the squared gradient norm of the summed logits wrt the images)."""
    real = real.detach().requires_grad_(True)
    logits = d(real)
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return logits, grad.pow(2).reshape(len(real), -1).sum(1).mean()


def train_gan(g: Generator, d: Discriminator, images: torch.Tensor, cfg: GanConfig, device: str,
              evaluate: Callable[[], float] | None = None, generator: torch.Generator | None = None,
              loop: Phase | None = None) -> GanResult:
    """Train on real ``images`` (N, 3, S, S) in [0, 1]. ``evaluate()`` (an FID) runs at 0, every ``eval_every``
    iterations and at the end, outside the timed steps of ``loop``."""
    opt_g = torch.optim.RMSprop(g.parameters(), lr=cfg.lr_g)
    opt_d = torch.optim.RMSprop(d.parameters(), lr=cfg.lr_d)
    res, loop = GanResult(), loop or Phase.standalone("iteration", device)
    images = images.to(device)

    def checkpoint(it: int) -> None:
        if evaluate is not None:
            g.eval()
            res.curve_iters.append(it)
            res.curve_values.append(float(evaluate()))
            g.train()

    checkpoint(0)
    for it in range(cfg.iterations):
        with loop.step():
            # generator step (D frozen)
            d.requires_grad_(False)
            fake = g(g.sample_scene(cfg.batch_size, generator, device))
            loss_g = F.softplus(-d(fake)).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            # discriminator step (G output detached)
            d.requires_grad_(True)
            idx = torch.randint(len(images), (cfg.batch_size,), generator=generator)
            logits_real, reg = r1_penalty(d, images[idx.to(images.device)])
            with torch.no_grad():
                fake = g(g.sample_scene(cfg.batch_size, generator, device))
            loss_d = F.softplus(-logits_real).mean() + F.softplus(d(fake)).mean()
            opt_d.zero_grad(set_to_none=True)
            (loss_d + cfg.r1 * reg).backward()
            opt_d.step()
        res.loss_g.append(float(loss_g.detach()))
        res.loss_d.append(float(loss_d.detach()))
        res.r1.append(float(reg.detach()))
        if (it + 1) % cfg.eval_every == 0 and it + 1 < cfg.iterations:
            checkpoint(it + 1)
    checkpoint(cfg.iterations)
    return res
