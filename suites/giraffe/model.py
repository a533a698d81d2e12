"""GIRAFFE (Niemeyer & Geiger, CVPR 2021; book ch. 7): compositional generative neural feature fields.

Each object is a feature field conditioned on a shape code and an appearance code, evaluated in its own box
frame (points mapped by the inverse of its affine pose: scale, translation on the ground plane, rotation about the
up axis) with its density zeroed outside the box; the background is one more field evaluated on down-scaled world
points; raw densities get N(0, 1) noise while training. Densities add and features are averaged with density
weights (``composite_function`` of im2scene/giraffe/models/generator.py), the composed field is volume-rendered
to a low-resolution feature map, and a 2D neural renderer (nearest upsampling + 3x3 convs,
an RGB head per resolution added to the upsampled RGB of the previous one, as im2scene/giraffe/models/
neural_renderer.py) turns it into the image. Rays, points along rays, the harmonic embedding and the
emission-absorption raymarcher come from the harness backend (``ctx.backend``). The camera is sampled per image
as GIRAFFE's ``get_random_pose`` (camera.py): azimuth 2 pi u, polar angle arccos(1 - 2 v) from the up axis, with
u, v uniform in ``range_u`` / ``range_v``, at distance ``radius``, looking at the origin. World: PyTorch3D's, +y up
(GIRAFFE's world is z-up: its x, y translations are our x, z).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class GeneratorConfig:
    """Sizes and scene ranges. Defaults are GIRAFFE's (configs/default.yaml, generator.py, bounding_box_generator.py)
    except where the suite's profile scales them down."""

    image_size: int = 64
    resolution_vol: int = 16          # generator.py resolution_vol
    n_ray_samples: int = 64           # generator.py n_ray_samples
    depth_range: tuple[float, float] = (0.5, 6.0)  # generator.py depth_range
    radius: float = 2.732             # generator.py range_radius
    fov: float = 49.13                # generator.py fov (the book's cars config: 10)
    n_objects: int = 1                # bounding_box_generator.py n_boxes
    z_dim: int = 256                  # configs/default.yaml z_dim
    z_dim_bg: int = 128               # configs/default.yaml z_dim_bg
    hidden: int = 128                 # decoder.py hidden_size
    hidden_bg: int = 64               # configs/default.yaml background_generator_kwargs.hidden_size
    n_features: int = 128             # decoder.py n_feat
    n_harmonics: int = 10             # decoder.py n_freq_posenc (points)
    bg_downscale: float = 12.0        # configs/default.yaml downscale_p_by
    scale_range: tuple[float, float] = (0.5, 0.5)        # bounding_box_generator.py scale_range_min/max
    translation_range: tuple[float, float] = (-0.75, 0.75)  # bounding_box_generator.py translation x, y
    rotation_range: tuple[float, float] = (0.0, 1.0)     # bounding_box_generator.py (fraction of 2 pi)
    range_u: tuple[float, float] = (0.0, 0.0)            # generator.py range_u (camera azimuth, fraction of 2 pi)
    range_v: tuple[float, float] = (0.25, 0.25)          # generator.py range_v (polar angle arccos(1 - 2v))
    renderer_min_features: int = 32   # neural_renderer.py min_feat

    def __post_init__(self) -> None:
        ups = math.log2(self.image_size / self.resolution_vol)
        if ups < 0 or ups != int(ups):
            raise ValueError(f"image_size: expected resolution_vol ({self.resolution_vol}) times a power of 2, got "
                             f"{self.image_size}")
        for name in ("n_ray_samples", "n_objects", "z_dim", "z_dim_bg", "hidden", "hidden_bg", "n_features"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)!r}")


@dataclass
class Scene:
    """Latent codes and poses of a batch: z_shape/z_app (B, K, z), z_bg_shape/z_bg_app (B, z_bg),
    scale (B, K, 1), translation (B, K, 3), rotation (B, K, 3, 3) (row vectors: box = (p - t) @ R / s), camera (B, 2)
    (elevation, azimuth) in degrees, PyTorch3D's ``look_at_view_transform`` convention."""

    z_shape: torch.Tensor
    z_app: torch.Tensor
    z_bg_shape: torch.Tensor
    z_bg_app: torch.Tensor
    scale: torch.Tensor
    translation: torch.Tensor
    rotation: torch.Tensor
    camera: torch.Tensor

    def with_translation(self, k: int, translation: torch.Tensor) -> Scene:
        """A copy with object ``k`` moved to ``translation`` (B, 3); everything else unchanged."""
        t = self.translation.clone()
        t[:, k] = translation
        return Scene(self.z_shape, self.z_app, self.z_bg_shape, self.z_bg_app, self.scale, t, self.rotation,
                     self.camera)


