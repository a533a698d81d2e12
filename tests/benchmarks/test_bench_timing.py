"""bench.timing.measure against torch.utils.benchmark.Timer.blocked_autorange, side by side in one run.

Run with ``pytest tests/benchmarks/test_bench_timing.py --benchmark-only``; the table so far is printed
after each workload. On the same workloads (a matmul, a conv2d, a Chamfer of
10k x 10k points forward + backward through the backend) the two timers run alternately, ROUNDS times each,
so drift and contention hit both alike; the ratio of their medians should be within 5% of 1. bench.timing's
own overhead per sample (timing an empty callable) is stated beside. Figures go to ``benchmark.extra_info``.
Calls per sample matter for ms-scale work (a lone call pays cold-cache costs that back-to-back calls do not):
measure blocks >= 20 ms, blocked_autorange >= ~1 ms, so measure is also run with Timer's calls per block.
Torch's Timer runs with one thread unless told: it is given torch's current thread count, as measure uses.
"""

from __future__ import annotations

import statistics

import pytest
import torch
import torch.nn.functional as F
from torch.utils.benchmark import Timer

from bench import backends, timing
from suites.kernels.workloads import build

ROUNDS = 3
TOLERANCE = 0.05


def _matmul():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(512, 512, generator=g), torch.randn(512, 512, generator=g)
    return lambda: a @ b


def _conv2d():
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(8, 32, 64, 64, generator=g), torch.randn(64, 32, 3, 3, generator=g)
    return lambda: F.conv2d(x, w, padding=1)


def _chamfer_10k():
    return build(backends.load("torch"), "chamfer_10k", "cpu").step


WORKLOADS = {  # name -> (builder, min_run_time per round in seconds)
    "matmul_512": (_matmul, 1.0),
    "conv2d_8x32x64x64_k3": (_conv2d, 1.0),
    "chamfer_10k_fwd_bwd": (_chamfer_10k, 3.0),
}


HEADER = (f"{'workload':<24}{'measure median':>16}{'Timer median':>16}{'ratio':>9}{'within 5%':>11}"
          f"{'calls/sample':>14}{'ratio, same calls':>19}{'overhead':>11}")


def _row(r: dict) -> str:
    return (f"{r['workload']:<24}{r['measure_median_s'] * 1e3:>13.4g} ms{r['timer_median_s'] * 1e3:>13.4g} ms"
            f"{r['ratio']:>9.4f}{'yes' if r['within_tolerance'] else 'NO':>11}"
            f"{max(r['measure_calls_per_sample']):>7} / {max(r['timer_calls_per_block']):<4}"
            f"{r['ratio_same_block']:>19.4f}{r['overhead_per_sample_ns']:>8.0f} ns")


@pytest.fixture(scope="module")
def table() -> list[dict]:
    """Rows of the workloads measured so far in this module (the table grows as the tests run)."""
    return []


def _compare(fn, min_run_time: float) -> dict:
    threads = torch.get_num_threads()
    ours, theirs, same, loops, numbers = [], [], [], [], []
    for _ in range(ROUNDS):  # alternate, so both see the same machine state
        res = timing.measure(fn, min_run_time=min_run_time, warmup=2)
        m = Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads).blocked_autorange(min_run_time=min_run_time)
        # measure again with as many calls per sample as Timer chose: separates the harness from the block size
        res_same = timing.measure(fn, min_run_time=min_run_time, warmup=1,
                                  block_time=max(0.0, (m.number_per_run - 0.5) * m.median), measure_memory=False)
        ours.append(res.median), theirs.append(m.median), same.append(res_same.median)
        loops.append(res.inner_loops), numbers.append(m.number_per_run)
    ours_med, theirs_med, same_med = (statistics.median(v) for v in (ours, theirs, same))
    ratio = ours_med / theirs_med
    return {"measure_median_s": ours_med, "timer_median_s": theirs_med, "ratio": ratio,
            "within_tolerance": abs(ratio - 1) <= TOLERANCE, "measure_same_block_median_s": same_med,
            "ratio_same_block": same_med / theirs_med, "measure_calls_per_sample": loops,
            "timer_calls_per_block": numbers, "measure_rounds_s": ours, "timer_rounds_s": theirs,
            "torch_threads": threads}


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_measure_agrees_with_torch_timer(benchmark, table, workload, capsys):
    builder, min_run_time = WORKLOADS[workload]
    fn = builder()
    figures = benchmark.pedantic(_compare, args=(fn, min_run_time), rounds=1, iterations=1)
    overhead = timing.overhead_per_sample()
    figures.update(workload=workload, overhead_per_sample_ns=overhead * 1e9)
    benchmark.extra_info.update(figures)
    table.append(figures)
    with capsys.disabled():  # the table so far, shown even without -s
        print(f"\n\nbench.timing vs torch.utils.benchmark.Timer.blocked_autorange "
              f"(torch threads: {figures['torch_threads']}; overhead = bench.timing per call of an empty callable)")
        print("\n".join([HEADER, *map(_row, table)]))
    # Sanity of the figures, not a timing assert: both timers measured the same work.
    assert figures["measure_median_s"] > 0 and figures["timer_median_s"] > 0
    assert overhead < figures["measure_median_s"]
