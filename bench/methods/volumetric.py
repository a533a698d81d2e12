"""Raymarching helpers shared by the volumetric fits (used by `volumes` and `nerf`): the tutorials'
robust loss, background compositing, reading target pixels at ray positions, and chunked rendering
of whole images.

All image tensors are channels-last, as PyTorch3D's renderers return them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F


def huber(x: torch.Tensor, y: torch.Tensor, scaling: float = 0.1) -> torch.Tensor:
    """Pseudo-Huber error per element, ``s * (sqrt(1 + ((x - y) / s)^2) - 1)``: quadratic below ``s``, linear above.

    The robust colour/silhouette loss of the book's volume and NeRF fits (PyTorch3D tutorials, scaling 0.1).
    """
    if scaling <= 0:
        raise ValueError(f"scaling: expected a positive number, got {scaling!r}")
    z = (x - y) / scaling
    return scaling * (torch.sqrt(1.0 + z * z) - 1.0)


def composite(rendered: torch.Tensor, background: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a raymarcher's (..., 3 + 1) output into RGB composited on a grey ``background`` and opacity.

    The emission-absorption raymarcher leaves empty space black; the targets show their
    background there, so ``rgb + (1 - opacity) * background`` is what a camera would see.
    """
    if rendered.shape[-1] != 4:
        raise ValueError(f"rendered: expected (..., 4) RGB + opacity, got {tuple(rendered.shape)}")
    rgb, alpha = rendered[..., :3], rendered[..., 3:]
    return rgb + (1.0 - alpha) * background, alpha[..., 0]


def sample_at_ndc(images: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Bilinear values of images (N, H, W, C) at PyTorch3D NDC points xy (N, R, 2) -> (N, R, C).

    NDC has +X left, +Y up and the shorter side spanning [-1, 1] between pixel *edges*, so the
    raysamplers' pixel centres land exactly on pixel values (grid_sample with align_corners=False).
    """
    if images.ndim != 4 or xy.ndim != 3 or xy.shape[0] != images.shape[0] or xy.shape[-1] != 2:
        raise ValueError(f"expected images (N, H, W, C) and xy (N, R, 2) with the same N; got "
                         f"{tuple(images.shape)} and {tuple(xy.shape)}")
    n, h, w, _ = images.shape
    s = min(h, w)
    grid = torch.stack((-xy[..., 0] * (s / w), -xy[..., 1] * (s / h)), dim=-1)[:, :, None]  # (N, R, 1, 2)
    out = F.grid_sample(images.permute(0, 3, 1, 2), grid.to(images.dtype), mode="bilinear",
                        padding_mode="border", align_corners=False)  # (N, C, R, 1)
    return out[..., 0].permute(0, 2, 1)


def march_chunked(field: Callable[..., tuple[torch.Tensor, torch.Tensor]], raymarcher: Callable[..., torch.Tensor],
                  bundle: Any, ray_bundle_cls: Any, chunk: int) -> torch.Tensor:
    """Evaluate ``field`` and march the rays of ``bundle`` (N, ..., 3) ``chunk`` rays at a time -> (N, ..., C + 1).

    Keeps memory at O(chunk x points per ray), so a full-resolution image of any size can be rendered.
    """
    if chunk < 1:
        raise ValueError(f"chunk: expected a positive number of rays, got {chunk!r}")
    n, spatial = bundle.origins.shape[0], bundle.origins.shape[1:-1]
    o, d = bundle.origins.reshape(n, -1, 3), bundle.directions.reshape(n, -1, 3)
    lengths = bundle.lengths.reshape(n, o.shape[1], -1)
    xys = bundle.xys.reshape(n, -1, 2)
    outs = []
    for a in range(0, o.shape[1], chunk):
        sub = ray_bundle_cls(origins=o[:, a:a + chunk], directions=d[:, a:a + chunk],
                             lengths=lengths[:, a:a + chunk], xys=xys[:, a:a + chunk])
        dens, feats = field(ray_bundle=sub)
        outs.append(raymarcher(rays_densities=dens, rays_features=feats, ray_bundle=sub))
    out = torch.cat(outs, dim=1)
    return out.reshape(n, *spatial, out.shape[-1])
