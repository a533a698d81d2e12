"""Backend kernel benchmarks as a suite, so their timings and peak memory join the stored history.

One case per kernel: the book's soft silhouette of ico_sphere(4) (128x128, 50 faces per pixel; 256x256,
100 faces per pixel) forward + backward, Chamfer of 10k x 10k points forward + backward, and
``sample_points_from_meshes`` of 10k points. Each is timed with ``ctx.timeit`` (warm-up, autorange, raw
samples, peak memory) and checked against closed forms (the sphere's projected disc, points on the sphere).

Expected time: smoke ~30 s on 2 CPU cores; standard (one GPU) well under a minute, a few hundred MB of
GPU memory at most (all inputs are small; the timed loops dominate).
"""

from __future__ import annotations

from typing import Any

from bench import timing
from bench.context import Context
from bench.suite import Case, MetricSpec, Suite
from suites.kernels.workloads import KERNELS, build

TIMING_KEYS = ("warmup", "min_run_time", "min_samples", "max_samples")


class KernelsSuite(Suite):
    name = "kernels"
    description = ("Backend kernels: soft silhouette fwd+bwd (ico_sphere(4), 128/k50 and 256/k100), Chamfer 10k "
                   "fwd+bwd, sample_points_from_meshes 10k; timings, peak memory and closed-form checks.")
    grid = {"kernel": list(KERNELS)}
    profiles = {
        # CPU, the whole suite in well under a minute: a few samples per kernel.
        "smoke": {"warmup": 1, "min_run_time": 0.5, "min_samples": 3, "profile_ops": False},
        # One GPU: enough samples for a stable median; profile_ops makes ctx.timeit save the top operators.
        "standard": {"warmup": 3, "min_run_time": 3.0, "min_samples": 10, "profile_ops": True},
        "full": {"warmup": 5, "min_run_time": 10.0, "min_samples": 30, "profile_ops": True},
    }
    datasets = ()
    test_params = {"warmup": 0, "min_run_time": 0.0, "min_samples": 1, "image_size": 32, "faces_per_pixel": 8,
                   "level": 2, "points": 500}
    metrics = (
        MetricSpec("peak_memory_mb", "MiB", False, "peak memory of one step (CUDA max allocated, or CPU RSS growth)"),
        MetricSpec("silhouette_area_px", "px", None, "sum of the soft silhouette's alpha"),
        MetricSpec("silhouette_area_rel_err", "", False,
                   "|area - projected unit-sphere disc area| / disc area (ico_sphere is inscribed, edges are soft)"),
        MetricSpec("chamfer", "", None, "Chamfer distance of the two fixed clouds (squared L2, mean, both ways)"),
        MetricSpec("grad_norm", "", None, "L2 norm of the gradient w.r.t. the inputs (cross-backend check)"),
        MetricSpec("sample_mean_radius", "", None, "mean distance of the samples from the centre (<= 1, near 1)"),
        MetricSpec("sample_max_radius", "", None, "largest distance of a sample from the centre (<= 1)"),
    )

    def run(self, case: Case, ctx: Context) -> None:
        p: dict[str, Any] = dict(case.params)
        workload = build(ctx.backend, p["kernel"], ctx.device, p)
        ctx.log(f"{p['kernel']}: {workload.description} on {ctx.device} ({timing.cpu_threads()} CPU threads)")
        rec = ctx.timeit("step", workload.step, **{k: p[k] for k in TIMING_KEYS if k in p})
        ctx.log(f"median {rec.median * 1e3:.3g} ms over {rec.n} samples (iqr {rec.iqr * 1e3:.3g} ms)")
        if rec.peak_memory_bytes is not None:
            ctx.metric("peak_memory_mb", rec.peak_memory_bytes / 2**20, fingerprint={"kind": rec.memory_kind})
        for name, value in workload.check().items():
            ctx.metric(name, value)
