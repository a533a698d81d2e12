"""Scoring of SMPLify fits with ``bench.metrics`` (mm, px, %), the success rate over random starts, overlays
rendered with the backend's MeshRenderer."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.context import Context
from bench.methods.body_model import axis_angle_to_matrix
from suites.smplify.fit import BASE_WEIGHTS, Fit

MM = 1000.0


def with_root(kp: torch.Tensor) -> torch.Tensor:
    """(N, 15, 3): the 14 LSP keypoints and the mid-hip point (the root of MPJPE's protocol-1 centring)."""
    return torch.cat([kp, kp[:, [2, 3]].mean(1, keepdim=True)], 1)


def orientation_error_deg(pred: torch.Tensor, gt: torch.Tensor) -> list[float]:
    """Geodesic angle (degrees) between global orientations (N, 3) axis-angle, camera frame."""
    rel = axis_angle_to_matrix(pred.double()).transpose(1, 2) @ axis_angle_to_matrix(gt.double())
    cos = ((rel.diagonal(dim1=1, dim2=2).sum(1) - 1) / 2).clamp(-1, 1)
    return torch.rad2deg(torch.arccos(cos)).tolist()


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval of a binomial proportion (scipy), fractions in [0, 1]."""
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def report_fits(ctx: Context, pred: dict[str, torch.Tensor], init_kp: torch.Tensor, data: dict[str, Any],
                fits: list[Fit], noflip_kp: torch.Tensor, pck_mm: float) -> None:
    """Every per-image metric of the reference fits. pred: keypoints (N, 14, 3), vertices (N, V, 3),
    keypoints2d (N, 14, 2), global_orient (N, 3) in the camera frame (metres, pixels)."""
    from bench.metrics import mpjpe, pa_mpjpe, pck, reprojection_error_px
    from bench.metrics.body import similarity_align

    ids = [f"image{i:03d}" for i in range(len(fits))]
    gt = data["keypoints3d"].double() * MM
    kp = pred["keypoints"].double() * MM
    ctx.metric("pa_mpjpe", pa_mpjpe(kp, gt, unit="mm"))
    ctx.metric("pa_mpjpe_init", pa_mpjpe(init_kp.double() * MM, gt, unit="mm"))
    ctx.metric("pa_mpjpe_without_flip", pa_mpjpe(noflip_kp.double() * MM, gt, unit="mm"))
    ctx.metric("mpjpe", mpjpe(with_root(kp), with_root(gt), root=14, unit="mm"))
    if pred["vertices"].shape[1] == data["vertices"].shape[1]:
        ctx.metric("vertex_error", pa_mpjpe(pred["vertices"].double() * MM, data["vertices"].double() * MM,
                                                  unit="mm"))
    else:
        ctx.log(f"vertex_error: not reported, the fitted model has {pred['vertices'].shape[1]} vertices and the "
                f"targets {data['vertices'].shape[1]} (a different body)")
    vis = data["visible"].double() * torch.tensor(BASE_WEIGHTS, dtype=torch.float64)
    ctx.metric("reprojection_error", reprojection_error_px(pred["keypoints2d"].double(),
                                                           data["keypoints2d"].double(), visibility=vis))
    ctx.metric("pck3d", pck(similarity_align(kp, gt), gt, pck_mm))
    orient = orientation_error_deg(pred["global_orient"], data["global_orient"])
    ctx.metric("orientation_error_deg", float(np.mean(orient)), items=orient, item_ids=ids)
    report_timing(ctx, fits, ids)


def report_timing(ctx: Context, fits: list[Fit], ids: list[str]) -> None:
    """Flip counts, fit seconds and iterations per image."""
    ctx.metric("flip_tried", float(sum(f.flip_tried for f in fits)), items=[float(f.flip_tried) for f in fits],
               item_ids=ids)
    ctx.metric("flip_chosen", float(sum(f.flip_chosen for f in fits)), items=[float(f.flip_chosen) for f in fits],
               item_ids=ids)
    secs = [f.seconds for f in fits]
    ctx.metric("fit_seconds", float(np.mean(secs)), items=secs, item_ids=ids)
    its = [float(f.iterations) for f in fits]
    ctx.metric("fit_iterations", float(np.mean(its)), items=its, item_ids=ids)


def report_starts(ctx: Context, errors_mm: list[float], success_mm: float, image_of: list[int]) -> None:
    """Success rate (PA-MPJPE < success_mm) over the random starts, its Wilson interval, the median error."""
    ok = [e < success_mm for e in errors_mm]
    ids = [f"start{k:02d}-image{i:03d}" for k, i in enumerate(image_of)]
    fp = {"success_mm": success_mm, "n": len(ok), "start": "pose drawn from the pose prior"}
    ctx.metric("success_rate", 100.0 * sum(ok) / len(ok), items=[100.0 * o for o in ok], item_ids=ids,
               fingerprint=fp)
    low, high = wilson_interval(sum(ok), len(ok))
    ctx.metric("success_rate_low", 100.0 * low, fingerprint={**fp, "interval": "wilson 95%"})
    ctx.metric("success_rate_high", 100.0 * high, fingerprint={**fp, "interval": "wilson 95%"})
    ctx.metric("start_pa_mpjpe", float(np.median(errors_mm)), items=errors_mm, item_ids=ids,
               fingerprint={**fp, "aggregate": "median"})
    ctx.log(f"random starts: {sum(ok)}/{len(ok)} below {success_mm:g} mm PA-MPJPE "
            f"({', '.join(f'{e:.0f}' for e in errors_mm)})")


def opencv_camera(t3d: Any, focal: float, centre: torch.Tensor, size: tuple[int, int]) -> Any:
    """The fit's pinhole (camera at the origin, x right, y down, u = f x / z + cx) as the backend's
    PerspectiveCameras in NDC: the conversion of PyTorch3D's ``cameras_from_opencv_projection`` with R = I,
    t = 0 (x and y flipped into PyTorch3D's +X left, +Y up; focal and principal point scaled by the shorter
    side). size: (H, W)."""
    h, w = size
    s = float(min(h, w))
    wh = torch.tensor([w, h], dtype=torch.float32)
    pp = -(centre.float() - wh / 2.0) * 2.0 / s
    R = torch.diag(torch.tensor([-1.0, -1.0, 1.0]))[None]
    return t3d.renderer.PerspectiveCameras(focal_length=((2.0 * focal / s, 2.0 * focal / s),),
                                           principal_point=(tuple(pp.tolist()),), R=R, T=torch.zeros(1, 3))


def overlay(t3d: Any, vertices: torch.Tensor, faces: torch.Tensor, focal: float, centre: torch.Tensor,
            size: tuple[int, int], observed: torch.Tensor, fitted: torch.Tensor) -> np.ndarray:
    """(H, W, 3) uint8: the mesh (V, 3) rendered by the backend's MeshRenderer (hard Phong, grey, light at the
    camera, white background) with the observed keypoints (14, 2) in green and the fitted ones in red."""
    from PIL import Image, ImageDraw

    r = t3d.renderer
    v = vertices.detach().float()
    mesh = t3d.structures.Meshes(verts=[v], faces=[faces.long()],
                                 textures=r.TexturesVertex(verts_features=torch.full_like(v, 0.75)[None]))
    cams = opencv_camera(t3d, focal, centre, size)
    settings = r.RasterizationSettings(image_size=tuple(int(x) for x in size), blur_radius=0.0, faces_per_pixel=1)
    renderer = r.MeshRenderer(rasterizer=r.MeshRasterizer(cameras=cams, raster_settings=settings),
                              shader=r.HardPhongShader(cameras=cams, lights=r.PointLights(location=((0.0, 0.0, 0.0),))))
    with torch.no_grad():
        rgb = renderer(mesh)[0, ..., :3].clamp(0, 1)
    img = Image.fromarray((rgb.numpy() * 255).round().astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for pts, colour in ((observed, (0, 160, 0)), (fitted, (220, 0, 0))):
        for x, y in pts.tolist():
            draw.ellipse([x - 2.5, y - 2.5, x + 2.5, y + 2.5], outline=colour, width=2)
    return np.asarray(img)
