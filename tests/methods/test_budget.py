"""The pre-flight memory check: the estimate, the refusal and its message."""

import pytest

from bench.methods.budget import available_bytes, check_fits


def test_estimate_and_refusal():
    assert check_fits("batch_size", 1000, 400, "cpu", available=10**6) == 400_000
    with pytest.raises(ValueError, match=r"batch_size x n_pts: one iteration needs about 3\.7 GiB .*1\.0 GiB free"):
        check_fits("batch_size x n_pts", 10_000_000, 400, "cpu", available=2**30)


def test_host_memory_is_known_on_linux():
    free = available_bytes("cpu")
    assert free is None or free > 0
