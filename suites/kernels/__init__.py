"""Backend kernel benchmarks as a suite, so their timings and peak memory join the stored history.

One case per kernel: the book's soft silhouette of ico_sphere(4) (128x128, 50 faces per pixel; 256x256,
100 faces per pixel) forward + backward, Chamfer of 10k x 10k points forward + backward, and
``sample_points_from_meshes`` of 10k points, one mesh-fitting iteration of the book's settings
(ico_sphere(4), 5000 samples, the four losses) forward + backward, and SynSin's smoke splatting (the points
renderer with the alpha compositor, 16 clouds x 1600 points at 40x40) forward + backward. Each is timed with
``ctx.timeit`` (warm-up, autorange, raw samples, peak memory) and checked against closed forms (the sphere's
projected disc, points on the sphere, one point's disc of alpha 1 - d^2 / r^2).

Expected time: smoke ~30 s on 2 CPU cores; standard (one GPU) well under a minute, a few hundred MB of
GPU memory at most (all inputs are small; the timed loops dominate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from bench.config import param
from bench.context import Context
from bench.metrics.units import ARBITRARY, LENGTH, SQUARED_LENGTH
from bench.suite import BackendTolerance, Case, MetricSpec, Profile, Suite
from suites.kernels.workloads import KERNELS, build

KERNEL_NAMES = tuple(KERNELS)
SIZE_KEYS = ("image_size", "faces_per_pixel", "level", "points")


@dataclass(frozen=True)
class KernelsConfig:
    """One kernel benchmark; the size fields default (None) to the kernel's own (see workloads.KERNELS)."""

    kernel: Literal[KERNEL_NAMES] = param("chamfer_10k", "the kernel to time")
    warmup: int = param(3, "untimed calls before sampling")
    min_run_time: float = param(3.0, "seconds of samples at least")
    min_samples: int = param(10, "samples at least")
    profile_ops: bool = param(False, "also save a torch.profiler table of the top operators", identity=False)
    image_size: int | None = param(None, "silhouette kernels: image side in pixels (None: the kernel's)")
    faces_per_pixel: int | None = param(None, "silhouette kernels: K fragments per pixel (None: the kernel's)")
    level: int | None = param(None, "ico_sphere level of the mesh (None: the kernel's)")
    points: int | None = param(None, "points per cloud / samples (None: the kernel's)")


class KernelsSuite(Suite):
    name = "kernels"
    description = ("Backend kernels: soft silhouette fwd+bwd (ico_sphere(4), 128/k50 and 256/k100), Chamfer 10k "
                   "fwd+bwd, sample_points_from_meshes 10k, one mesh-fitting iteration (book settings), the points "
                   "renderer at SynSin's smoke size fwd+bwd; timings, peak memory and closed-form checks.")
    Config = KernelsConfig
    grid = {"kernel": list(KERNEL_NAMES)}
    profiles = {
        "smoke": Profile({"warmup": 1, "min_run_time": 0.5, "min_samples": 3},
                         description="CPU, the whole suite in well under a minute: a few samples per kernel"),
        "standard": Profile({"profile_ops": True}, description="one GPU: enough samples for a stable median, "
                                                               "plus the top operators"),
        "full": Profile({"warmup": 5, "min_run_time": 10.0, "min_samples": 30, "profile_ops": True}),
    }
    tiny = {"warmup": 0, "min_run_time": 0.0, "min_samples": 1, "image_size": 32, "faces_per_pixel": 8,
            "level": 2, "points": 500}
    metrics = (
        MetricSpec("silhouette_area_px", "px", None, "sum of the soft silhouette's alpha"),
        MetricSpec("silhouette_area_rel_err", "", False,
                   "|area - projected unit-sphere disc area| / disc area (ico_sphere is inscribed, edges are soft)"),
        MetricSpec("chamfer", SQUARED_LENGTH, None,
                   "Chamfer distance of the two fixed clouds (squared L2, mean, both ways)"),
        MetricSpec("grad_norm", ARBITRARY, None, "L2 norm of the gradient w.r.t. the inputs (cross-backend check)"),
        MetricSpec("sample_mean_radius", LENGTH, None, "mean distance of the samples from the centre (<= 1, near 1)"),
        MetricSpec("sample_max_radius", LENGTH, None, "largest distance of a sample from the centre (<= 1)"),
        MetricSpec("fit_loss", ARBITRARY, None, "the mesh-fitting objective at the fixed start (seeded samples)"),
        MetricSpec("fit_grad_norm", ARBITRARY, None, "L2 norm of its gradient w.r.t. the vertex offsets"),
        MetricSpec("points_image_sum", ARBITRARY, None, "sum of the rendered point-cloud images (cross-backend check)"),
        MetricSpec("point_disc_weight_sum", "px", None,
                   "image sum of one point of feature 1 at a pixel centre: sum of 1 - d^2 / r^2 over covered pixels"),
        MetricSpec("point_disc_rel_err", "", False, "|that sum - its closed form| / closed form"),
    )

    # Same inputs on both backends (docs/backends.md, tests/backends/conformance for the op-level rules).
    _ROUNDING = "same inputs, same formulas: float32 rounding (conformance rule)"
    _SAMPLED = ("random samples: the backends' RNG streams differ; 6 standard deviations of the difference of "
                "two draws, measured over 12 seeds on the built-in backend")
    backend_tolerances = {
        "silhouette_area_px": BackendTolerance(rel=1e-4, why="sum of ~1e4 alphas each within 1e-4 of PyTorch3D's"),
        "silhouette_area_rel_err": BackendTolerance(abs=1e-4, why="the area's tolerance over the disc area"),
        "chamfer": BackendTolerance(rel=1e-5, why=_ROUNDING),
        "grad_norm": BackendTolerance(rel=1e-3, why="soft silhouette gradients within 1e-3 of their largest "
                                                    "(conformance); Chamfer's to 1e-4"),
        "sample_mean_radius": BackendTolerance(abs=2e-5, why=_SAMPLED + " (sd 2.2e-6)"),
        "sample_max_radius": BackendTolerance(abs=6e-5, why=_SAMPLED + " (sd 6.8e-6)"),
        "fit_loss": BackendTolerance(rel=6e-3, why=_SAMPLED + " (relative sd 7e-4)"),
        "fit_grad_norm": BackendTolerance(rel=2.5e-2, why=_SAMPLED + " (relative sd 2.7e-3)"),
        "points_image_sum": BackendTolerance(rel=1e-5, why=_ROUNDING + "; equal at smoke"),
        "point_disc_weight_sum": BackendTolerance(rel=1e-5, why=_ROUNDING + " (1.7e-6 apart at 40x40)"),
        "point_disc_rel_err": BackendTolerance(abs=1e-5, why="the disc sum's tolerance over its closed form"),
    }

    def run(self, case: Case, ctx: Context) -> None:
        c: KernelsConfig = case.config
        sizes = {k: v for k, v in asdict(c).items() if k in SIZE_KEYS and v is not None}
        workload = build(ctx.backend, c.kernel, ctx.device, sizes)
        ctx.log(f"{c.kernel}: {workload.description} on {ctx.device}")
        rec = ctx.timeit("step", workload.step, warmup=c.warmup, min_run_time=c.min_run_time,
                         min_samples=c.min_samples)
        ctx.log(f"median {rec.median * 1e3:.3g} ms over {rec.n} samples (iqr {rec.iqr * 1e3:.3g} ms)")
        for name, value in workload.check().items():
            ctx.metric(name, value)
