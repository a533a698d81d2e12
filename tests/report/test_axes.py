"""Log-axis ticks: 1-2-5 steps inside the data's range, labels that read as numbers (no lone digits)."""

from __future__ import annotations

from bench.report.axes import log_or_linear, log_ticks


def test_ticks_are_1_2_5_inside_the_range_with_plain_labels():
    t = log_ticks([80.0, 5000.0, float("nan"), -1.0])
    assert t["tickvals"] == [100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0]
    assert t["ticktext"] == ["100", "200", "500", "1,000", "2,000", "5,000"]


def test_a_narrow_range_gets_every_digit_or_its_ends():
    t = log_ticks([1.5, 4.5])
    assert t["tickvals"] == [2.0, 3.0, 4.0] and t["ticktext"] == ["2", "3", "4"]
    assert log_ticks([0.0012, 0.0019])["ticktext"] == ["0.0012", "0.0019"]  # no step of 1..9 inside: the ends
    assert log_ticks([]) == {} and log_ticks([0.0, -2.0]) == {}


def test_log_only_for_positive_values_spanning_decades():
    assert log_or_linear([1.0, 1000.0])["type"] == "log"
    assert log_or_linear([1.0, 50.0]) == {"type": "linear"} and log_or_linear([-1.0, 1000.0]) == {"type": "linear"}
