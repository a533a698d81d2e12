"""bench.timing: statistics, setup outside the timed callable, automatic repetition, memory, calibration.

What comparisons do with the samples (normalisation, pooling) is tested in tests/compare/test_samples.py."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench import timing


def test_statistics_match_numpy():
    rng = np.random.default_rng(0)
    samples = list(rng.lognormal(-5, 0.3, size=101))
    res = timing.TimingResult.from_samples(samples)
    assert res.n == 101
    assert res.median == pytest.approx(np.median(samples))
    q1, q3 = np.percentile(samples, [25, 75])
    assert res.iqr == pytest.approx(q3 - q1)
    assert res.mean == pytest.approx(np.mean(samples))
    assert res.min == pytest.approx(min(samples))
    rec = res.to_record("x")
    assert rec.samples == samples and rec.n == 101 and rec.median == res.median


def test_noisy_flag_threshold():
    steady = timing.TimingResult.from_samples([1.0, 1.0, 1.02, 1.03, 1.04])
    noisy = timing.TimingResult.from_samples([1.0, 1.0, 1.5, 2.0, 2.0])
    assert not steady.noisy
    assert noisy.noisy  # IQR 1.0 / median 1.5 > 10%


def test_empty_samples_rejected():
    with pytest.raises(ValueError, match="at least one sample"):
        timing.TimingResult.from_samples([])


def test_setup_runs_once_untimed_and_feeds_fn():
    calls = {"setup": 0, "fn": 0}

    def setup():
        calls["setup"] += 1
        time.sleep(0.2)  # would dominate the samples if it were timed
        return 21

    def fn(state):
        calls["fn"] += 1
        return state * 2

    res = timing.measure(fn, setup=setup, min_run_time=0.02, measure_memory=False)
    assert calls["setup"] == 1
    assert calls["fn"] >= res.n * res.inner_loops
    assert res.median < 0.01


def test_repetition_sized_to_block_time():
    res = timing.measure(lambda: None, min_run_time=0.05, block_time=0.005, measure_memory=False)
    # an empty call lasts well under a microsecond: many calls per sample are needed to fill 5 ms
    assert res.inner_loops > 100
    assert res.n >= 5


def test_sleep_is_never_under_measured():
    res = timing.measure(lambda: time.sleep(0.004), min_run_time=0.05, min_samples=5, measure_memory=False)
    assert res.min >= 0.004  # sleep never returns early; the timer must not lose time
    assert res.inner_loops >= 1


def test_peak_memory_sees_a_large_allocation():
    size = 200 * 2**20

    def alloc():
        a = np.ones(size, dtype=np.uint8)
        return int(a[::4096].sum())

    res = timing.measure(alloc, min_run_time=0.01, min_samples=1, warmup=1)
    assert res.memory_kind in ("rss_anon_peak", "rss_delta")  # rss_delta where malloc_trim/clear_refs are missing
    assert res.peak_memory_bytes >= 0.9 * size


def test_step_timer_records_each_step():
    t = timing.StepTimer("cpu")
    for _ in range(3):
        with t.step():
            time.sleep(0.002)
    assert len(t.samples) == 3 and min(t.samples) >= 0.002
    res = t.result(peak_memory_bytes=5)
    assert res.n == 3 and res.peak_memory_bytes == 5
    # one reference-kernel call after each step, outside it: the loop's samples are calibrated too
    assert len(res.calibration) == 3 and res.calibration_s == pytest.approx(float(np.median(res.calibration)))
    assert 1e-6 < res.calibration_s < 0.1
    off = timing.StepTimer("cpu", calibration=False)
    with off.step():
        pass
    assert off.result().calibration is None and off.result().calibration_s is None
    assert timing.StepTimer("cuda").calibration is None  # GPU steps: no CPU calibration


def test_profile_table_lists_operators():
    import torch

    a = torch.randn(64, 64)
    table = timing.profile_table(lambda: a @ a, top_k=5)
    assert "aten::mm" in table or "aten::matmul" in table


def test_calibration_is_recorded_and_positive():
    res = timing.measure(lambda: sum(range(100)), min_run_time=0.01, measure_memory=False)
    assert res.calibration_s is not None and 1e-5 < res.calibration_s < 1.0
    assert res.to_record("x").calibration_s == res.calibration_s
    off = timing.measure(lambda: None, min_run_time=0.01, measure_memory=False, calibration=False)
    assert off.calibration_s is None


def test_every_sample_has_its_calibration():
    res = timing.measure(lambda: sum(range(2000)), min_run_time=0.1, measure_memory=False)
    assert res.calibration is not None and len(res.calibration) == res.n
    assert all(c > 0 for c in res.calibration)
    assert res.calibration_s == pytest.approx(float(np.median(res.calibration)))
    rec = res.to_record("x")
    assert rec.calibration == res.calibration and rec.processes == 1
    assert timing.measure(lambda: None, min_run_time=0.01, measure_memory=False, calibration=False).calibration is None
