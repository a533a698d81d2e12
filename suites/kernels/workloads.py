"""The backend's kernel workloads, built from a backend namespace so they run on either backend.

Each builder takes ``t3d`` (``bench.backends.load(...)``), a device and its settings, and returns a
:class:`Workload`: a ``step`` to time (inputs built once, outside it) and a ``check`` that runs the step
once more and returns figures that an independent reference can judge (areas, radii, gradient norms).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

# The book's soft silhouette settings (ch. 3/4): sigma = gamma = 1e-4 and the blur radius at which
# the sigmoid edge profile falls to sigma, log(1/sigma - 1) * sigma.
SIGMA = 1e-4
BLUR_RADIUS = math.log(1.0 / SIGMA - 1.0) * SIGMA
CAMERA_DIST, CAMERA_ELEV, CAMERA_AZIM, FOV_DEG = 2.7, 10.0, 20.0, 60.0

# name -> (builder, default settings); a case may override any of the settings.
KERNELS: dict[str, dict[str, Any]] = {
    "soft_silhouette_128_k50": {"kind": "soft_silhouette", "image_size": 128, "faces_per_pixel": 50, "level": 4},
    "soft_silhouette_256_k100": {"kind": "soft_silhouette", "image_size": 256, "faces_per_pixel": 100, "level": 4},
    "chamfer_10k": {"kind": "chamfer", "points": 10_000},
    "sample_points_10k": {"kind": "sample_points", "points": 10_000, "level": 4},
    "mesh_fit_step": {"kind": "mesh_fit_step", "points": 5_000, "level": 4},
    # SynSin's smoke splatting (suites/synsin, profile smoke): 16 clouds of one point per pixel at 40x40, radius
    # 1.5 px, 8 points per pixel, 16 feature channels
    "points_render_synsin": {"kind": "points_render", "image_size": 40, "points": 1600, "clouds": 16,
                             "radius_px": 1.5, "points_per_pixel": 8, "channels": 16},
}
# The book's mesh-fitting objective (ch. 4, as suites/mesh_fitting/fit.py's "full"): Chamfer 1, edge 1,
# normal consistency 0.01, uniform Laplacian 0.1.
FIT_WEIGHTS = {"chamfer": 1.0, "edge": 1.0, "normal": 0.01, "laplacian": 0.1}


@dataclass
class Workload:
    """A timed step (forward + backward where the op is differentiable) and its checks."""

    step: Callable[[], Any]
    check: Callable[[], dict[str, float]]
    description: str


def _positive_int(settings: dict[str, Any], key: str) -> int:
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"kernel setting {key!r}: expected a positive integer, got {value!r}")
    return value


def expected_sphere_disc_area_px(image_size: int, dist: float = CAMERA_DIST, fov_deg: float = FOV_DEG) -> float:
    """Area in pixels of a unit sphere's perspective silhouette at ``dist`` (a disc of NDC radius f/sqrt(d^2-1))."""
    focal = 1.0 / math.tan(math.radians(fov_deg) / 2.0)
    radius_px = focal / math.sqrt(dist * dist - 1.0) * image_size / 2.0
    return math.pi * radius_px**2


def soft_silhouette(t3d: Any, device: str, settings: dict[str, Any]) -> Workload:
    """Soft silhouette of ico_sphere(level), forward + backward to the vertices. Output (1, S, S) alpha."""
    size, k = _positive_int(settings, "image_size"), _positive_int(settings, "faces_per_pixel")
    r = t3d.renderer
    sphere = t3d.utils.ico_sphere(_positive_int(settings, "level"), device)
    verts0, faces = sphere.verts_packed().detach(), sphere.faces_packed()
    R, T = r.look_at_view_transform(CAMERA_DIST, CAMERA_ELEV, CAMERA_AZIM, device=device)
    cameras = r.FoVPerspectiveCameras(R=R, T=T, fov=FOV_DEG, device=device)
    raster = r.RasterizationSettings(image_size=size, blur_radius=BLUR_RADIUS, faces_per_pixel=k)
    renderer = r.MeshRenderer(rasterizer=r.MeshRasterizer(cameras=cameras, raster_settings=raster),
                              shader=r.SoftSilhouetteShader(blend_params=r.BlendParams(sigma=SIGMA, gamma=SIGMA)))

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        verts = verts0.clone().requires_grad_(True)
        alpha = renderer(t3d.structures.Meshes(verts=[verts], faces=[faces]))[..., 3]
        alpha.sum().backward()
        return alpha.detach(), verts.grad

    def check() -> dict[str, float]:
        alpha, grad = run()
        area = float(alpha.sum())
        expected = expected_sphere_disc_area_px(size)
        return {"silhouette_area_px": area, "silhouette_area_rel_err": abs(area - expected) / expected,
                "grad_norm": float(grad.norm())}

    return Workload(run, check, f"soft silhouette {size}x{size}, faces_per_pixel {k}, "
                                f"{faces.shape[0]} faces, forward + backward")


