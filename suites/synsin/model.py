"""SynSin (Wiles et al., CVPR 2020; book ch. 9): features + depth from one image, a point cloud moved by the
relative pose, splatted by a differentiable point renderer and refined into the target image.

Sources of the settings (facebookresearch/synsin): ResNet-block feature encoder and refinement decoder
(``refine_model_type resnet_256W8UpDown64``: 64 feature channels, blocks at full resolution and a down/up pair
in the decoder), a UNet depth regressor with a sigmoid (``models/z_buffermodel.py``: depth in [min_z, max_z];
its KITTI variant regresses inverse depth ``--use_inverse_depth``), the splatter of
``models/layers/z_buffer_layers.py`` (radius in pixels converted to NDC as ``r / W * 2``, K = ``pp_pixel``
points per pixel, alpha ``(1 - sqrt(d / r^2)) ^ tau``, ``--accumulation alphacomposite`` as ``train.sh``).
The renderer is the backend's ``PointsRasterizer`` + ``AlphaCompositor``, so the model runs unchanged on the
built-in backend and on PyTorch3D.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    """Network and renderer sizes (SynSin's at 256x256: 64 channels, radius 4 px, 128 points per pixel)."""

    channels: int = 64
    blocks: int = 2
    min_z: float = 0.5
    max_z: float = 10.0
    inverse_depth: bool = True
    radius_px: float = 4.0
    points_per_pixel: int = 128
    tau: float = 1.0
    rgb_skip: bool = False
    residual: bool = False


class ResBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the (1x1-projected) input, then ReLU: (N, Cin, H, W) -> (N, Cout, H, W)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class FeatureNet(nn.Module):
    """Per-pixel features: (N, 3, H, W) in [0, 1] -> (N, C, H, W), ResNet blocks at full resolution."""

    def __init__(self, channels: int, blocks: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [ResBlock(3, channels)]
        layers += [ResBlock(channels, channels) for _ in range(blocks - 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.net(img * 2.0 - 1.0)


class DepthNet(nn.Module):
    """A two-level UNet: (N, 3, H, W) -> depth (N, 1, H, W) in [min_z, max_z] through a sigmoid (inverse depth
    uniform in the sigmoid when ``inverse_depth``, else depth itself)."""

    def __init__(self, cfg: ModelConfig, width: int = 32) -> None:
        super().__init__()
        c = width
        self.cfg = cfg
        self.enc1 = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU())
        self.mid = nn.Sequential(nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU())
        self.dec2 = nn.Sequential(nn.Conv2d(4 * c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU())
        self.dec1 = nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate
        e1 = self.enc1(img * 2.0 - 1.0)
        e2 = self.enc2(e1)
        m = up(self.mid(e2), size=e2.shape[-2:], mode="bilinear", align_corners=False)
        d2 = up(self.dec2(torch.cat([m, e2], 1)), size=e1.shape[-2:], mode="bilinear", align_corners=False)
        s = torch.sigmoid(self.dec1(torch.cat([d2, e1], 1)))
        lo, hi = self.cfg.min_z, self.cfg.max_z
        if self.cfg.inverse_depth:
            return 1.0 / (s * (1.0 / lo - 1.0 / hi) + 1.0 / hi)
        return s * (hi - lo) + lo


class RefineNet(nn.Module):
    """Projected features (N, Cin, H, W) -> image (N, 3, H, W) in [0, 1]: ResNet blocks, one down/up pair, tanh
    mapped to [0, 1] (SynSin's decoder ends in tanh on [-1, 1] images).

    ``residual``: the output is the projected colour (the first 3 input channels, carried by ``rgb_skip``) plus a
    tanh correction whose last convolution starts at zero, so training starts from the reprojection (a CPU-scale
    aid, not SynSin's decoder)."""

    def __init__(self, cin: int, channels: int, blocks: int, residual: bool = False) -> None:
        super().__init__()
        self.residual = residual
        self.pre = nn.Sequential(ResBlock(cin, channels), *[ResBlock(channels, channels) for _ in range(blocks - 1)])
        self.down = ResBlock(channels, 2 * channels)
        self.up = ResBlock(2 * channels + channels, channels)
        self.out = nn.Conv2d(channels, 3, 3, padding=1)
        if residual:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pre(x)
        d = self.down(nn.functional.avg_pool2d(h, 2, ceil_mode=True))
        u = nn.functional.interpolate(d, size=h.shape[-2:], mode="nearest")
        y = torch.tanh(self.out(self.up(torch.cat([u, h], 1))))
        if self.residual:
            return (x[:, :3] + y).clamp(0.0, 1.0)
        return (y + 1.0) / 2.0


def lift(depth: torch.Tensor, focal: torch.Tensor, principal_point: torch.Tensor) -> torch.Tensor:
    """Camera-space points (N, H*W, 3) of every pixel centre at ``depth`` (N, 1, H, W); focal, principal_point
    (2,) or (N, 2) in pixels; PyTorch3D axes (+X left, +Y up, +Z into the screen)."""
    n, _, h, w = depth.shape
    v, u = torch.meshgrid(torch.arange(h, device=depth.device, dtype=depth.dtype) + 0.5,
                          torch.arange(w, device=depth.device, dtype=depth.dtype) + 0.5, indexing="ij")
    f = focal.to(depth).reshape(-1, 1, 1, 2)
    c = principal_point.to(depth).reshape(-1, 1, 1, 2)
    x, y = -(u - c[..., 0]) / f[..., 0], -(v - c[..., 1]) / f[..., 1]
    rays = torch.stack([x, y, torch.ones_like(x)], -1).reshape(x.shape[0], -1, 3)
    return rays * depth.reshape(n, -1, 1)


def splat(t3d: Any, points: torch.Tensor, feats: torch.Tensor, focal: torch.Tensor, principal_point: torch.Tensor,
          image_size: tuple[int, int], cfg: ModelConfig, background: float | None = None) -> torch.Tensor:
    """Render target-camera points (N, P, 3) carrying features (N, P, C) into (N, C, H, W) with the backend's
    PointsRasterizer + AlphaCompositor (radius ``cfg.radius_px`` pixels, ``cfg.points_per_pixel`` per pixel).

    The camera is a screen-space ``PerspectiveCameras`` (focal, principal_point (2,) or (N, 2) pixels), so a point
    lifted by :func:`lift` from pixel (u, v) lands on that pixel."""
    r = t3d.renderer
    n, dev = points.shape[0], points.device
    cams = r.PerspectiveCameras(focal_length=focal.to(points).reshape(-1, 2).expand(n, 2),
                                principal_point=principal_point.to(points).reshape(-1, 2).expand(n, 2), in_ndc=False,
                                image_size=[tuple(image_size)] * n, R=torch.eye(3, device=dev).expand(n, 3, 3),
                                T=torch.zeros(n, 3, device=dev), device=dev)
    radius = float(cfg.radius_px) / float(min(image_size)) * 2.0
    settings = r.PointsRasterizationSettings(image_size=image_size, radius=radius,
                                             points_per_pixel=cfg.points_per_pixel)
    clouds = t3d.structures.Pointclouds(points=list(points), features=list(feats))
    frags = r.PointsRasterizer(cameras=cams, raster_settings=settings)(clouds)
    d = (frags.dists / radius ** 2).clamp(min=1e-3, max=1.0)
    alphas = (1.0 - d.sqrt()).pow(cfg.tau).permute(0, 3, 1, 2)
    bg = None if background is None else [background] * feats.shape[-1]
    return r.AlphaCompositor(background_color=bg)(frags.idx.long().permute(0, 3, 1, 2), alphas,
                                                  clouds.features_packed().permute(1, 0))


class SynSin(nn.Module):
    """The generator: ``forward(src (N, 3, H, W), R_rel (N, 3, 3), T_rel (N, 3), focal, pp)`` (pixels) -> predicted
    target image (N, 3, H, W) and the regressed depth (N, 1, H, W)."""

    def __init__(self, t3d: Any, cfg: ModelConfig) -> None:
        super().__init__()
        self.t3d, self.cfg = t3d, cfg
        if cfg.residual and not cfg.rgb_skip:
            raise ValueError("residual: the residual decoder needs rgb_skip (the projected colour it corrects)")
        self.features = FeatureNet(cfg.channels, cfg.blocks)
        self.depth = DepthNet(cfg)
        self.refine = RefineNet(cfg.channels + (3 if cfg.rgb_skip else 0), cfg.channels, cfg.blocks, cfg.residual)

    def forward(self, src: torch.Tensor, R_rel: torch.Tensor, T_rel: torch.Tensor, focal: torch.Tensor,
                principal_point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, _, h, w = src.shape
        feats = self.features(src)
        if self.cfg.rgb_skip:  # SynSin's --use_rgb_features carries colour only; here colour + learned features
            feats = torch.cat([src, feats], 1)
        feats = feats.flatten(2).transpose(1, 2)
        depth = self.depth(src)
        pts = lift(depth, focal, principal_point) @ R_rel + T_rel[:, None]
        projected = splat(self.t3d, pts, feats, focal, principal_point, (h, w), self.cfg)
        return self.refine(projected), depth


def reproject(t3d: Any, src: torch.Tensor, depth: torch.Tensor, R_rel: torch.Tensor, T_rel: torch.Tensor,
              focal: torch.Tensor, principal_point: torch.Tensor, cfg: ModelConfig
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The "reproject with true depth" reference: source colours (N, 3, H, W) splatted at the true depth
    (N, H, W) into the target view; returns the image and its coverage (N, H, W) bool. Uncovered pixels keep the
    source colour at the same pixel (no learning, no target information)."""
    n, _, h, w = src.shape
    pts = lift(depth[:, None], focal, principal_point) @ R_rel + T_rel[:, None]
    rgba = torch.cat([src, torch.ones_like(src[:, :1])], 1).flatten(2).transpose(1, 2)
    out = splat(t3d, pts, rgba, focal, principal_point, (h, w), cfg)
    cover = out[:, 3:]
    img = out[:, :3] / cover.clamp(min=1e-6)
    hit = cover > 0.05
    return torch.where(hit, img, src).clamp(0, 1), hit[:, 0]
