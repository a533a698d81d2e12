"""Comparisons: run vs run statistics, published baselines, history with change points, dashboard, nightly."""

from bench.compare.diff import Comparison, Row, Settings, compare_cases, compare_runs

__all__ = ["Comparison", "Row", "Settings", "compare_cases", "compare_runs"]
