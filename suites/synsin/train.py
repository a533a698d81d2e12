"""SynSin's training losses and loop: L1, a hinge GAN with two multi-scale PatchGAN discriminators and
discriminator feature matching, and the VGG content loss where VGG weights are given.

Settings from facebookresearch/synsin ``options/train_options.py`` and ``models/networks/discriminators.py``:
``--losses 1.0_l1 10.0_content``, ``--gan_mode hinge``, ``--lambda_feat 10`` (feature matching),
``--discriminator_losses pix2pixHD`` with ``num_D = 2`` discriminators (the second on a 3x3/2 average-pooled
image), ``n_layers_D = 4``, 4x4 kernels, ``--ndf 64``; Adam with ``beta1 = 0, beta2 = 0.9``, ``lr_g = 5e-4``,
``lr_d = 2e-3`` (its defaults; ``train.sh`` passes ``--lr 1e-4``, which only the generator-only optimiser reads).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from bench.context import Phase
from suites.synsin.model import SynSin


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; ``loss`` is "l1", "l1+gan" or "l1+gan+content"."""

    loss: str = "l1+gan"
    iterations: int = 1000
    batch_size: int = 8
    lr_g: float = 5e-4
    lr_d: float = 2e-3
    betas: tuple[float, float] = (0.0, 0.9)
    ndf: int = 64
    num_d: int = 2
    n_layers_d: int = 4
    lambda_l1: float = 1.0
    lambda_content: float = 10.0
    lambda_feat: float = 10.0


class PatchD(nn.Module):
    """pix2pixHD's N-layer PatchGAN: 4x4 convs (stride 2 except the last two), LeakyReLU 0.2, instance norm;
    ``forward`` returns every layer's output, the last being the (N, 1, h, w) logits."""

    def __init__(self, ndf: int, n_layers: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, ndf, 4, 2, 2), nn.LeakyReLU(0.2))]
        nf = ndf
        for n in range(1, n_layers):
            prev, nf = nf, min(nf * 2, 512)
            layers.append(nn.Sequential(nn.Conv2d(prev, nf, 4, 1 if n == n_layers - 1 else 2, 2),
                                        nn.InstanceNorm2d(nf), nn.LeakyReLU(0.2)))
        layers.append(nn.Conv2d(nf, 1, 4, 1, 2))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for layer in self.layers:
            x = layer(x)
            outs.append(x)
        return outs


class MultiscaleD(nn.Module):
    """``num_d`` PatchGANs, each on the image average-pooled once more than the previous one's."""

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.ds = nn.ModuleList(PatchD(cfg.ndf, cfg.n_layers_d) for _ in range(cfg.num_d))

    def forward(self, img: torch.Tensor) -> list[list[torch.Tensor]]:
        outs = []
        for d in self.ds:
            outs.append(d(img * 2.0 - 1.0))
            img = nn.functional.avg_pool2d(img, 3, stride=2, padding=1, count_include_pad=False)
        return outs


def d_hinge(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Discriminator hinge loss, averaged over the discriminators."""
    terms = [torch.relu(1.0 - r[-1]).mean() + torch.relu(1.0 + f[-1]).mean() for r, f in zip(real, fake, strict=True)]
    return sum(terms) / len(terms)


def g_adversarial(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]], lambda_feat: float) -> torch.Tensor:
    """Generator hinge loss ``-D(fake)`` plus feature matching (L1 of the discriminators' intermediate layers,
    weighted ``lambda_feat / num_D``, as pix2pixHD / SPADE)."""
    adv = sum(-f[-1].mean() for f in fake) / len(fake)
    fm = sum(nn.functional.l1_loss(fl, rl.detach()) for r, f in zip(real, fake, strict=True)
             for rl, fl in zip(r[:-1], f[:-1], strict=True))
    return adv + fm * lambda_feat / len(fake)


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    d_losses: list[float] = field(default_factory=list)


def batches(n: int, size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless shuffled index batches of ``size`` over ``n`` training pairs."""
    while True:
        perm = torch.randperm(n, generator=generator)
        for a in range(0, n - size + 1 if n >= size else 1, size):
            yield perm[a:a + size]


def per_pair(x: torch.Tensor, idx: Any) -> torch.Tensor:
    """Intrinsics of the selected pairs: (2,) shared by all pairs, or (N, 2) indexed."""
    return x[idx] if x.ndim == 2 else x


def train_synsin(model: SynSin, pairs: dict[str, Any], cfg: TrainConfig, device: str, loop: Phase,
                 content: nn.Module | None = None, generator: torch.Generator | None = None) -> TrainResult:
    """Optimise ``model`` on training ``pairs`` (the view-pairs layout, images (N, H, W, 3)); one step of ``loop``
    per iteration. ``content`` (a VGG perceptual loss) is required by the "+content" loss."""
    if "content" in cfg.loss and content is None:
        raise ValueError("loss: the '+content' loss needs VGG weights (content=...)")
    src = pairs["src_images"].permute(0, 3, 1, 2).to(device)
    tgt = pairs["tgt_images"].permute(0, 3, 1, 2).to(device)
    R, T = pairs["R_rel"].to(device), pairs["T_rel"].to(device)
    focal, pp = pairs["focal"].to(device), pairs["principal_point"].to(device)
    opt_g = torch.optim.Adam(model.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    disc = MultiscaleD(cfg).to(device) if "gan" in cfg.loss else None
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_d, betas=cfg.betas) if disc is not None else None
    res = TrainResult()
    it = batches(len(src), min(cfg.batch_size, len(src)), generator or torch.Generator().manual_seed(0))
    model.train()
    for _ in range(cfg.iterations):
        with loop.step():
            idx = next(it)
            pred, _ = model(src[idx], R[idx], T[idx], per_pair(focal, idx), per_pair(pp, idx))
            loss = cfg.lambda_l1 * nn.functional.l1_loss(pred, tgt[idx])
            if content is not None and "content" in cfg.loss:
                loss = loss + cfg.lambda_content * content(pred, tgt[idx])
            if disc is not None and opt_d is not None:
                real = disc(tgt[idx])
                loss = loss + g_adversarial(real, disc(pred), cfg.lambda_feat)
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            if disc is not None and opt_d is not None:
                d_loss = d_hinge(disc(tgt[idx]), disc(pred.detach()))
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                res.d_losses.append(float(d_loss.detach()))
        res.losses.append(float(loss.detach()))
    model.eval()
    return res


@torch.no_grad()
def predict(model: SynSin, pairs: dict[str, Any], device: str, batch_size: int = 16) -> torch.Tensor:
    """Predicted target images (N, H, W, 3) on CPU for every pair, in eval mode."""
    model.eval()
    src = pairs["src_images"].permute(0, 3, 1, 2)
    focal, pp = pairs["focal"].to(device), pairs["principal_point"].to(device)
    out = []
    for a in range(0, len(src), batch_size):
        s = slice(a, a + batch_size)
        pred, _ = model(src[s].to(device), pairs["R_rel"][s].to(device), pairs["T_rel"][s].to(device),
                        per_pair(focal, s), per_pair(pp, s))
        out.append(pred.permute(0, 2, 3, 1).cpu())
    return torch.cat(out)