class FeatureField(nn.Module):
    """(B, R, 3) points + shape code (B, z) + appearance code (B, z) -> raw density (B, R), features (B, R, F).

    Harmonic embedding of the points, a ReLU MLP with the shape code added to its first layer, a density head,
    and a feature head that also sees the appearance code (decoder.py's layout, fewer blocks)."""

    def __init__(self, t3d: Any, z_dim: int, hidden: int, n_features: int, n_harmonics: int, n_blocks: int = 3,
                 density_bias: float = 0.0):
        super().__init__()
        self.embed = t3d.renderer.HarmonicEmbedding(n_harmonics, append_input=True)
        dim = 3 * (2 * n_harmonics + 1)
        self.inp = nn.Linear(dim, hidden)
        self.shape = nn.Linear(z_dim, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(n_blocks - 1))
        self.sigma = nn.Linear(hidden, 1)
        with torch.no_grad():
            self.sigma.bias.fill_(density_bias)
        self.app = nn.Linear(z_dim, hidden)
        self.feat = nn.Linear(hidden, n_features)

    def forward(self, p: torch.Tensor, z_shape: torch.Tensor, z_app: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.inp(self.embed(p)) + self.shape(z_shape)[:, None])
        for block in self.blocks:
            h = F.relu(block(h))
        sigma = self.sigma(h)[..., 0]  # raw: the generator adds training noise, masks, then applies ReLU
        feat = self.feat(F.relu(h + self.app(z_app)[:, None]))
        return sigma, feat


class NeuralRenderer(nn.Module):
    """Feature map (B, F, r, r) -> RGB (B, 3, r * 2^U, r * 2^U) in (0, 1): per upsampling, nearest x2 + conv 3x3
    + leaky ReLU on the features, and an RGB from them added to the bilinearly upsampled RGB so far."""

    def __init__(self, n_features: int, n_up: int, min_features: int = 32):
        super().__init__()
        chans = [max(n_features // 2 ** i, min(min_features, n_features)) for i in range(n_up + 1)]
        self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1) for i in range(n_up))
        self.rgb = nn.ModuleList(nn.Conv2d(c, 3, 3, padding=1) for c in chans)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = self.rgb[0](x)
        for conv, to_rgb in zip(self.convs, self.rgb[1:], strict=True):
            x = F.leaky_relu(conv(F.interpolate(x, scale_factor=2.0, mode="nearest")), 0.2)
            rgb = F.interpolate(rgb, scale_factor=2.0, mode="bilinear", align_corners=False) + to_rgb(x)
        return torch.sigmoid(rgb)


