"""A realistic, deterministic demonstration run (records + artifact files).

Used by the store and report tests, and by ``scripts/screenshot_report.py`` to show a report
without running any suite. It holds what real runs produce: per-item metrics, timing samples,
a loss curve, a rendered image, a failed case with its reason and log, a skipped case.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from bench.results import ArtifactRecord, CaseResult, MetricRecord, RunRecord, RunSettings, TimingRecord

CHAMFER_FP = {"impl": "bench.metrics.chamfer", "version": 1, "squared": True, "reduction": "mean", "points": 10000}


def sample_run(run_id: str = "20240501T120000-ab12cd", created_at: str = "2024-05-01T12:00:00+00:00",
               git_commit: str = "0123456789abcdef0123456789abcdef01234567") -> RunRecord:
    """A smoke-profile CPU run record with an environment."""
    return RunRecord(
        run_id=run_id, created_at=created_at, profile="smoke", device="cpu", seed=0, backend="torch",
        argv=["bench3d", "run", "--profile", "smoke"], suites=["mesh_fitting", "nerf"], git_commit=git_commit,
        git_dirty=False, machine="ci-runner-1",
        environment={"python": "3.11.9", "torch": "2.13.0", "bench3d": "0.1.0", "pytorch3d": None,
                     "cuda": None, "gpu": None, "cpu": "AMD EPYC 7B13", "cores": 2, "ram_gb": 7.8,
                     "os": "Linux-6.1-x86_64", "git": {"commit": git_commit, "dirty": False}},
        settings=RunSettings(profile="smoke", device="cpu", seed=0, backend="torch"),
    )


def _timing(name: str, samples: np.ndarray, *, method: str, peak: int | None = None) -> TimingRecord:
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return TimingRecord(name=name, samples=[float(s) for s in samples], median=float(med), iqr=float(q3 - q1),
                        mean=float(samples.mean()), min=float(samples.min()), n=len(samples),
                        noisy=bool((q3 - q1) / med > 0.1), method=method, peak_memory_bytes=peak,
                        memory_kind=None if peak is None else "rss_delta")


def _artifact(root: Path, rel: str, name: str, kind: str, data: bytes) -> ArtifactRecord:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return ArtifactRecord(name=name, kind=kind, path=rel, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))


def _sphere_png(size: int = 96) -> bytes:
    """A Lambert-shaded sphere, so the inlined image is recognisable."""
    import io

    from PIL import Image

    yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    rr = xx**2 + yy**2
    z = np.sqrt(np.clip(1 - rr, 0, None))
    shade = np.clip(0.3 * -xx + 0.5 * -yy + 0.8 * z, 0, 1) * (rr <= 1)
    rgb = np.stack([shade * 0.9, shade * 0.6, shade * 0.3], -1)
    buf = io.BytesIO()
    Image.fromarray((rgb * 255 + 0.5).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _fit_case(root: Path, target: str, variant: str, rng: np.random.Generator, chamfer: float,
              normal: float) -> CaseResult:
    name = f"{target}-{variant}"
    folder = f"artifacts/mesh_fitting/{name}"
    iters = np.arange(0, 200, 5)
    loss = chamfer + 0.5 * np.exp(-iters / 30.0)
    curve = {"x": iters.astype(float).tolist(), "x_label": "iteration", "y_label": "loss",
             "series": {"total": loss.tolist(), "chamfer": (loss * 0.8).tolist()}}
    seeds = chamfer * (1 + 0.05 * rng.standard_normal(4))
    return CaseResult(
        suite="mesh_fitting", case=name, params={"target": target, "losses": variant, "iterations": 200},
        status="ok", log_tail=f"iter 199 loss {loss[-1]:.5f}\n", started_at="2024-05-01T12:00:01+00:00",
        finished_at="2024-05-01T12:00:09+00:00", duration_s=8.2, seed=0, device="cpu", backend="torch3d-builtin",
        datasets={target: "procedural-1"},
        metrics=[
            MetricRecord("chamfer_l2", float(seeds.mean()), "", False, seeds.tolist(),
                         [f"seed{i}" for i in range(4)], dict(CHAMFER_FP)),
            MetricRecord("normal_consistency", normal, "", True, fingerprint={"impl": "bench.metrics.normals"}),
            MetricRecord("f1@0.1", round(0.9 - 1000 * chamfer, 4), "", True,
                         fingerprint={"threshold": 0.1, "scale": "longest-edge-10"}),
            MetricRecord("time_per_iter", 0.011, "s", False, process_values=[0.011, 0.0118, 0.0105]),
        ],
        timings=[_timing("step", 0.011 + 0.001 * rng.standard_gamma(2.0, 40), method="loop"),
                 _timing("chamfer_10k", 0.0042 + 0.0002 * rng.standard_normal(25), method="perf_counter",
                         peak=48 * 2**20)],
        artifacts=[_artifact(root, f"{folder}/loss.json", "loss_curve", "curve", json.dumps(curve).encode()),
                   _artifact(root, f"{folder}/render.png", "render", "image", _sphere_png())],
    )


def sample_cases(artifact_root: Path) -> list[CaseResult]:
    """Cases of :func:`sample_run`; writes their artifact files under ``artifact_root``."""
    rng = np.random.default_rng(0)
    root = Path(artifact_root)
    cases = [_fit_case(root, "torus", "full", rng, 2.1e-4, 0.93),
             _fit_case(root, "torus", "chamfer", rng, 2.6e-4, 0.71),
             _fit_case(root, "ellipsoid", "full", rng, 1.4e-4, 0.95)]
    cases.append(CaseResult(
        suite="mesh_fitting", case="ellipsoid-chamfer", params={"target": "ellipsoid", "losses": "chamfer"},
        status="nan", error="metric chamfer_l2 is NaN (loss diverged at iteration 57)",
        log_tail="iter 55 loss 3.1e+02\niter 56 loss 8.8e+07\niter 57 loss nan\n", duration_s=1.3, seed=0,
        device="cpu", metrics=[MetricRecord("chamfer_l2", math.nan, "", False, fingerprint=dict(CHAMFER_FP))]))
    cases.append(CaseResult(
        suite="nerf", case="lego-small", params={"scene": "lego", "rays": 1024}, status="skipped",
        error="dataset 'nerf_synthetic' is not installed; see docs/datasets.md", duration_s=0.1))
    cases.append(CaseResult(
        suite="nerf", case="fern-small", params={"scene": "fern"}, status="timeout",
        error="case exceeded the per-case timeout of 60 s", log_tail="step 10/200\nstep 11/200\n",
        duration_s=60.0, seed=0, device="cpu"))
    return cases
