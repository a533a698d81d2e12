"""Renderers of the book's ch. 4 (soft silhouette, soft Phong, hard Phong), target images and a memory check.

Everything goes through the backend namespace, so the same code runs on PyTorch3D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

# Calibrated on the torch backend (CPU RSS, forward + backward of a soft silhouette): bytes per
# dense (pixel, face slot) buffer entry, per kept (pixel, face) pair, and per face of each mesh copy.
BYTES_PER_SLOT = 48
BYTES_PER_PAIR = 600
BYTES_PER_FACE = 256
LIGHT = (2.0, 2.0, -2.0)  # the book's point light


@dataclass(frozen=True)
class RenderConfig:
    """The book's settings: 256x256, 100 faces per pixel (50 for the textured pass), sigma = gamma = 1e-4."""

    image_size: int = 256
    faces_per_pixel: int = 100
    textured_faces_per_pixel: int = 50
    sigma: float = 1e-4
    gamma: float = 1e-4

    @property
    def blur_radius(self) -> float:
        # The distance at which a face's coverage sigmoid(-d / sigma) falls to 1e-4.
        return math.log(1.0 / 1e-4 - 1.0) * self.sigma


@dataclass
class Renderers:
    silhouette: Any
    textured: Any | None
    hard: Any


def make_renderers(t3d: Any, cfg: RenderConfig, device: str, textured: bool) -> Renderers:
    """Soft silhouette (K faces), soft Phong (for textured scenes) and hard Phong renderers sharing one camera model."""
    r = t3d.renderer
    cams = r.FoVPerspectiveCameras(device=device)
    lights = r.PointLights(device=device, location=(LIGHT,))
    blend = r.BlendParams(sigma=cfg.sigma, gamma=cfg.gamma)
    soft = r.RasterizationSettings(image_size=cfg.image_size, blur_radius=cfg.blur_radius,
                                   faces_per_pixel=cfg.faces_per_pixel)
    sil = r.MeshRenderer(rasterizer=r.MeshRasterizer(cameras=cams, raster_settings=soft),
                         shader=r.SoftSilhouetteShader(blend_params=blend))
    tex = None
    if textured:
        soft_tex = r.RasterizationSettings(image_size=cfg.image_size, blur_radius=cfg.blur_radius,
                                           faces_per_pixel=cfg.textured_faces_per_pixel)
        tex = r.MeshRenderer(rasterizer=r.MeshRasterizer(cameras=cams, raster_settings=soft_tex),
                             shader=r.SoftPhongShader(device=device, cameras=cams, lights=lights, blend_params=blend))
    hard_settings = r.RasterizationSettings(image_size=cfg.image_size, blur_radius=0.0, faces_per_pixel=1)
    hard = r.MeshRenderer(rasterizer=r.MeshRasterizer(cameras=cams, raster_settings=hard_settings),
                          shader=r.HardPhongShader(device=device, cameras=cams, lights=lights))
    return Renderers(sil, tex, hard)


@torch.no_grad()
def render_targets(renderers: Renderers, mesh: Any, R: torch.Tensor, T: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Hard Phong images (V, S, S, 3) and their masks (V, S, S) (non-white pixels, as the book) for V cameras."""
    meshes = mesh.extend(R.shape[0])
    img = renderers.hard(meshes, R=R, T=T)[..., :3]
    mask = (img.max(-1).values != 1.0).to(img.dtype)
    return img, mask


@torch.no_grad()
def render_soft_masks(renderers: Renderers, mesh: Any, R: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Soft silhouettes (V, S, S) at the true cameras: targets whose loss minimum is exactly the true pose
    (a hard mask is thinner than the soft silhouette, which biases the fitted pose)."""
    return renderers.silhouette(mesh.extend(R.shape[0]), R=R, T=T)[..., 3]


def candidate_pairs(t3d: Any, mesh: Any, R: torch.Tensor, T: torch.Tensor, cfg: RenderConfig) -> int:
    """(pixel, face) pairs within the blur radius of each face's screen box, summed over the V views (R, T)."""
    r = t3d.renderer
    cams = r.FoVPerspectiveCameras(R=R, T=T, device=R.device)
    verts = mesh.verts_packed()[None].expand(R.shape[0], -1, -1)
    ndc = cams.transform_points(verts)[..., :2]  # (V, P, 2)
    fv = ndc[:, mesh.faces_packed()]  # (V, F, 3, 2)
    s = cfg.image_size
    margin = math.sqrt(cfg.blur_radius)
    ext = (fv.amax(2) - fv.amin(2) + 2 * margin).clamp(min=0, max=2.0) * s / 2 + 1  # pixels per side
    ext = torch.nan_to_num(ext, nan=float(s), posinf=float(s))
    return int((ext[..., 0] * ext[..., 1]).clamp(max=s * s).sum())


def estimate_memory_bytes(t3d: Any, mesh: Any, R: torch.Tensor, T: torch.Tensor, cfg: RenderConfig,
                          batch: int) -> int:
    """Peak memory of one soft-silhouette forward + backward for ``batch`` copies of each of the V views.

    dense (N, S, S, K) buffers + kept (pixel, face) pairs (at most S^2 K per image) + per-face data.
    """
    s2k = cfg.image_size ** 2 * cfg.faces_per_pixel
    views = R.shape[0]
    pairs = min(candidate_pairs(t3d, mesh, R, T, cfg), views * s2k)
    faces = int(mesh.num_faces_per_mesh()[0])
    return batch * (views * s2k * BYTES_PER_SLOT + pairs * BYTES_PER_PAIR + views * faces * BYTES_PER_FACE)


def check_memory(estimate: int, limit_mb: float, what: str, cfg: RenderConfig, faces: int) -> None:
    """ValueError naming the sizes when the estimated peak exceeds ``limit_mb``."""
    if estimate > limit_mb * 2**20:
        raise ValueError(
            f"{what}: mesh too large for the chosen settings: {faces} faces at image_size {cfg.image_size} with "
            f"faces_per_pixel {cfg.faces_per_pixel} need about {estimate / 2**20:.0f} MiB, over memory_limit_mb="
            f"{limit_mb:g}; lower image_size, faces_per_pixel or random_starts, simplify the mesh, or raise "
            "memory_limit_mb")
