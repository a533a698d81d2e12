"""Geometry op timings: Chamfer 10k x 10k forward + backward, and 10k-point surface sampling.

Run with ``pytest tests/benchmarks/test_bench_geometry.py --benchmark-only``. The naive
(unchunked, full distance matrix) Chamfer is timed beside the backend's so their ratio is measured
in one run.
"""

from __future__ import annotations

import pytest
import torch

from bench.backends.torch3d.loss import chamfer_distance
from bench.backends.torch3d.ops import sample_points_from_meshes
from bench.backends.torch3d.utils import ico_sphere

N_POINTS = 10_000


@pytest.fixture(scope="module")
def clouds():
    g = torch.Generator().manual_seed(0)
    return torch.randn(1, N_POINTS, 3, generator=g), torch.randn(1, N_POINTS, 3, generator=g)


def _naive_chamfer(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    d = torch.cdist(x, y) ** 2  # the whole (P1, P2) matrix at once
    return d.min(2).values.mean() + d.min(1).values.mean()


@pytest.mark.benchmark(group="chamfer-10k")
def test_chamfer_10k_forward_backward(benchmark, clouds):
    x, y = clouds

    def step():
        xr = x.clone().requires_grad_(True)
        loss, _ = chamfer_distance(xr, y)
        loss.backward()
        return loss

    loss = benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    assert torch.isfinite(loss)


@pytest.mark.benchmark(group="chamfer-10k")
def test_chamfer_10k_naive_full_matrix(benchmark, clouds):
    x, y = clouds

    def step():
        xr = x.clone().requires_grad_(True)
        loss = _naive_chamfer(xr, y)
        loss.backward()
        return loss

    loss = benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    ours, _ = chamfer_distance(x, y)
    assert float(loss) == pytest.approx(float(ours), rel=1e-3)


@pytest.mark.benchmark(group="sample-points")
def test_sample_points_10k(benchmark):
    mesh = ico_sphere(4)
    pts = benchmark(sample_points_from_meshes, mesh, N_POINTS)
    assert pts.shape == (1, N_POINTS, 3)