class Generator(nn.Module):
    """Scene -> image (B, 3, S, S) in (0, 1): object and background fields, composition, volume rendering of
    features at ``resolution_vol``, neural renderer."""

    def __init__(self, t3d: Any, cfg: GeneratorConfig):
        super().__init__()
        self.t3d, self.cfg = t3d, cfg
        self.objects = nn.ModuleList(FeatureField(t3d, cfg.z_dim, cfg.hidden, cfg.n_features, cfg.n_harmonics)
                                     for _ in range(cfg.n_objects))
        # the background starts opaque (density bias 1): otherwise an eval-mode sample (no density noise) of a
        # barely trained generator often has no background at all; GIRAFFE's long training gets there by itself
        self.background = FeatureField(t3d, cfg.z_dim_bg, cfg.hidden_bg, cfg.n_features, max(cfg.n_harmonics // 2, 1),
                                       density_bias=1.0)
        self.renderer = NeuralRenderer(cfg.n_features, int(math.log2(cfg.image_size // cfg.resolution_vol)),
                                       cfg.renderer_min_features)
        self.marcher = t3d.renderer.EmissionAbsorptionRaymarcher()

    def sample_scene(self, batch: int, generator: torch.Generator | None = None, device: Any = "cpu") -> Scene:
        """Codes ~ N(0, 1); scale, ground-plane (x, z) translation, rotation about +y and the camera's u, v uniform
        in the configured ranges (bounding_box_generator.py, camera.py ``sample_on_sphere``)."""
        c, k = self.cfg, self.cfg.n_objects

        def u(*shape: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(*shape, generator=generator)

        t = torch.zeros(batch, k, 3)
        t[..., ::2] = u(batch, k, 2, lo=c.translation_range[0], hi=c.translation_range[1])
        ang = u(batch, k, lo=c.rotation_range[0], hi=c.rotation_range[1]) * 2 * math.pi
        cos, sin, zero, one = torch.cos(ang), torch.sin(ang), torch.zeros_like(ang), torch.ones_like(ang)
        rot = torch.stack([cos, zero, -sin, zero, one, zero, sin, zero, cos], -1).reshape(batch, k, 3, 3)
        cu, cv = u(batch, lo=c.range_u[0], hi=c.range_u[1]), u(batch, lo=c.range_v[0], hi=c.range_v[1])
        camera = torch.stack([90.0 - torch.rad2deg(torch.arccos(1.0 - 2.0 * cv)), 360.0 * cu], -1)
        scene = Scene(torch.randn(batch, k, c.z_dim, generator=generator),
                      torch.randn(batch, k, c.z_dim, generator=generator),
                      torch.randn(batch, c.z_dim_bg, generator=generator),
                      torch.randn(batch, c.z_dim_bg, generator=generator),
                      u(batch, k, 1, lo=c.scale_range[0], hi=c.scale_range[1]), t, rot, camera)
        return Scene(*(x.to(device) for x in vars(scene).values()))

    def rays(self, camera: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World points (B, r*r, P, 3) and their depths (B, r*r, P) of the cameras (B, 2) (elevation, azimuth in
        degrees; at distance ``radius`` looking at the origin), from the backend's raysampler."""
        c, r, batch = self.cfg, self.t3d.renderer, camera.shape[0]
        R, T = r.look_at_view_transform(dist=c.radius, elev=camera[:, 0], azim=camera[:, 1], device=camera.device)
        cams = r.FoVPerspectiveCameras(R=R, T=T, fov=c.fov, device=camera.device)
        sampler = r.NDCMultinomialRaysampler(image_width=c.resolution_vol, image_height=c.resolution_vol,
                                             n_pts_per_ray=c.n_ray_samples, min_depth=c.depth_range[0],
                                             max_depth=c.depth_range[1])
        bundle = sampler(cams)
        pts = r.ray_bundle_to_ray_points(bundle)
        return pts.reshape(batch, -1, c.n_ray_samples, 3), bundle.lengths.reshape(batch, -1, c.n_ray_samples)

    def _noisy(self, sigma: torch.Tensor) -> torch.Tensor:
        """GIRAFFE adds N(0, 1) noise to raw densities while training (generator.py, "as done in NeRF")."""
        return sigma + torch.randn_like(sigma) if self.training else sigma

    def object_field(self, flat: torch.Tensor, scene: Scene, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw density (B, N) and features (B, N, F) of object ``k`` at world points (B, N, 3): evaluated in its box
        frame, density zeroed outside the box padded by 0.1 (generator.py ``mask_box``)."""
        box = (flat - scene.translation[:, k, None]) @ scene.rotation[:, k] / scene.scale[:, k, None]
        sigma, feat = self.objects[k](box, scene.z_shape[:, k], scene.z_app[:, k])
        inside = (box.abs() <= 1.1).all(-1)
        return torch.where(inside, self._noisy(sigma), torch.zeros_like(sigma)), feat

    def feature_map(self, scene: Scene) -> torch.Tensor:
        """The composed fields volume-rendered to (B, F, r, r)."""
        b = scene.z_bg_app.shape[0]
        pts, depth = self.rays(scene.camera)
        n_rays, n_pts = pts.shape[1:3]
        flat = pts.reshape(b, -1, 3)
        sigmas, feats = [], []
        for k in range(len(self.objects)):
            s, f = self.object_field(flat, scene, k)
            sigmas.append(s)
            feats.append(f)
        s, f = self.background(flat / self.cfg.bg_downscale, scene.z_bg_shape, scene.z_bg_app)
        sigmas.append(self._noisy(s))
        feats.append(f)
        sigma = F.relu(torch.stack(sigmas))               # (K+1, B, R*P)
        total = sigma.sum(0)
        weights = sigma / total.clamp_min(1e-4)           # density-weighted features (generator.py composite)
        feat = (weights[..., None] * torch.stack(feats)).sum(0)
        dists = torch.diff(depth, dim=-1, append=torch.full_like(depth[..., :1], 1e10))  # last sample: opaque
        alpha = 1.0 - torch.exp(-total.reshape(b, n_rays, n_pts) * dists)
        out = self.marcher(alpha[..., None], feat.reshape(b, n_rays, n_pts, -1))[..., :-1]
        r = self.cfg.resolution_vol
        return out.reshape(b, r, r, -1).permute(0, 3, 1, 2)

    def forward(self, scene: Scene) -> torch.Tensor:
        return self.renderer(self.feature_map(scene))


class Discriminator(nn.Module):
    """DCGAN discriminator (im2scene/discriminator/conv.py ``DCDiscriminator``): 4x4 stride-2 convs with leaky
    ReLU, channels doubling up to ``max_channels``, down to 4x4, then a 4x4 conv to one logit."""

    def __init__(self, image_size: int, base: int = 64, max_channels: int = 512):
        super().__init__()
        layers: list[nn.Module] = []
        c_in, c, size = 3, base, image_size
        while size > 4:
            layers += [nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.2)]
            c_in, c, size = c, min(c * 2, max_channels), size // 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(c_in, 1, 4, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [0, 1] -> (B,) logits."""
        return self.head(self.body(x)).reshape(-1)
