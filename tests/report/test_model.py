"""Formatting and spread of the report rows, against hand-checked values and numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.report.model import build, direction, fmt_bytes, fmt_seconds, fmt_value, log_tail, metric_row
from bench.results import CaseResult, MetricRecord
from bench.store.sample import sample_run


@pytest.mark.parametrize(("x", "text"), [(2.5, "2.5 s"), (0.0042, "4.2 ms"), (1.5e-5, "15 µs"), (3e-8, "30 ns"),
                                         (0.0, "0 s"), (None, "—"), (math.nan, "NaN"), (math.inf, "inf")])
def test_fmt_seconds(x, text):
    assert fmt_seconds(x) == text


@pytest.mark.parametrize(("n", "text"), [(512, "512 B"), (48 * 2**20, "48 MiB"), (1536, "1.5 KiB"),
                                         (3 * 2**30, "3 GiB"), (None, "—")])
def test_fmt_bytes(n, text):
    assert fmt_bytes(n) == text


def test_fmt_value_and_direction():
    assert [fmt_value(v) for v in (0.000211939, 12345678.0, -math.inf, None)] == ["0.0002119", "1.235e+07", "-inf",
                                                                                    "—"]
    assert (direction(True), direction(False), direction(None)) == ("↑", "↓", "")


def test_spread_ignores_non_finite_items():
    items = [1.0, 2.0, math.nan, 4.0, math.inf]
    row = metric_row("c", MetricRecord("psnr", 2.33, "dB", True, items))
    assert row.spread == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert row.n == 5 and row.direction == "↑"
    assert metric_row("c", MetricRecord("x", 1.0, items=[3.0])).spread is None


def test_build_groups_by_suite_in_run_order():
    run = sample_run()
    run.suites = ["b", "a"]
    cases = [CaseResult("a", "1"), CaseResult("b", "2", status="error", error="boom"), CaseResult("c", "3",
                                                                                                    status="skipped")]
    view = build(run, cases)
    assert [s.name for s in view.suites] == ["b", "a", "c"]
    assert [c.case for c in view.suites[0].failures] == ["2"] and [c.case for c in view.suites[2].skipped] == ["3"]
    assert view.counts == {"ok": 1, "error": 1, "skipped": 1}


def test_log_tail_keeps_last_nonempty_lines():
    assert log_tail("a\n\nb\nc\n\n", lines=2) == "b\nc"
