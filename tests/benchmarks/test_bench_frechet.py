"""FID from 2048-d features: torchmetrics' FrechetInceptionDistance (the implementation before the exact trace
term: sums of features, then the eigenvalues of the non-symmetric S1 S2) against bench.metrics.FID (low-rank
n x n when a set has fewer images than dimensions, symmetric eigh otherwise), in the same run.

Run with ``pytest tests/benchmarks/test_bench_frechet.py --benchmark-only``; the second test of each group stores
``speedup_vs_torchmetrics`` in extra_info. Timed: update with both sets' features + compute.
"""

from __future__ import annotations

import pytest
import torch

from bench.metrics.generative import FID, _Identity

DIM = 2048
_medians: dict[str, float] = {}


def _features(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(n)
    mix = torch.randn(DIM, DIM, generator=g, dtype=torch.float64) / DIM ** 0.5
    a = torch.randn(n, DIM, generator=g, dtype=torch.float64) @ mix
    b = torch.randn(n, DIM, generator=g, dtype=torch.float64) @ mix * 0.9 + 0.1
    return a, b


def _torchmetrics(a: torch.Tensor, b: torch.Tensor) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    m = FrechetInceptionDistance(feature=_Identity(DIM), reset_real_features=True).double()
    m.update(a, real=True)
    m.update(b, real=False)
    return float(m.compute())


def _exact(a: torch.Tensor, b: torch.Tensor) -> float:
    m = FID(use_extractor=False, num_features=DIM)
    m.update_features(a, real=True)
    m.update_features(b, real=False)
    return m.compute().value


_values: dict[str, float] = {}


@pytest.mark.benchmark(group="fid-2048")
@pytest.mark.parametrize("impl,n", [("torchmetrics", 500), ("exact", 500), ("torchmetrics", 4096), ("exact", 4096)])
def test_fid_2048(benchmark, impl, n):
    """FID of two sets of n 2048-d features (500: the low-rank path; 4096: the eigh path)."""
    a, b = _features(n)
    fn = _torchmetrics if impl == "torchmetrics" else _exact
    value = benchmark.pedantic(lambda: fn(a, b), rounds=2, iterations=1, warmup_rounds=0)
    _medians[f"{impl}-{n}"], _values[f"{impl}-{n}"] = benchmark.stats.stats.median, value
    if impl == "exact" and f"torchmetrics-{n}" in _values:
        assert value == pytest.approx(_values[f"torchmetrics-{n}"], rel=1e-4)  # torchmetrics' eigvals: ~1e-6
        benchmark.extra_info["speedup_vs_torchmetrics"] = _medians[f"torchmetrics-{n}"] / _medians[f"exact-{n}"]
