"""bench.compare.samples: normalisation onto one machine speed, the fitted speed sensitivity, and pooling
of processes' timings (their use in run-vs-run verdicts is tested in test_stats.py)."""

from __future__ import annotations

import pytest

from bench.compare import samples
from bench.timing import TimingResult


def test_normalised_samples_divide_by_the_calibration_beside_each_sample():
    rec = TimingResult.from_samples([2.0, 4.0, 6.0], calibration_s=2.0,
                                    calibration=[1.0, 2.0, 3.0]).to_record("t")
    assert samples.normalised_samples(rec, 0.5) == pytest.approx([1.0, 1.0, 1.0])
    rec.calibration = None  # only the run's median: one factor for all
    assert samples.normalised_samples(rec, 0.5) == pytest.approx([0.5, 1.0, 1.5])
    rec.calibration_s = None
    assert samples.normalised_samples(rec, 0.5) is None


def test_pool_concatenates_processes_and_recomputes_statistics():
    a = TimingResult.from_samples([1.0, 2.0], calibration_s=1.0, calibration=[1.0, 1.0],
                                  peak_memory_bytes=10).to_record("t")
    b = TimingResult.from_samples([3.0, 4.0, 5.0], calibration_s=2.0, calibration=[2.0, 2.0, 3.0],
                                  peak_memory_bytes=30).to_record("t")
    p = samples.pool([a, b])
    assert p.samples == [1.0, 2.0, 3.0, 4.0, 5.0] and p.calibration == [1.0, 1.0, 2.0, 2.0, 3.0]
    assert (p.n, p.median, p.min, p.processes, p.peak_memory_bytes) == (5, 3.0, 1.0, 2, 30)
    assert p.process_sizes == [2, 3]
    assert samples.pool([p, a]).process_sizes == [2, 3, 2]  # a pooled record keeps its own processes
    assert p.calibration_s == 2.0 and p.iqr == pytest.approx(2.0)
    b.calibration = None  # one process without per-sample calibrations: keep only the medians' median
    p = samples.pool([a, b])
    assert p.calibration is None and p.calibration_s == pytest.approx(1.5)
    with pytest.raises(ValueError, match="differ in name"):
        samples.pool([a, TimingResult.from_samples([1.0]).to_record("other")])
    with pytest.raises(ValueError, match="at least one"):
        samples.pool([])


def test_process_chunks_cut_pooled_values_by_process():
    assert samples.process_chunks([1, 2, 3, 4, 5, 6], [1, 3, 2]) == [[1], [2, 3, 4], [5, 6]]
    with pytest.raises(ValueError, match=r"process sizes \[2, 2\] do not add up to 3 values"):
        samples.process_chunks([1, 2, 3], [2, 2])


def test_sensitivity_fit_needs_per_sample_calibrations_and_weighs_its_evidence():
    flat = TimingResult.from_samples([1.0, 1.1, 0.9, 1.0], calibration=[1e-3] * 4).to_record("t")
    assert samples.sensitivity_fit([flat, flat]) == (1.0, 0.0)  # the machine's speed never moved: the prior
    assert samples.speed_sensitivity([flat]) == 1.0
    medians_only = TimingResult.from_samples([1.0, 1.1, 0.9], calibration_s=1e-3).to_record("t")
    assert samples.sensitivity_fit([flat, medians_only]) is None
    assert samples.speed_sensitivity([medians_only]) is None
