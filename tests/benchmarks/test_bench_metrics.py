"""Metric timings: Mesh R-CNN style compare_meshes with 10k samples per mesh, and FID feature throughput.

Run with ``pytest tests/benchmarks/test_bench_metrics.py --benchmark-only``. The KD-tree nearest-neighbour
path (SciPy, the CPU default) is timed beside the chunked brute-force torch path (the CUDA default) in the
same run; the second test of each pair stores ``ratio_vs_kdtree`` (its median over the KD-tree's) in
extra_info. FID feature extraction is measured at 299x299 on CPU and stored as images per second.
"""

from __future__ import annotations

import pytest
import torch
import trimesh

from bench.metrics.generative import InceptionFeatures
from bench.metrics.meshes import compare_meshes
from bench.metrics.nearest import nearest

N_SAMPLES = 10_000
FID_BATCH = 8
_medians: dict[str, float] = {}


@pytest.fixture(scope="module")
def meshes():
    gt = trimesh.creation.icosphere(subdivisions=4)
    pred = trimesh.creation.icosphere(subdivisions=3, radius=1.05)
    pred.apply_translation([0.03, 0.0, 0.0])
    return pred, gt


@pytest.fixture(scope="module")
def clouds():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(N_SAMPLES, 3, generator=g, dtype=torch.float64),
            torch.randn(N_SAMPLES, 3, generator=g, dtype=torch.float64))


def _ratio(benchmark, key: str, base: str) -> None:
    _medians[key] = benchmark.stats.stats.median
    if base in _medians:
        benchmark.extra_info["ratio_vs_kdtree"] = _medians[key] / _medians[base]


@pytest.mark.benchmark(group="nn-chamfer-10k")
@pytest.mark.parametrize("knn", ["kdtree", "torch"])
def test_nearest_both_directions_10k(benchmark, clouds, knn):
    """The nearest-neighbour work of one 10k x 10k Chamfer (both directions)."""
    x, y = clouds
    out = benchmark.pedantic(lambda: (nearest(x, y, knn), nearest(y, x, knn)), rounds=5, iterations=1,
                             warmup_rounds=1)
    assert out[0][0].shape == (N_SAMPLES,)
    _ratio(benchmark, f"nn-{knn}", "nn-kdtree")


@pytest.mark.benchmark(group="compare-meshes-10k")
@pytest.mark.parametrize("knn", ["kdtree", "torch"])
def test_compare_meshes_10k(benchmark, meshes, knn):
    """Sampling 10k points with normals on both meshes, rescaling, Chamfer-L2, normals and five F1s."""
    pred, gt = meshes
    res = benchmark.pedantic(lambda: compare_meshes(pred, gt, num_samples=N_SAMPLES, knn=knn), rounds=5,
                             iterations=1, warmup_rounds=1)
    assert res["Chamfer-L2"].value > 0
    _ratio(benchmark, f"cm-{knn}", "cm-kdtree")


@pytest.mark.benchmark(group="fid-features-299")
def test_fid_feature_throughput_299(benchmark):
    """Images per second through the bundled TF-Inception at 299x299 (no resize), CPU."""
    ext = InceptionFeatures()
    imgs = torch.rand(FID_BATCH, 3, 299, 299, generator=torch.Generator().manual_seed(0))
    feats = benchmark.pedantic(lambda: ext(imgs), rounds=3, iterations=1, warmup_rounds=1)
    assert feats.shape == (FID_BATCH, 2048)
    benchmark.extra_info["images_per_s"] = FID_BATCH / benchmark.stats.stats.median
    benchmark.extra_info["torch_threads"] = torch.get_num_threads()
