"""SynSin's VGG-19 content (perceptual) loss: L1 between frozen VGG-19 activations after relu1_1, relu2_1,
relu3_1, relu4_1 and relu5_1, weighted 1/32, 1/16, 1/8, 1/4, 1 (facebookresearch/synsin
``models/losses/synthesis.py`` PerceptualLoss + ``models/networks/architectures.py`` VGG19, images in [-1, 1]).

The weights are torchvision's ImageNet VGG-19 checkpoint, loaded into the plain-torch VGG of
:mod:`bench.metrics.percsim`; absent weights raise NotAvailable (the case is skipped), never a random VGG.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.metrics.percsim import load_vgg

CONTENT_TAPS = (2, 7, 12, 21, 30)
CONTENT_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


class VGGContentLoss(nn.Module):
    """``forward(pred, target)``, both (N, 3, H, W) in [0, 1] -> scalar loss."""

    def __init__(self, weights_path: str | Path | None = None) -> None:
        super().__init__()
        self.vgg, self.path = load_vgg("vgg19", weights_path, CONTENT_TAPS)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fp, ft = self.vgg(pred * 2.0 - 1.0), self.vgg(target * 2.0 - 1.0)
        return sum(w * nn.functional.l1_loss(a, b.detach()) for w, a, b in zip(CONTENT_WEIGHTS, fp, ft, strict=True))
