"""scripts/aa_study.py's re-scoring of --repeat runs as plain one-process runs."""

import pytest

from bench.compare.samples import pool
from bench.timing import TimingResult


@pytest.fixture(scope="module")
def aa_study(load_script):
    return load_script("aa_study")


def _rec(samples, cal):
    return TimingResult.from_samples(samples, calibration=cal).to_record("step")


def test_one_process_keeps_only_that_process(aa_study):
    pooled = pool([_rec([1.0, 2.0, 3.0], [0.1, 0.2, 0.3]), _rec([10.0, 30.0], [0.5, 0.7])])
    assert pooled.process_sizes == [3, 2]
    second = aa_study.one_process(pooled, 1)
    assert second.samples == [10.0, 30.0]
    assert second.calibration == [0.5, 0.7]
    assert second.median == 20.0 and second.calibration_s == pytest.approx(0.6)
    assert second.processes == 1 and second.process_sizes is None
    assert aa_study.one_process(pooled, 0).samples == [1.0, 2.0, 3.0]
    with pytest.raises(SystemExit, match="pooled only 2 processes"):
        aa_study.one_process(pooled, 2)


def test_one_process_leaves_single_process_records(aa_study):
    rec = _rec([1.0, 2.0], [0.1, 0.1])
    assert aa_study.one_process(rec, 0) is rec