def chamfer(t3d: Any, device: str, settings: dict[str, Any]) -> Workload:
    """Chamfer distance of two (1, P, 3) gaussian clouds, forward + backward to the first."""
    n = _positive_int(settings, "points")
    g = torch.Generator().manual_seed(int(settings.get("seed", 0)))
    x, y = torch.randn(1, n, 3, generator=g).to(device), torch.randn(1, n, 3, generator=g).to(device)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        xr = x.clone().requires_grad_(True)
        loss, _ = t3d.loss.chamfer_distance(xr, y)
        loss.backward()
        return loss.detach(), xr.grad

    def check() -> dict[str, float]:
        loss, grad = run()
        return {"chamfer": float(loss), "grad_norm": float(grad.norm())}

    return Workload(run, check, f"chamfer_distance {n} x {n} points, forward + backward")


def sample_points(t3d: Any, device: str, settings: dict[str, Any]) -> Workload:
    """``sample_points_from_meshes`` of ico_sphere(level): (1, points, 3) samples on the surface."""
    n = _positive_int(settings, "points")
    mesh = t3d.utils.ico_sphere(_positive_int(settings, "level"), device)

    def run() -> torch.Tensor:
        return t3d.ops.sample_points_from_meshes(mesh, num_samples=n)

    def check() -> dict[str, float]:
        # Sampling draws from torch's global generator, which the timed calls advanced by a number of
        # calls that depends on the machine's speed: seed it here so the metric is the same every run.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(settings.get("seed", 0)))
            radius = run().norm(dim=-1)
        return {"sample_mean_radius": float(radius.mean()), "sample_max_radius": float(radius.max())}

    return Workload(run, check, f"sample_points_from_meshes {n} points of a {mesh.faces_packed().shape[0]}-face mesh")


def mesh_fit_step(t3d: Any, device: str, settings: dict[str, Any]) -> Workload:
    """One mesh-fitting iteration with the book's settings: ico_sphere(level) offset by per-vertex deforms,
    ``points`` samples, Chamfer to a fixed cloud of as many points on a sphere of radius 1.2, edge, normal
    consistency and uniform Laplacian losses, forward + backward to the deforms (the optimiser step is
    not part of the backend)."""
    n = _positive_int(settings, "points")
    src = t3d.utils.ico_sphere(_positive_int(settings, "level"), device)
    g = torch.Generator().manual_seed(int(settings.get("seed", 0)))
    target = (1.2 * torch.nn.functional.normalize(torch.randn(1, n, 3, generator=g), dim=-1)).to(device)
    deform0 = 0.01 * torch.randn(src.verts_packed().shape, generator=g).to(device)

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        deform = deform0.clone().requires_grad_(True)
        mesh = src.offset_verts(deform)
        sample = t3d.ops.sample_points_from_meshes(mesh, n)
        loss = (FIT_WEIGHTS["chamfer"] * t3d.loss.chamfer_distance(sample, target)[0]
                + FIT_WEIGHTS["edge"] * t3d.loss.mesh_edge_loss(mesh)
                + FIT_WEIGHTS["normal"] * t3d.loss.mesh_normal_consistency(mesh)
                + FIT_WEIGHTS["laplacian"] * t3d.loss.mesh_laplacian_smoothing(mesh, method="uniform"))
        loss.backward()
        return loss.detach(), deform.grad

    def check() -> dict[str, float]:
        with torch.random.fork_rng(devices=[]):  # the samples: seeded, as in sample_points
            torch.manual_seed(int(settings.get("seed", 0)))
            loss, grad = run()
        return {"fit_loss": float(loss), "fit_grad_norm": float(grad.norm())}

    return Workload(run, check, f"mesh-fitting iteration: ico_sphere {src.faces_packed().shape[0]} faces, {n} samples, "
                                "Chamfer + edge + normal + Laplacian, forward + backward")


