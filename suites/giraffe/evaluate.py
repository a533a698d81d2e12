"""Scoring a GIRAFFE generator: samples under the pinned generative protocol, the moving-object
controllability check, and the sample-grid / moving-object-strip artifacts."""

from __future__ import annotations

import time

import torch
from torch.nn import functional as F

from bench.metrics.fid_reference import GenerativeProtocol, ReferenceStats, extract, score_features
from bench.metrics.generative import InceptionFeatures
from suites.giraffe.model import Generator, Scene


@torch.no_grad()
def sample_images(g: Generator, n: int, batch_size: int, seed: int, device: str) -> tuple[torch.Tensor, float]:
    """``n`` samples (N, 3, S, S) in [0, 1] from fixed-seed scenes, and the generation rate in images/s."""
    gen = torch.Generator().manual_seed(seed)
    out, t0 = [], time.perf_counter()
    for a in range(0, n, batch_size):
        out.append(g(g.sample_scene(min(batch_size, n - a), gen, device)).clamp(0, 1).cpu())
    return torch.cat(out), n / (time.perf_counter() - t0)


def fid_of(g: Generator, reference: ReferenceStats, ext: InceptionFeatures, protocol: GenerativeProtocol,
           seed: int, device: str) -> tuple[dict, torch.Tensor, float]:
    """({"fid": ..., "kid": ...} MetricResults, the (N, 2048) features of the samples, images/s)."""
    images, rate = sample_images(g, protocol.num_images, protocol.batch_size, seed, device)
    feats = extract(ext, images, protocol.batch_size)
    return score_features(feats, reference, ext, protocol), feats, rate


@torch.no_grad()
def object_opacity(g: Generator, scene: Scene, k: int) -> torch.Tensor:
    """Opacity (B, r, r) of object ``k`` alone along each ray of the feature grid: 1 - exp(-sum sigma_k delta)."""
    b = scene.z_bg_app.shape[0]
    pts, depth = g.rays(scene.camera)
    sigma = F.relu(g.object_field(pts.reshape(b, -1, 3), scene, k)[0])
    dists = torch.diff(depth, dim=-1, append=depth[..., -1:])  # no infinite last interval for an object
    tau = (sigma.reshape(depth.shape) * dists).sum(-1)
    r = g.cfg.resolution_vol
    return (1.0 - torch.exp(-tau)).reshape(b, r, r)


@torch.no_grad()
def controllability(g: Generator, n: int, shift: float, seed: int, device: str,
                    threshold: float = 0.1) -> tuple[float | None, float, torch.Tensor]:
    """Share of the L1 image change caused by translating object 0 by ``shift`` along x that falls inside that
    object's footprint (its opacity > ``threshold`` before or after the move, on the feature grid, dilated by one
    cell for the renderer's 3x3 convolutions, upsampled to the image): 1 = the rest of the image stays.

    Returns (the share over ``n`` scenes, or None when the move changes nothing; the footprint's mean share of the
    image, which the first must clearly exceed to mean anything; a (2, 3, S, S) before/after pair).
    """
    scene = g.sample_scene(n, torch.Generator().manual_seed(seed), device)
    moved = scene.translation[:, 0].clone()
    moved[:, 0] += shift
    after = scene.with_translation(0, moved)
    img0, img1 = g(scene), g(after)
    mask = torch.maximum(object_opacity(g, scene, 0), object_opacity(g, after, 0)) > threshold
    mask = F.max_pool2d(mask[:, None].float(), 3, stride=1, padding=1)
    mask = F.interpolate(mask, size=img0.shape[-2:], mode="nearest")
    change = (img1 - img0).abs().sum(1, keepdim=True)
    total = float(change.sum())
    share = None if total <= 1e-8 * change.numel() else float((change * mask).sum()) / total
    return share, float(mask.mean()), torch.stack([img0[0], img1[0]]).cpu()


@torch.no_grad()
def moving_strip(g: Generator, steps: int, seed: int, device: str) -> torch.Tensor:
    """(H, steps * W, 3) strip: one scene with object 0 moved across the translation range along x."""
    c = g.cfg
    scene = g.sample_scene(1, torch.Generator().manual_seed(seed), device)
    frames = []
    for x in torch.linspace(c.translation_range[0], c.translation_range[1], steps):
        t = scene.translation[:, 0].clone()
        t[:, 0] = float(x)
        frames.append(g(scene.with_translation(0, t))[0].clamp(0, 1).cpu())
    return torch.cat(frames, dim=2).permute(1, 2, 0)


def grid(images: torch.Tensor, cols: int = 8) -> torch.Tensor:
    """(N, 3, S, S) -> (rows * S, cols * S, 3), missing cells black."""
    n, _, s, _ = images.shape
    rows = -(-n // cols)
    pad = torch.zeros(rows * cols - n, 3, s, s)
    x = torch.cat([images, pad]).reshape(rows, cols, 3, s, s)
    return x.permute(0, 3, 1, 4, 2).reshape(rows * s, cols * s, 3)
