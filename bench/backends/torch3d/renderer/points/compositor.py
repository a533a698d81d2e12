"""Compositor modules for the points renderer, with an optional background colour."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .compositing import alpha_composite, norm_weighted_sum

_Color = Sequence[float] | torch.Tensor | float | None


def _add_background_color_to_images(pix_idxs: torch.Tensor, images: torch.Tensor, background_color: _Color):
    """Set pixels with no point at all (pix_idxs[:, 0] < 0) to ``background_color``.

    images (N, C, H, W); a colour of C - 1 values gets alpha 1 appended.
    """
    mask = pix_idxs[:, 0] < 0  # (N, H, W)
    color = torch.as_tensor(background_color, dtype=images.dtype, device=images.device)
    c = images.shape[1]
    if color.ndim == 0:
        color = color.expand(c)
    if color.ndim != 1:
        raise ValueError(f"background_color must be a scalar or a 1D sequence; got shape {tuple(color.shape)}")
    if color.shape[0] + 1 == c:
        color = torch.cat((color, color.new_ones(1)))
    if color.shape[0] != c:
        raise ValueError(f"background_color has {color.shape[0]} values but the images have {c} channels")
    return torch.where(mask[:, None], color.view(1, c, 1, 1), images)


class AlphaCompositor(torch.nn.Module):
    """Front-to-back alpha compositing of the K points per pixel (see alpha_composite)."""

    def __init__(self, background_color: _Color = None) -> None:
        super().__init__()
        self.background_color = background_color

    def forward(self, fragments: torch.Tensor, alphas: torch.Tensor, ptclds: torch.Tensor, **kwargs) -> torch.Tensor:
        """fragments (N, K, H, W) point ids, alphas (N, K, H, W), ptclds (C, P) -> (N, C, H, W)."""
        background_color = kwargs.get("background_color", self.background_color)
        images = alpha_composite(fragments, alphas, ptclds)
        if background_color is not None:
            images = _add_background_color_to_images(fragments, images, background_color)
        return images


class NormWeightedCompositor(torch.nn.Module):
    """Weight-normalised sum of the K points per pixel (see norm_weighted_sum)."""

    def __init__(self, background_color: _Color = None) -> None:
        super().__init__()
        self.background_color = background_color

    def forward(self, fragments: torch.Tensor, alphas: torch.Tensor, ptclds: torch.Tensor, **kwargs) -> torch.Tensor:
        """fragments (N, K, H, W) point ids, alphas (N, K, H, W), ptclds (C, P) -> (N, C, H, W)."""
        background_color = kwargs.get("background_color", self.background_color)
        images = norm_weighted_sum(fragments, alphas, ptclds)
        if background_color is not None:
            images = _add_background_color_to_images(fragments, images, background_color)
        return images