def expected_point_disc_weight_sum(radius_px: float) -> float:
    """Sum over pixel centres of 1 - d^2 / r^2 within radius r (pixels) of a point at a pixel centre: the image of
    one isolated point of feature 1 under PyTorch3D's points renderer (alpha 1 - d^2 / r^2, strict d < r)."""
    reach = int(math.ceil(radius_px))
    return sum(1.0 - (dx * dx + dy * dy) / radius_px**2 for dx in range(-reach, reach + 1)
               for dy in range(-reach, reach + 1) if dx * dx + dy * dy < radius_px**2)


def points_render(t3d: Any, device: str, settings: dict[str, Any]) -> Workload:
    """``PointsRenderer`` (``PointsRasterizer`` + ``AlphaCompositor``) of ``clouds`` random clouds seen by an
    orthographic camera, forward + backward to points and features. Output (clouds, S, S, channels)."""
    size, n = _positive_int(settings, "image_size"), _positive_int(settings, "points")
    clouds, k, c = (_positive_int(settings, key) for key in ("clouds", "points_per_pixel", "channels"))
    radius = float(settings["radius_px"]) * 2.0 / size  # NDC units: the image spans [-1, 1]
    r = t3d.renderer
    g = torch.Generator().manual_seed(int(settings.get("seed", 0)))
    xy = torch.rand(clouds, n, 2, generator=g) * 2.0 - 1.0
    pts0 = torch.cat((xy, 1.0 + torch.rand(clouds, n, 1, generator=g)), -1).to(device)  # depth in [1, 2]
    feats0 = torch.rand(clouds, n, c, generator=g).to(device)
    cameras = r.FoVOrthographicCameras(device=device)

    def renderer(points_per_pixel: int):
        raster = r.PointsRasterizationSettings(image_size=size, radius=radius, points_per_pixel=points_per_pixel)
        return r.PointsRenderer(rasterizer=r.PointsRasterizer(cameras=cameras, raster_settings=raster),
                                compositor=r.AlphaCompositor())

    render = renderer(k)

    def run() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pts, feats = pts0.clone().requires_grad_(True), feats0.clone().requires_grad_(True)
        images = render(t3d.structures.Pointclouds(points=list(pts), features=list(feats)))
        images.sum().backward()
        return images.detach(), pts.grad, feats.grad

    def check() -> dict[str, float]:
        images, g_pts, g_feats = run()
        # one point at the centre of pixel (size // 2, size // 2): NDC x = y = 1 - (2 (size // 2) + 1) / size
        centre = 1.0 - (2 * (size // 2) + 1) / size
        one = torch.tensor([[[centre, centre, 1.5]]], device=device)
        disc = renderer(1)(t3d.structures.Pointclouds(points=list(one), features=[torch.ones(1, 1, device=device)]))
        got, expected = float(disc.sum()), expected_point_disc_weight_sum(float(settings["radius_px"]))
        return {"points_image_sum": float(images.sum()), "point_disc_weight_sum": got,
                "point_disc_rel_err": abs(got - expected) / expected,
                "grad_norm": float(torch.cat((g_pts.flatten(), g_feats.flatten())).norm())}

    return Workload(run, check, f"points renderer {size}x{size}, {clouds} clouds x {n} points, radius "
                                f"{settings['radius_px']} px, points_per_pixel {k}, {c} channels, forward + backward")


BUILDERS: dict[str, Callable[[Any, str, dict[str, Any]], Workload]] = {
    "soft_silhouette": soft_silhouette, "chamfer": chamfer, "sample_points": sample_points,
    "mesh_fit_step": mesh_fit_step, "points_render": points_render,
}


def build(t3d: Any, kernel: str, device: str, overrides: dict[str, Any] | None = None) -> Workload:
    """The workload of ``kernel`` (a key of :data:`KERNELS`), its settings updated from ``overrides``."""
    if kernel not in KERNELS:
        from bench.errors import unknown_name

        raise unknown_name("kernel", kernel, KERNELS)
    settings = dict(KERNELS[kernel])
    settings.update({k: v for k, v in (overrides or {}).items() if k in settings and k != "kind"})
    return BUILDERS[settings["kind"]](t3d, device, settings)
